#include "transfer/transfer.h"

#include <cmath>

#include "util/error.h"

namespace mue {
namespace {

double tokens_per_step(const ModelSpec& m, const TrainSpec& t) {
  return static_cast<double>(t.batch_size) * m.seq_len;
}

std::string times(double r) {
  return "×" + fmt(r);
}

// The per-group rules of docs/method.md §4-§7 applied to globals already scaled by §5.
class Builder {
public:
  Builder(const Reference& ref, const ModelSpec& m, const TrainSpec& t, const TransferOptions& o,
          const Where& where)
      : ref_(ref), m_(m), t_(t), o_(o), where_(where) {}

  Parameterization build() {
    check_tied_head(m_.tie_embeddings, o_, where_.at("model").at("tie_embeddings"));
    if (o_.parameterization == ParameterizationKind::kStandard) return standard();
    ratios();
    globals();
    scalars();
    groups();
    diagnostics();
    route();
    const std::string frozen =
        m_.ffn.degenerate_gate(o_.routing_normalization == RoutingNormalization::kPerGroup);
    if (!frozen.empty()) p_.warnings.push_back(frozen);
    return std::move(p_);
  }

private:
  const Reference& ref_;
  const ModelSpec& m_;
  const TrainSpec& t_;
  const TransferOptions& o_;
  const Where& where_;
  Parameterization p_;
  double H_all_ = 0; // all-active width N·h + n_s·h_s (Bridge I's width)
  // Reasons shared by every hidden group, formatted once per target.
  std::string hidden_init_reason_, hidden_lr_reason_;

  // The baseline (not muE): what a user gets without a parameterization. Every value is
  // the reference's or PyTorch's default, each traced to `baseline.standard`.
  Parameterization standard() {
    ratios();
    const HParams& h = ref_.hparams;
    const OptimizerSpec& opt = ref_.train.optimizer;
    const char* id = "baseline.standard";
    OptimizerParams& o = p_.optimizer;
    o.lr = Traced(h.lr, "η⋆ (reference lr)");
    o.lr.note(id, "standard parameterization: the tuned lr is reused unchanged");
    o.wd = Traced(h.wd, "λ⋆ (reference wd)");
    o.wd.note(id, "standard parameterization: the tuned wd is reused unchanged");
    o.eps = Traced(h.eps.value_or(opt.eps), "ε⋆ (reference eps)");
    o.one_minus_beta1 = Traced(1 - h.beta1.value_or(opt.beta1), "reference 1-β1⋆");
    o.one_minus_beta2 = Traced(1 - h.beta2.value_or(opt.beta2), "reference 1-β2⋆");
    const FfnSpec& f = m_.ffn;
    Scalars& s = p_.scalars;
    s.H_act = Traced(static_cast<double>(f.active_width()), "active FFN width");
    H_all_ = f.is_moe() ? static_cast<double>(f.n_experts) * f.d_expert +
                              static_cast<double>(f.shared) * f.d_shared
                        : s.H_act.value;
    s.A = Traced(1, "no multiplier");
    s.A.note(id, "standard parameterization: no output multiplier");
    s.route_scale = Traced(1, "no scale");
    s.route_scale.note(id, "standard parameterization: the normalized gates sum to 1");
    model_route_constants(s.route_scale);
    s.shared_scale = Traced(1, "shared experts are added unscaled");
    s.residual_multiplier = Traced(1, "no multiplier");
    s.attention_scale = Traced(1, "q·k");
    s.attention_scale.apply(id, 1.0 / std::sqrt(m_.d_head), [&] {
      return std::string("1/√d_head, d_head = " + std::to_string(m_.d_head));
    });
    alpha(s.attention_scale, ref_.hparams.alpha_attn, "α_attn");
    s.output_multiplier = Traced(1, "no multiplier");
    alpha(s.output_multiplier, ref_.hparams.alpha_out, "α_out");
    const double d = m_.d_model;
    auto group = [&](double fan_in) {
      GroupParams g;
      if (fan_in > 0) {
        g.init_std = Traced(1 / std::sqrt(3 * fan_in),
                            "PyTorch default U(±1/√fan_in): std 1/√(3·" + fmt(fan_in) + ")");
      } else {
        g.init_std = Traced(1, "PyTorch default nn.Embedding: N(0, 1)");
      }
      g.init_std.note(id, "σ⋆ is not used");
      g.lr = Traced(o.lr.value, "optimizer.lr");
      g.wd = Traced(o.wd.value, "optimizer.wd");
      g.eps = Traced(o.eps.value, "optimizer.eps");
      g.multiplier = Traced(1, "no multiplier");
      return g;
    };
    auto& G = p_.groups;
    G[ParamGroup::kEmbedding] = group(0);
    alpha(G[ParamGroup::kEmbedding].multiplier, ref_.hparams.alpha_emb, "α_emb");
    G[ParamGroup::kAttnQkv] = group(d);
    G[ParamGroup::kAttnOut] = group(static_cast<double>(m_.d_attn()));
    GroupParams norm = group(d);
    norm.init_std = Traced(0, "gains start at exactly 1 (no noise)");
    norm.wd.apply(id, 0, [] { return std::string("gains are not decayed"); });
    G[ParamGroup::kNorm] = norm;
    if (!m_.tie_embeddings) {
      G[ParamGroup::kUnembedding] = group(d);
      G[ParamGroup::kUnembedding].multiplier = s.output_multiplier;
    }
    if (!f.is_moe() || f.has_dense_layers(m_.n_layers)) {
      G[ParamGroup::kFfnUp] = group(d);
      G[ParamGroup::kFfnDown] = group(f.is_moe() ? f.dense_d_ff : f.d_ff);
    }
    if (f.is_moe()) {
      G[ParamGroup::kExpertUp] = group(d);
      G[ParamGroup::kExpertDown] = group(f.d_expert);
      G[ParamGroup::kRouter] = group(d);
      if (f.shared > 0) {
        G[ParamGroup::kSharedUp] = group(d);
        G[ParamGroup::kSharedDown] = group(static_cast<double>(f.shared) * f.d_shared);
      }
    }
    diagnostics();
    p_.route.push_back(
        "standard parameterization (baseline, not muE): the reference's lr, wd, eps and β "
        "reused; PyTorch-default init; no multipliers");
    return std::move(p_);
  }

