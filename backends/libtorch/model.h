#pragma once
// GPT with a dense or MoE FFN. Every init std and forward multiplier comes from
// the Parameterization table; the model decides no scale itself (docs/design.md).
#include <torch/torch.h>

#include <array>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "spec/model_spec.h"
#include "transfer/parameterization.h"

namespace mue::torch_backend {

// φ of an FFN: gelu, relu, or swiglu (silu of the first half times the second half).
torch::Tensor activate(const torch::Tensor& h, Activation act);

// The table's row for group `g`; a RuntimeError naming the group when the table lacks it.
const GroupParams& table_group(const Parameterization& p, ParamGroup g);

// Pre-norm gain-only norm (RMSNorm or LayerNorm without bias).
struct NormImpl : torch::nn::Module {
  NormImpl(int d, NormKind kind);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor gain;
  NormKind kind;
};
TORCH_MODULE(Norm);

// Causal self-attention with n_heads query heads and kv_heads key/value heads of d_head
// each (docs/method.md §11.3: GQA, MQA; kv_heads = n_heads is multi-head attention). The
// query heads of group j = h / (n_heads / kv_heads) share key/value head j. Under qk_norm
// (§11.8) q and k are RMS-normalized over d_head, per head, with gains shared by the heads.
struct AttentionImpl : torch::nn::Module {
  AttentionImpl(const ModelSpec& m, double scale);
  // x [B, T, d_model] -> [B, T, d_model].
  torch::Tensor forward(const torch::Tensor& x);
  // The heads the scores read, each [B, n_heads, T, d_head]: q and k after QK-norm, k and v
  // repeated from kv_heads to n_heads.
  std::array<torch::Tensor, 3> heads(const torch::Tensor& x);
  // w_qkv [(n_heads + 2·kv_heads)·d_head, d_model]: the q rows, then k, then v, head by head
  // inside each (with kv_heads = n_heads: [3d, d] as q, k, v); w_out [d_model, d_attn],
  // d_attn = n_heads·d_head (§11.2).
  torch::Tensor w_qkv, w_out;
  // QK-norm gains [d_head] (qk_norm only, else undefined): table group `norm`, init 1.
  torch::Tensor q_norm, k_norm;
  int n_heads, kv_heads, d_head;
  double scale;       // on q·k: the table's attention_scale (α_attn included)
  torch::Tensor mask; // cached causal mask for the unfused path ([T, T], true above the diagonal)
};
TORCH_MODULE(Attention);

// y = A · W_down φ(W_up x); for swiglu W_up holds gate and up ([2H, d]). The weights are
// the table's `up` and `down` groups (ffn_* or shared_*), registered under those names;
// A is the down group's multiplier (docs/method.md §11.7: per FFN kind).
struct DenseFfnImpl : torch::nn::Module {
  DenseFfnImpl(int d, int hidden, Activation act, double A, ParamGroup up, ParamGroup down);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor w_up, w_down;
  ParamGroup up_group, down_group;
  Activation act;
  double A;
};
TORCH_MODULE(DenseFfn);

// One router decision for T tokens (docs/method.md §11.5, §11.6).
struct Routing {
  torch::Tensor logits; // z [T, N]: x·W_rᵀ × the router multiplier
  torch::Tensor probs;  // [T, N]: σ(z) for the sigmoid kinds, softmax(z) for the softmax kinds
  torch::Tensor idx;    // [T, a]: the selected experts S
  torch::Tensor gates;  // [T, a]: π_i of the selected experts, in the order of idx
};

// docs/method.md §2 and §11.5-§11.9: a router picks a of N experts per token; the output is
// R·A·Σ_S π_i E_i(x) + the shared experts (their own A). Selection is top-a by score (by
// logit when neither an aux-free bias nor group-limited routing needs the scores: σ and
// softmax are monotone), top-a/g in each balanced group (§2), or top-a inside the
// topk_group best groups (group-limited, §11.6); the gate π follows router.gate (§11.5).
struct MoeFfnImpl : torch::nn::Module {
  // A: routed experts' output multiplier (the table's expert_down multiplier), R: route scale
  // (routed_scaling_factor included), router_mult: router logit multiplier (the table's
  // `router` group multiplier: 1/ρ_d under router_rule=readout, else 1), shared_A: the shared
  // experts' multiplier (shared_down's; absent = A).
  MoeFfnImpl(int d, const FfnSpec& f, Activation act, double A, double R, double router_mult = 1,
             std::optional<double> shared_A = std::nullopt);
  // x [..., d] -> [..., d]; records the router losses and expert counts of this forward.
  torch::Tensor forward(const torch::Tensor& x);
  // The router's choice for flat tokens [T, d] (no expert runs).
  Routing route(const torch::Tensor& flat) const;
  // Aux-loss-free balancing (§11.9): expert_bias += rate · sign(mean load − load) from the
  // last forward's per-expert token counts. No-op without bias_update_rate or a forward.
  void update_bias();
  torch::Tensor router;       // [N, d]
  torch::Tensor w_up, w_down; // [N, h·(1|2), d], [N, d, h]
  DenseFfn shared{nullptr};   // the n_s shared experts as one block of width n_s·h_s
  // [N] buffer (bias_update_rate > 0 only, else undefined): added to the scores for the
  // selection, never to a gate; not a parameter, in no optimizer group.
  torch::Tensor expert_bias;
  FfnSpec spec;
  Activation act;
  double A, R, router_mult;
  // Balanced groups renormalize their gates inside each group (the table's per_group_gates,
  // routing_normalization per_group, §9 row 9); renormalized gate kinds only.
  bool per_group_gates = false;
  torch::Tensor last_aux_loss;   // aux_loss_coef · load-balance loss of the last forward (0-dim)
  torch::Tensor last_z_loss;     // z_loss_coef · mean (logsumexp z)², last forward (0-dim)
  torch::Tensor last_counts;     // [N] int64 on the CPU: routed slots per expert, last forward
  std::vector<double> last_load; // fraction of routed slots per expert, last forward
};
TORCH_MODULE(MoeFfn);

// Block `index` of the model: an MoE FFN when ffn.moe_layer(index), else a dense FFN of
// width d_ff (dense model) or dense_d_ff (layered MoE model) in groups ffn_up/ffn_down
// (docs/method.md §11.7).
struct BlockImpl : torch::nn::Module {
  BlockImpl(const ModelSpec& m, const Parameterization& p, int index);
  torch::Tensor forward(const torch::Tensor& x);
  // When set, forward records its branch outputs (after r) as "attn" and "ffn".
  std::map<std::string, std::vector<torch::Tensor>>* capture = nullptr;
  Norm norm1{nullptr}, norm2{nullptr};
  Attention attn{nullptr};
  DenseFfn dense{nullptr};
  MoeFfn moe{nullptr};
  int index;
  double r; // residual branch multiplier
};
TORCH_MODULE(Block);

struct GptImpl : torch::nn::Module {
  GptImpl(const ModelSpec& m, const Parameterization& p);
  // tokens [B, T] (int64) -> logits [B, T, vocab]
  torch::Tensor forward(const torch::Tensor& tokens);
  // Sum over MoE blocks of the load-balance losses of the last forward (0 without MoE).
  torch::Tensor aux_loss() const;
  // Sum over MoE blocks of the router z-losses of the last forward (0 without MoE).
  torch::Tensor z_loss() const;
  // After an optimizer step: every MoE block's aux-free bias update (§11.9).
  void update_router_bias();
  std::vector<std::vector<double>> expert_load() const; // per MoE layer
  // Records activations of the next forwards: "embedding", per block "attn" and
  // "ffn" (branch outputs), "logits". Null stops recording. For coord-check.
  void set_capture(std::map<std::string, std::vector<torch::Tensor>>* c);

  // Each parameter with its table group; every parameter is in exactly one. In
  // named_parameters() order (the order initialize draws them in).
  std::vector<std::pair<ParamGroup, torch::Tensor>> grouped_parameters() const;
  // Normal(0, init_std of its group) for every weight, 1 for norm gains.
  void initialize(const Parameterization& p);

  // [V, d] each. Tied (§11.4): `unembedding` is undefined and the logits use `embedding`.
  torch::Tensor embedding, unembedding;
  std::vector<Block> blocks;
  Norm final_norm{nullptr};
  // The final norm's gain trains in `final_norm` when the table has that group (eps_rule
  // completep gives it its own ε), else with the blocks' gains in `norm`.
  ParamGroup final_norm_group = ParamGroup::kNorm;
  double embedding_multiplier; // the embedding group's multiplier (α_emb), on the input only
  double output_multiplier;    // on the logits (α_out included)
  ModelSpec spec;
  std::map<std::string, std::vector<torch::Tensor>>* capture = nullptr;
};
TORCH_MODULE(Gpt);

} // namespace mue::torch_backend
