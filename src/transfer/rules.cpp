#include "transfer/rules.h"

namespace mue {

const std::vector<RuleInfo>& all_rules() {
  static const std::vector<RuleInfo> rules = {
      {"muP.input", "§4",
       "embedding: init σ, lr η, wd λ at every width (fan-in is the vocabulary)"},
      {"muP.hidden.init", "§4", "2-D hidden weights: init std × ρ_d^(-1/2)"},
      {"muP.hidden.lr", "§4", "2-D hidden weights: Adam lr × 1/ρ_d"},
      {"muP.hidden.fan_in", "§11.1 / §11.2",
       "a hidden matrix of fan-in f (attn_out: d_attn): init × (f/f⋆)^(-1/2), lr × f⋆/f"},
      {"muP.gqa", "§11.3",
       "GQA / MQA: k and v of n_kv_heads heads are hidden matrices of fan-in d, ruled like q; "
       "n_kv_heads is a shape"},
      {"muP.tied", "§11.4",
       "tied embeddings: one matrix with the embedding's row (σ, η, λ); logits × 1/ρ_d"},
      {"muP.qk_norm", "§11.8", "QK-norm gains: vectors, in group norm (init 1, lr η, wd 0)"},
      {"muP.vector", "§4", "norm gains: constant init 1, lr η, never decayed"},
      {"muP.output.init", "§4 / §9.1",
       "unembedding init: × ρ_d^(-1/2) (head_rule=blog) or σ (mup)"},
      {"muP.output.lr", "§4 / §9.1", "unembedding lr: × 1/ρ_d (head_rule=blog) or η (mup)"},
      {"muP.output.mult", "§2 / §4", "logits × 1/ρ_d"},
      {"muP.attn.scale", "§2 / §9.10", "attention logits q·k / d_head (or / √d_head)"},
      {"option.router_rule", "§9.3", "router as a hidden layer (default) or as a readout"},
      {"option.wd_width_scaling", "§9.2", "independent: λ × ρ_d on groups whose lr is η/ρ_d"},
      {"option.wd_embedding", "§9.11", "false: no weight decay on the embedding"},
      {"completeP.depth.residual", "§6", "residual branch multiplier r = m_L^(-α)"},
      {"completeP.depth.lr", "§6", "hidden lr × m_L^(α-1) (1 at α = 1)"},
      {"completeP.eps", "§6 / §9.6",
       "eps_rule=completep: ε/ρ_d (embedding, head), ε/(ρ_d·m_L^α) hidden"},
      {"completeP.eps.block_norm", "§6 / §9.6",
       "eps_rule=completep: the blocks' norm gains take the hidden ε/(ρ_d·m_L^α)"},
      {"completeP.eps.final_norm", "§6 / §9.6",
       "eps_rule=completep: the final norm's gain is its own group (final_norm), ε/ρ_d"},
      {"bridge1.active_width", "§1 / §7", "H_act = d_ff (dense), a·h + n_s·h_s (MoE)"},
      {"bridge1.output_mult", "§4 / §7",
       "FFN/expert output multiplier A = d/H (Bridge I at all-active width)"},
      {"bridge1.down_init", "§4 / §7",
       "down-projection init × √(H/d) (Bridge I at all-active width)"},
      {"bridge1.route_scale", "§2 / §7 / §11.5",
       "routed sum × R = 1/π₀: the number of experts under one normalization (renormalized "
       "gates; N for softmax), 2 for sigmoid; shared × 1"},
      {"bridge2.output_mult", "§7", "Bridge II: A re-applied at the active width, × H_all/H_act"},
      {"bridge2.down_init", "§7",
       "Bridge II: down init re-applied at the active width, × √(H_act/H_all)"},
      {"bridge2.route_scale", "§7", "Bridge II: R from N to a, × a/N"},
      {"bridge2.sde_cancel", "§7",
       "Bridge II: per-expert ρ_B = ρ_D, so expert lr and wd are unchanged"},
      {"bridge2.sigma0", "§7",
       "diagnostic: expert gradient-noise shift k·√(B⋆s⋆/(B·s)), not corrected"},
      {"bridge2.sigma0_correction", "§7 / §9.12",
       "sigma0_correction=expert_lr: routed-expert lr × √(s/s⋆) (σ0 back to the reference), "
       "wd × √(s⋆/s) (lr·wd kept)"},
      {"moe.groups.route_scale", "§7 / §9.9",
       "balanced groups with routing_normalization=per_group: R = a/g"},
      {"moe.group_limited", "§11.6",
       "group-limited routing (n_group, topk_group) selects only: the ungrouped table"},
      {"layout.ffn_kind", "§11.7",
       "first_k_dense / moe_every: the dense blocks (ffn_*) have their own H_act = dense_d_ff "
       "and A = d/dense_d_ff"},
      {"not_transferred", "§11.5 / §11.9",
       "a model constant carried unchanged: routed_scaling_factor (× R), aux/z-loss "
       "coefficients, the aux-free bias rate"},
      {"hparams.alpha", "§11.10",
       "a tunable multiplier α_emb / α_out / α_attn of the reference, carried unchanged"},
      {"sde.batch.lr", "§5", "lr × ρ_B^(1/2)"},
      {"sde.duration.lr", "§5", "lr × ρ_D^(-γ)"},
      {"sde.batch.wd", "§5", "wd × ρ_B^(1/2)"},
      {"sde.duration.wd", "§5", "wd × ρ_D^(-γ)"},
      {"sde.batch.eps", "§5", "eps × ρ_B^(-1/2)"},
      {"sde.duration.eps", "§5", "eps × ρ_D^(γ)"},
      {"sde.batch.beta", "§5 / §9.5", "1-β × ρ_B"},
      {"sde.duration.beta", "§5 / §9.5", "1-β × ρ_D^(-2γ)"},
      {"baseline.standard", "§9",
       "parameterization=standard (not muE): PyTorch-default init 1/√(3·fan_in) "
       "(embedding N(0,1)), the reference's lr/wd/eps/β reused, no multipliers, "
       "R = 1, attention 1/√d_head"},
      {"hparams.override", "§4",
       "a per-group override in the reference, carried as a ratio to its rule value"},
  };
  return rules;
}

bool is_known_rule(std::string_view id) {
  for (const auto& r : all_rules())
    if (r.id == id) return true;
  return false;
}

} // namespace mue