  // §11.10: a tunable multiplier α of the reference, carried unchanged (1 when absent).
  static void alpha(Traced& t, const std::optional<double>& a, const char* name) {
    if (!a) return;
    t.apply("hparams.alpha", *a, [&] {
      return std::string(name) + " = " + fmt(*a) + " tuned on the reference, carried unchanged";
    });
  }

  // §11.5 / §11.9: the model's own routing constants, carried unchanged: its routed scale
  // multiplies R; the loss coefficients and the aux-free bias rate are noted on R's trace.
  void model_route_constants(Traced& R) const {
    const FfnSpec& f = m_.ffn;
    if (!f.is_moe()) return;
    const RouterSpec& q = f.router;
    if (q.routed_scaling_factor != 1)
      R.apply("not_transferred", q.routed_scaling_factor, [&] {
        return "the model's own routed_scaling_factor " + fmt(q.routed_scaling_factor) +
               ", on top of R";
      });
    std::string consts;
    auto add = [&](const char* name, double v) {
      if (v != 0) consts += (consts.empty() ? "" : ", ") + std::string(name) + " " + fmt(v);
    };
    add("aux_loss_coef", q.aux_loss_coef);
    add("z_loss_coef", q.z_loss_coef);
    add("bias_update_rate", q.bias_update_rate);
    if (!consts.empty())
      R.note(
          "not_transferred",
          "router constants carried unchanged: " + consts +
              (q.bias_update_rate > 0 ? " (the aux-free bias moves selection, never a gate)" : ""));
    if (q.group_limited())
      R.note("moe.group_limited", "group-limited routing (" + std::to_string(q.n_group) +
                                      " groups, the best " + std::to_string(q.topk_group) +
                                      " kept, then top-" + std::to_string(f.active) +
                                      ") selects, it does not rescale: π₀ and R as without groups");
  }

  void ratios() {
    Ratios& r = p_.ratios;
    r.rho_d = static_cast<double>(m_.d_model) / ref_.model.d_model;
    r.m_L = static_cast<double>(m_.n_layers) / ref_.model.n_layers;
    r.rho_B = tokens_per_step(m_, t_) / tokens_per_step(ref_.model, ref_.train);
    r.rho_D = static_cast<double>(t_.tokens) / static_cast<double>(ref_.train.tokens);
    r.rho_T = r.rho_D / r.rho_B;
    r.k_sde = std::sqrt(r.rho_B) * std::pow(r.rho_D, -o_.duration_exponent);
    if (r.rho_d != 1) {
      hidden_init_reason_ = "× ρ_d^(-1/2), ρ_d = " + fmt(r.rho_d);
      hidden_lr_reason_ = "× 1/ρ_d, ρ_d = " + fmt(r.rho_d);
    }
  }

  // §5: one factor k on lr and wd, 1/k on eps, k² on 1-β.
  void globals() {
    const Ratios& r = p_.ratios;
    const double g = o_.duration_exponent;
    const HParams& h = ref_.hparams;
    const OptimizerSpec& opt = ref_.train.optimizer;
    OptimizerParams& o = p_.optimizer;
    const std::string b = "ρ_B = " + fmt(r.rho_B), d = "ρ_D = " + fmt(r.rho_D);
    const std::string gam = "γ = " + fmt(g);
    o.lr = Traced(h.lr, "η⋆ (reference lr)");
    o.lr.apply("sde.batch.lr", std::sqrt(r.rho_B),
               [&] { return std::string("lr × ρ_B^(1/2), " + b); });
    o.lr.apply("sde.duration.lr", std::pow(r.rho_D, -g),
               [&] { return std::string("lr × ρ_D^(-γ), " + d + ", " + gam); });
    o.wd = Traced(h.wd, "λ⋆ (reference wd)");
    o.wd.apply("sde.batch.wd", std::sqrt(r.rho_B),
               [&] { return std::string("wd × ρ_B^(1/2) keeps η·λ·T, " + b); });
    o.wd.apply("sde.duration.wd", std::pow(r.rho_D, -g),
               [&] { return std::string("wd × ρ_D^(-γ), " + d + ", " + gam); });
    o.eps = Traced(h.eps.value_or(opt.eps), "ε⋆ (reference eps)");
    o.eps.apply("sde.batch.eps", 1 / std::sqrt(r.rho_B),
                [&] { return std::string("eps × ρ_B^(-1/2), " + b); });
    o.eps.apply("sde.duration.eps", std::pow(r.rho_D, g),
                [&] { return std::string("eps × ρ_D^(γ), " + d + ", " + gam); });
    o.one_minus_beta1 = Traced(1 - h.beta1.value_or(opt.beta1), "reference 1-β1⋆");
    o.one_minus_beta2 = Traced(1 - h.beta2.value_or(opt.beta2), "reference 1-β2⋆");
    if (o_.beta_scaling == BetaScaling::kSde) {
      for (auto* t : {&o.one_minus_beta1, &o.one_minus_beta2}) {
        t->apply("sde.batch.beta", r.rho_B, [&] { return "1-β × ρ_B, " + b; });
        t->apply("sde.duration.beta", std::pow(r.rho_D, -2 * g),
                 [&] { return "1-β × ρ_D^(-2γ), " + d; });
      }
      check_beta("beta1", o.one_minus_beta1);
      check_beta("beta2", o.one_minus_beta2);
    }
  }

  void check_beta(const char* name, const Traced& one_minus) const {
    if (one_minus.value > 0 && one_minus.value < 1) return;
    where_.at("train")
        .at("optimizer")
        .at(name)
        .fail(std::string("the SDE rule scales 1-") + name +
              " by ρ_B/ρ_D = " + fmt(p_.ratios.rho_B / p_.ratios.rho_D) + " to " +
              fmt(one_minus.value) + ", so " + name + " = " + fmt(1 - one_minus.value) +
              " leaves (0, 1); set the option beta_scaling: none "
              "(keep the reference betas) or change batch/duration less");
  }

  // R = 1/π₀ (§2, §7, §11.5): π₀ is a selected expert's gate at init (equal scores). The
  // renormalized kinds take Bridge I's R = N (all experts under one normalization), then
  // Bridge II's a/N (and 1/g per group); softmax keeps π₀ = 1/N for any a, sigmoid σ(0) = 1/2.
  void route_scale(Traced& R) {
    const FfnSpec& f = m_.ffn;
    const std::string N = std::to_string(f.n_experts), a = std::to_string(f.active);
    R = Traced(1, "no scale");
    switch (f.router.gate) {
    case GateKind::kSigmoidRenorm:
    case GateKind::kSoftmaxRenorm:
      R.apply("bridge1.route_scale", f.n_experts,
              [&] { return "R = N: all " + N + " experts under one normalization"; });
      if (f.active < f.n_experts)
        R.apply("bridge2.route_scale", static_cast<double>(f.active) / f.n_experts,
                [&] { return "R: N → a = " + a; });
      if (f.groups > 1 && o_.routing_normalization == RoutingNormalization::kPerGroup)
        p_.per_group_gates = true;
      if (p_.per_group_gates)
        R.apply("moe.groups.route_scale", 1.0 / f.groups, [&] {
          return "per_group normalization: R = a/g over the " +
                 std::to_string(f.active / f.groups) + " experts of one group";
        });
      break;
    case GateKind::kSoftmax:
      R.apply("bridge1.route_scale", f.n_experts,
              [&] { return "gate softmax: π₀ = 1/N over all " + N + " experts, R = 1/π₀ = N"; });
      if (f.active < f.n_experts)
        R.note("bridge2.route_scale",
               "gate softmax is not renormalized over the " + a + " selected: π₀ stays 1/N");
      break;
    case GateKind::kSigmoid:
      R.apply("bridge1.route_scale", 2,
              [&] { return std::string("gate sigmoid: π₀ = σ(0) = 1/2, R = 1/π₀ = 2"); });
      if (f.active < f.n_experts)
        R.note("bridge2.route_scale",
               "gate sigmoid is not normalized: π₀ = 1/2 for any number of active experts");
      break;
    }
    model_route_constants(R);
  }

  void scalars() {
    const FfnSpec& f = m_.ffn;
    Scalars& s = p_.scalars;
    const double d = m_.d_model;
    const double H_act = static_cast<double>(f.active_width());
    if (f.is_moe()) {
      H_all_ = static_cast<double>(f.n_experts) * f.d_expert +
               static_cast<double>(f.shared) * f.d_shared;
      s.H_act = Traced(H_act, "a·h + n_s·h_s = " + std::to_string(f.active) + "·" +
                                  std::to_string(f.d_expert) + " + " + std::to_string(f.shared) +
                                  "·" + std::to_string(f.d_shared));
      s.H_act.note("bridge1.active_width", "fan-in of the down projections per token");
      // Bridge I at the all-active width, then Bridge II to the active width.
      s.A = Traced(1, "no multiplier");
      s.A.apply("bridge1.output_mult", d / H_all_, [&] {
        return std::string("A = d/H with all " + std::to_string(f.n_experts) +
                           " experts active: " + fmt(d) + "/" + fmt(H_all_));
      });
      if (f.active < f.n_experts)
        s.A.apply("bridge2.output_mult", H_all_ / H_act, [&] {
          return std::string("A re-applied at the active width: " + fmt(H_all_) + "/" + fmt(H_act));
        });
      route_scale(s.route_scale);
    } else {
      H_all_ = H_act;
      s.H_act = Traced(H_act, "d_ff = " + std::to_string(f.d_ff));
      s.H_act.note("bridge1.active_width", "dense FFN: every hidden unit fires");
      s.A = Traced(1, "no multiplier");
      s.A.apply("bridge1.output_mult", d / H_act,
                [&] { return std::string("A = d/H_act = " + fmt(d) + "/" + fmt(H_act)); });
      s.route_scale = Traced(1, "dense FFN: no routing");
    }
    s.shared_scale = Traced(1, "shared experts are added unscaled (bridge1.route_scale)");
    s.residual_multiplier = Traced(1, "no multiplier at the reference depth");
    s.residual_multiplier.apply("completeP.depth.residual",
                                std::pow(p_.ratios.m_L, -o_.depth_alpha), [&] {
                                  return std::string("r = m_L^(-α), m_L = " + fmt(p_.ratios.m_L) +
                                                     ", α = " + fmt(o_.depth_alpha));
                                });
    s.attention_scale = Traced(1, "q·k");
    if (o_.attention_scale == AttentionScale::kInvDHead)
      s.attention_scale.apply("muP.attn.scale", 1.0 / m_.d_head, [&] {
        return std::string("1/d_head, d_head = " + std::to_string(m_.d_head));
      });
    else
      s.attention_scale.apply("muP.attn.scale", 1.0 / std::sqrt(m_.d_head), [&] {
        return std::string("1/√d_head (attention_scale=inv_sqrt_dhead), d_head = " +
                           std::to_string(m_.d_head));
      });
    alpha(s.attention_scale, ref_.hparams.alpha_attn, "α_attn");
    s.output_multiplier = Traced(1, "no multiplier at the reference width");
    s.output_multiplier.apply("muP.output.mult", 1 / p_.ratios.rho_d, [&] {
      return std::string("logits × 1/ρ_d, ρ_d = " + fmt(p_.ratios.rho_d));
    });
    alpha(s.output_multiplier, ref_.hparams.alpha_out, "α_out");
  }

  GroupParams start() const {
    GroupParams g;
    g.init_std = Traced(ref_.hparams.init_std, "σ⋆ (reference init)");
    // The global values of §5; their own traces are in `optimizer`.
    g.lr = Traced(p_.optimizer.lr.value, "optimizer.lr");
    g.wd = Traced(p_.optimizer.wd.value, "optimizer.wd");
    g.eps = Traced(p_.optimizer.eps.value, "optimizer.eps");
    g.multiplier = Traced(1, "no multiplier");
    return g;
  }

  // A 2-D hidden weight (§4): init ρ_d^(-1/2), lr 1/ρ_d × m_L^(α-1).
  GroupParams hidden() const { return hidden(p_.ratios.rho_d, ""); }

  // A 2-D hidden weight whose fan-in grew by `fan` = f/f⋆ (§11.1, muP.hidden.fan_in): init
  // × fan^(-1/2), lr × 1/fan. With fan = ρ_d (fan-in d) this is §4's rule under its ids;
  // `what` names the fan-in for the trace otherwise.
  GroupParams hidden(double fan, const std::string& what) const {
    const Ratios& r = p_.ratios;
    GroupParams g = start();
    if (fan == r.rho_d) {
      g.init_std.apply("muP.hidden.init", 1 / std::sqrt(r.rho_d),
                       [&] { return hidden_init_reason_; });
      g.lr.apply("muP.hidden.lr", 1 / r.rho_d, [&] { return hidden_lr_reason_; });
    } else {
      g.init_std.apply("muP.hidden.fan_in", 1 / std::sqrt(fan),
                       [&] { return "× (f/f⋆)^(-1/2), " + what + ", f/f⋆ = " + fmt(fan); });
      g.lr.apply("muP.hidden.fan_in", 1 / fan,
                 [&] { return "× f⋆/f, " + what + ", f/f⋆ = " + fmt(fan); });
    }
    g.lr.apply("completeP.depth.lr", std::pow(r.m_L, o_.depth_alpha - 1), [&] {
      return std::string("× m_L^(α-1), m_L = " + fmt(r.m_L) + ", α = " + fmt(o_.depth_alpha));
    });
    width_wd(g, fan);
    if (o_.eps_rule == EpsRule::kCompleteP)
      g.eps.apply("completeP.eps", 1 / (fan * std::pow(r.m_L, o_.depth_alpha)),
                  [&] { return std::string("hidden eps / (ρ_d·m_L^α)"); });
    return g;
  }

  // wd_width_scaling independent: λ × (the factor that divided lr), so lr·wd is kept.
  void width_wd(GroupParams& g) const { width_wd(g, p_.ratios.rho_d); }
  void width_wd(GroupParams& g, double lr_divisor) const {
    if (o_.wd_width_scaling == WdWidthScaling::kIndependent)
      g.wd.apply("option.wd_width_scaling", lr_divisor,
                 [&] { return std::string("independent: λ × ρ_d keeps lr·wd across width"); });
  }

  // A down projection: hidden, plus the active-width init and the multiplier A.
  GroupParams down() const { return down(H_all_, p_.scalars.H_act.value, p_.scalars.A); }
  // The same for an FFN kind of all-active width H_all, active width H_act and multiplier A
  // (§11.7: the dense blocks of a layered MoE model are a kind of their own).
  GroupParams down(double H_all, double H_act, const Traced& A) const {
    GroupParams g = hidden();
    const double d = m_.d_model;
    g.init_std.apply("bridge1.down_init", std::sqrt(H_all / d), [&] {
      return std::string("× √(H/d) at the all-active width: √(" + fmt(H_all) + "/" + fmt(d) + ")");
    });
    if (H_all != H_act)
      g.init_std.apply("bridge2.down_init", std::sqrt(H_act / H_all), [&] {
        return std::string("× √(H_act/H) at the active width: √(" + fmt(H_act) + "/" + fmt(H_all) +
                           ")");
      });
    g.multiplier = A;
    return g;
  }

  // §11.7: the dense blocks of a layered MoE model (first_k_dense, moe_every): width
  // dense_d_ff, their own A = d/d_ff, in the ffn_* groups.
  void dense_blocks() {
    const FfnSpec& f = m_.ffn;
    const double d = m_.d_model, H = f.dense_d_ff;
    Traced A(1, "no multiplier");
    A.apply("bridge1.output_mult", d / H,
            [&] { return "A = d/d_ff of the dense blocks = " + fmt(d) + "/" + fmt(H); });
    A.note("layout.ffn_kind", "dense blocks of the layout: their own H_act = dense_d_ff and A");
    GroupParams up = hidden(), dn = down(H, H, A);
    up.init_std.note("layout.ffn_kind", "dense blocks of the layout (ffn_*)");
    dn.init_std.note("layout.ffn_kind", "dense blocks of the layout (ffn_*), H = dense_d_ff");
    p_.groups[ParamGroup::kFfnUp] = up;
    p_.groups[ParamGroup::kFfnDown] = dn;
  }

  void mark_sde_cancel(GroupParams& g) const {
    const FfnSpec& f = m_.ffn;
    if (f.active == f.n_experts) return;
    const std::string why = "per expert ρ_B = ρ_D = a/N: √(ρ_B/ρ_D) = 1";
    g.lr.note("bridge2.sde_cancel", why);
    g.wd.note("bridge2.sde_cancel", why);
  }

  // §9 row 12 (option): a routed expert sees the fraction s = a/N of the tokens, so its
  // gradient noise σ0 = η·σ_exp is √(s⋆/s) times the reference's (bridge2.sigma0). Cancel it in
  // the expert lr, and move wd the other way so the per-step decay lr·wd (λ̃) is kept.
  double sigma0_correction() const {
    if (o_.sigma0_correction == Sigma0Correction::kNone || !m_.ffn.is_moe()) return 1;
    return std::sqrt(density(m_.ffn) / density(ref_.model.ffn));
  }
  static double density(const FfnSpec& f) {
    return f.is_moe() ? static_cast<double>(f.active) / f.n_experts : 1.0;
  }
  void correct_sigma0(GroupParams& g) const {
    const double c = sigma0_correction();
    if (c == 1) return;
    const FfnSpec &f = m_.ffn, &f0 = ref_.model.ffn;
    auto why = [&] {
      return "sigma0_correction=expert_lr: √(s/s⋆) = √(" + std::to_string(f.active) + "/" +
             std::to_string(f.n_experts) + " ÷ " +
             (f0.is_moe() ? std::to_string(f0.active) + "/" + std::to_string(f0.n_experts)
                          : std::string("1")) +
             ")";
    };
    g.lr.apply("bridge2.sigma0_correction", c, why);
    g.wd.apply("bridge2.sigma0_correction", 1 / c,
               [&] { return std::string("× 1/√(s/s⋆): lr·wd kept"); });
  }

  void groups() {
    const Ratios& r = p_.ratios;
    auto& G = p_.groups;

    GroupParams emb = start();
    emb.init_std.note("muP.input", "width-independent");
    emb.lr.note("muP.input", "width-independent");
    if (!o_.wd_embedding)
      emb.wd.apply("option.wd_embedding", 0, [&] { return std::string("wd_embedding=false"); });
    if (o_.eps_rule == EpsRule::kCompleteP)
      emb.eps.apply("completeP.eps", 1 / r.rho_d,
                    [&] { return std::string("embedding eps / ρ_d"); });
    alpha(emb.multiplier, ref_.hparams.alpha_emb, "α_emb");
    if (m_.tie_embeddings) {
      const char* why = "tied embeddings: one matrix is embedding and unembedding; it takes the "
                        "input row (σ, η, λ) and the logits keep × 1/ρ_d (muP.output.mult)";
      emb.init_std.note("muP.tied", why);
      emb.lr.note("muP.tied", why);
      emb.wd.note("muP.tied", why);
    }
    G[ParamGroup::kEmbedding] = emb;

    // q, k, v: fan-in d (§4; GQA's k and v too, §11.3). attn_out: fan-in d_attn (§11.2); its
    // branch is scaled by the block scalar r, not here.
    G[ParamGroup::kAttnQkv] = hidden();
    if (m_.kv_heads() != m_.n_heads)
      G[ParamGroup::kAttnQkv].lr.note(
          "muP.gqa", "GQA: k and v of " + std::to_string(m_.kv_heads()) + " key/value heads (for " +
                         std::to_string(m_.n_heads) + " query heads) have fan-in d, as q");
    const double rho_attn =
        static_cast<double>(m_.d_attn()) / static_cast<double>(ref_.model.d_attn());
    G[ParamGroup::kAttnOut] =
        hidden(rho_attn, "attn_out fan-in d_attn " + std::to_string(ref_.model.d_attn()) + " → " +
                             std::to_string(m_.d_attn()));

    GroupParams norm = start();
    norm.init_std.apply("muP.vector", 0,
                        [&] { return std::string("gains start at exactly 1 (no noise)"); });
    norm.lr.note("muP.vector", "vectors keep η");
    norm.wd.apply("muP.vector", 0, [&] { return std::string("gains are never decayed"); });
    if (o_.eps_rule == EpsRule::kCompleteP) {
      // CompleteP's reference code: the blocks' gains take the hidden ε, the final norm's
      // gain the embedding and head's; so the final norm is a group of its own here.
      GroupParams fin = norm;
      norm.eps.apply("completeP.eps.block_norm", 1 / (r.rho_d * std::pow(r.m_L, o_.depth_alpha)),
                     [&] { return std::string("block norm gains: eps / (ρ_d·m_L^α), as hidden"); });
      fin.eps.apply("completeP.eps.final_norm", 1 / r.rho_d, [&] {
        return std::string("final norm gain: eps / ρ_d, as embedding and head");
      });
      if (fin.eps.trace.empty())
        fin.eps.note("completeP.eps.final_norm",
                     "the final norm is its own group under eps_rule=completep: eps / ρ_d, "
                     "ρ_d = 1");
      G[ParamGroup::kFinalNorm] = fin;
    }
    if (m_.qk_norm)
      norm.lr.note("muP.qk_norm", "the QK-norm gains of q and k are vectors in this group");
    G[ParamGroup::kNorm] = norm;

    GroupParams head = start();
    if (o_.head_rule == HeadRule::kBlog) {
      head.init_std.apply("muP.output.init", 1 / std::sqrt(r.rho_d),
                          [&] { return std::string("head_rule=blog: × ρ_d^(-1/2)"); });
      head.lr.apply("muP.output.lr", 1 / r.rho_d,
                    [&] { return std::string("head_rule=blog: × 1/ρ_d"); });
      width_wd(head);
    } else {
      head.init_std.note("muP.output.init", "head_rule=mup: init σ at every width");
      head.lr.note("muP.output.lr", "head_rule=mup: lr η at every width");
    }
    if (o_.eps_rule == EpsRule::kCompleteP)
      head.eps.apply("completeP.eps", 1 / r.rho_d, [&] { return std::string("head eps / ρ_d"); });
    head.multiplier = p_.scalars.output_multiplier;
    if (!m_.tie_embeddings) G[ParamGroup::kUnembedding] = head; // tied: the embedding's row

    const FfnSpec& f = m_.ffn;
    if (!f.is_moe()) {
      G[ParamGroup::kFfnUp] = hidden();
      G[ParamGroup::kFfnDown] = down();
      return;
    }
    if (f.has_dense_layers(m_.n_layers)) dense_blocks();
    GroupParams up = hidden(), dn = down();
    mark_sde_cancel(up);
    mark_sde_cancel(dn);
    correct_sigma0(up);
    correct_sigma0(dn);
    G[ParamGroup::kExpertUp] = up;
    G[ParamGroup::kExpertDown] = dn;
    if (f.shared > 0) {
      G[ParamGroup::kSharedUp] = hidden();
      G[ParamGroup::kSharedDown] = down();
    }
    if (o_.router_rule == RouterRule::kHidden) {
      GroupParams router = hidden();
      router.lr.note("option.router_rule", "router_rule=hidden");
      G[ParamGroup::kRouter] = router;
    } else {
      GroupParams router = start();
      router.init_std.note("muP.output.init", "router_rule=readout: init σ");
      router.lr.note("muP.output.lr", "router_rule=readout: lr η");
      router.lr.note("option.router_rule", "router_rule=readout: fan-out N is finite");
      router.multiplier.apply("muP.output.mult", 1 / r.rho_d,
                              [&] { return std::string("router logits × 1/ρ_d"); });
      if (o_.eps_rule == EpsRule::kCompleteP)
        router.eps.apply("completeP.eps", 1 / r.rho_d,
                         [&] { return std::string("readout eps / ρ_d"); });
      G[ParamGroup::kRouter] = router;
    }
  }

  // §7: σ0 ratio = k·√(B⋆·s⋆/(B·s)), s the fraction of tokens a group's weights see.
  void diagnostics() {
    const double k = p_.ratios.k_sde, rho_B = p_.ratios.rho_B;
    for (const auto& [name, g] : p_.groups) {
      (void)g;
      bool routed = name == ParamGroup::kExpertUp || name == ParamGroup::kExpertDown;
      double s = routed ? density(m_.ffn) : 1.0;
      double s_ref = routed ? density(ref_.model.ffn) : 1.0;
      p_.sigma0_ratio[name] =
          k * std::sqrt(s_ref / (rho_B * s)) * (routed ? sigma0_correction() : 1);
    }
  }

  void route() {
    const Ratios& r = p_.ratios;
    auto& R = p_.route;
    const ModelSpec& a = ref_.model;
    if (r.rho_d != 1)
      R.push_back("width " + times(r.rho_d) + " (d_model " + std::to_string(a.d_model) + " → " +
                  std::to_string(m_.d_model) + ")");
    if (r.m_L != 1)
      R.push_back("depth " + times(r.m_L) + " (" + std::to_string(a.n_layers) + " → " +
                  std::to_string(m_.n_layers) + " blocks)");
    const FfnSpec &f0 = a.ffn, &f = m_.ffn;
    auto desc = [](const FfnSpec& x) {
      return x.is_moe() ? x.layout_name() + " (h = " + std::to_string(x.d_expert) + ")"
                        : "dense FFN (H = " + std::to_string(x.d_ff) + ")";
    };
    if (!f0.is_moe() && !f.is_moe()) {
      if (f0.d_ff != f.d_ff)
        R.push_back("FFN width H " + std::to_string(f0.d_ff) + " → " + std::to_string(f.d_ff) +
                    " (active-width μP)");
    } else if (!f0.is_moe()) {
      R.push_back("Bridge I: " + desc(f0) + " → " + std::to_string(f.n_experts) +
                  " experts of width " + std::to_string(f.d_expert) +
                  ", all active (H = " + fmt(H_all_) + ")");
      if (f.active < f.n_experts)
        R.push_back("Bridge II: active experts " + std::to_string(f.n_experts) + " → " +
                    std::to_string(f.active) + " (H_act = " + fmt(p_.scalars.H_act.value) + ")");
    } else if (!f.is_moe()) {
      if (f0.active < f0.n_experts)
        R.push_back("Bridge II reversed: active experts " + std::to_string(f0.active) + " → " +
                    std::to_string(f0.n_experts));
      R.push_back("Bridge I reversed: " + desc(f0) + " → " + desc(f));
    } else if (f0.n_experts != f.n_experts || f0.d_expert != f.d_expert || f0.shared != f.shared ||
               f0.d_shared != f.d_shared) {
      if (f0.active < f0.n_experts)
        R.push_back("Bridge II reversed: active experts " + std::to_string(f0.active) + " → " +
                    std::to_string(f0.n_experts));
      R.push_back("Bridge I re-split at all-active width: " + desc(f0) + " → " + desc(f));
      if (f.active < f.n_experts)
        R.push_back("Bridge II: active experts " + std::to_string(f.n_experts) + " → " +
                    std::to_string(f.active));
    } else if (f0.active != f.active) {
      R.push_back("Bridge II: active experts " + std::to_string(f0.active) + " → " +
                  std::to_string(f.active));
    }
    if (f.is_moe()) {
      if (f.shared > 0)
        R.push_back("shared experts: " + std::to_string(f.shared) + " of width " +
                    std::to_string(f.d_shared) +
                    ", added unscaled; one A for all down projections");
      if (f.groups > 1)
        R.push_back("group-balanced routing: " + std::to_string(f.groups) +
                    " groups, R = " + fmt(p_.scalars.route_scale.value) +
                    (o_.routing_normalization == RoutingNormalization::kGlobal
                         ? " (global normalization)"
                         : " (per-group normalization)"));
    }
    if (f.is_moe()) {
      const RouterSpec& q = f.router;
      if (q.gate != GateKind::kSigmoidRenorm)
        R.push_back(
            std::string("gate ") + to_string(q.gate) +
            (q.renormalized() ? " (renormalized over the selected)" : " (not renormalized)") +
            ": R = 1/π₀ = " + fmt(p_.scalars.route_scale.value / q.routed_scaling_factor) +
            (q.routed_scaling_factor != 1
                 ? ", × the model's routed_scaling_factor " + fmt(q.routed_scaling_factor)
                 : std::string()));
      else if (q.routed_scaling_factor != 1)
        R.push_back("the model's routed_scaling_factor " + fmt(q.routed_scaling_factor) +
                    " on top of R (not transferred)");
      if (q.group_limited())
        R.push_back("group-limited routing: " + std::to_string(q.n_group) + " groups, the best " +
                    std::to_string(q.topk_group) + " kept, then top-" + std::to_string(f.active) +
                    "; table as without groups");
      if (f.has_dense_layers(m_.n_layers))
        R.push_back("layout: " + std::to_string(m_.n_layers - m_.moe_layers()) +
                    " dense block(s) (d_ff " + std::to_string(f.dense_d_ff) +
                    ", A = " + fmt(p_.groups.at(ParamGroup::kFfnDown).multiplier.value) + ") and " +
                    std::to_string(m_.moe_layers()) + " MoE block(s) (A = " +
                    fmt(p_.scalars.A.value) + "); each FFN kind has its own A");
    }
    if (m_.d_attn() != m_.d_model || a.d_attn() != a.d_model)
      R.push_back("attention width d_attn " + std::to_string(a.d_attn()) + " → " +
                  std::to_string(m_.d_attn()) + " (d_model " + std::to_string(m_.d_model) +
                  "): attn_out by its fan-in");
    if (m_.kv_heads() != m_.n_heads)
      R.push_back("GQA: " + std::to_string(m_.kv_heads()) + " key/value heads for " +
                  std::to_string(m_.n_heads) + " query heads (a shape; no factor changes)");
    if (m_.tie_embeddings)
      R.push_back("tied embeddings: one matrix with the embedding's row; logits × 1/ρ_d");
    if (m_.qk_norm) R.push_back("QK-norm: its gains are vectors in group norm");
    if (r.rho_B != 1) R.push_back("batch " + times(r.rho_B) + " (tokens per step)");
    if (r.rho_D != 1) R.push_back("duration " + times(r.rho_D) + " (tokens)");
    if (R.empty()) R.push_back("identity (the reference itself)");
  }
};

void apply_overrides(const Reference& ref, const TransferOptions& o, Parameterization& p) {
  if (ref.hparams.overrides.empty()) return;
  Reference plain = ref;
  plain.hparams.overrides.clear();
  const Parameterization at_ref = Builder(plain, ref.model, ref.train, o, ref.where).build();
  // By name, as when overrides were keyed by string: the warnings keep their order.
  for (ParamGroup g : param_groups_by_name()) {
    const auto it_ov = ref.hparams.overrides.find(g);
    if (it_ov == ref.hparams.overrides.end()) continue;
    const GroupOverride& ov = it_ov->second;
    const std::string group = to_string(g);
    const Where w = ref.where.at("overrides").at(group);
    auto it_ref = at_ref.groups.find(g);
    if (it_ref == at_ref.groups.end()) {
      if (g == ParamGroup::kFinalNorm)
        w.fail("the final norm is a group of its own only under eps_rule: completep; "
               "override 'norm', which holds every norm gain otherwise");
      w.fail("the reference model has no '" + group + "' parameters to override");
    }
    auto it = p.groups.find(g);
    if (it == p.groups.end()) {
      p.warnings.push_back("reference override of '" + group +
                           "' does not apply: the target has no such group");
      continue;
    }
    auto carry = [&](GroupParams& to, const GroupParams& at_reference,
                     const std::optional<double>& v, Traced GroupParams::*field, const char* name) {
      if (!v) return;
      const double rule_value = (at_reference.*field).value;
      if (rule_value == 0)
        w.at(name).fail(std::string("the rules set ") + group + "." + name +
                        " to 0 at the reference, so an override cannot be carried as a ratio");
      (to.*field).apply("hparams.override", *v / rule_value, [&] {
        return std::string("reference override " + group + "." + name + " = " + fmt(*v) + " is × " +
                           fmt(*v / rule_value) + " its rule value");
      });
    };
    auto carry_all = [&](GroupParams& to, const GroupParams& at_reference) {
      carry(to, at_reference, ov.lr, &GroupParams::lr, "lr");
      carry(to, at_reference, ov.wd, &GroupParams::wd, "wd");
      carry(to, at_reference, ov.init_std, &GroupParams::init_std, "init_std");
    };
    carry_all(it->second, it_ref->second);
    // An override of `norm` covers every norm gain, the final norm's too when that is a
    // group of its own (eps_rule completep), unless `final_norm` has its own override.
    if (g == ParamGroup::kNorm && !ref.hparams.overrides.count(ParamGroup::kFinalNorm)) {
      const auto fin = p.groups.find(ParamGroup::kFinalNorm);
      const auto fin_ref = at_ref.groups.find(ParamGroup::kFinalNorm);
      if (fin != p.groups.end() && fin_ref != at_ref.groups.end())
        carry_all(fin->second, fin_ref->second);
    }
  }
}

// A value that overflowed (an lr of 1e308 times a width ratio) or became NaN could not train
// and would be written as null: bad input at the target, naming the value.
void require_finite(const Parameterization& p, const Reference& ref, const Where& target_where) {
  auto check = [&](const Traced& t, const std::string& name) {
    bool finite = std::isfinite(t.value) && std::isfinite(t.base);
    for (const Factor& f : t.trace)
      finite = finite && std::isfinite(f.factor);
    if (!finite)
      target_where.fail(name + " comes out as " + fmt(t.value) +
                        ", not a finite number: the reference's values (" + ref.where.file + " " +
                        ref.where.pointer + ") and this model's shapes are out of range");
  };
  for (const auto& [g, gp] : p.groups) {
    const std::string n = to_string(g);
    check(gp.init_std, n + ".init_std");
    check(gp.lr, n + ".lr");
    check(gp.wd, n + ".wd");
    check(gp.multiplier, n + ".multiplier");
    check(gp.eps, n + ".eps");
  }
  check(p.optimizer.lr, "optimizer.lr");
  check(p.optimizer.wd, "optimizer.wd");
  check(p.optimizer.eps, "optimizer.eps");
  check(p.optimizer.one_minus_beta1, "optimizer.1-beta1");
  check(p.optimizer.one_minus_beta2, "optimizer.1-beta2");
  const Scalars& s = p.scalars;
  for (const auto& [t, n] : {std::pair<const Traced*, const char*>{&s.H_act, "H_act"},
                             {&s.A, "A"},
                             {&s.route_scale, "R"},
                             {&s.shared_scale, "shared_scale"},
                             {&s.residual_multiplier, "residual_multiplier"},
                             {&s.attention_scale, "attention_scale"},
                             {&s.output_multiplier, "output_multiplier"}})
    check(*t, n);
  const Ratios& r = p.ratios;
  for (double x : {r.rho_d, r.m_L, r.rho_B, r.rho_D, r.rho_T, r.k_sde})
    if (!std::isfinite(x)) check(Traced(x, ""), "a transfer ratio (ρ_d, m_L, ρ_B, ρ_D, ρ_T, k)");
  for (const auto& [g, x] : p.sigma0_ratio)
    if (!std::isfinite(x)) check(Traced(x, ""), std::string("the σ0 ratio of ") + to_string(g));
}

} // namespace

Parameterization transfer(const Reference& ref, const ModelSpec& model, const TrainSpec& train,
                          const TransferOptions& options, const Where& target_where) {
  Parameterization p = Builder(ref, model, train, options, target_where).build();
  apply_overrides(ref, options, p);
  require_finite(p, ref, target_where);
  return p;
}

Parameterization reference_table(const Reference& ref, const TransferOptions& options) {
  return transfer(ref, ref.model, ref.train, options, ref.where);
}

Parameterization table_for(const RunConfig& config, const std::string& file) {
  Reference ref;
  ref.model = config.reference ? config.reference->model : config.model;
  ref.train = config.reference ? config.reference->train : config.train;
  ref.hparams = config.hparams;
  ref.where = Where{file, "/hparams"};
  return transfer(ref, config.model, config.train, config.options, Where{file, ""});
}

} // namespace mue
