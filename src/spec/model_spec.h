#pragma once
// ModelSpec: the transformer's shape (docs/design.md "Core types", docs/method.md §1-2).
#include <string>

#include "util/json.h"
#include "util/json_writer.h"

namespace mue {

enum class FfnKind { kDense, kMoe };
enum class Activation { kGelu, kRelu, kSwiglu };
enum class NormKind { kRmsNorm, kLayerNorm };

// How a router turns its scores z = x·W_r into the gates π_i of the selected experts S
// (docs/method.md §11.5). π₀ is a selected expert's gate at init (equal scores).
enum class GateKind {
  kSigmoidRenorm, // σ(z_i) / Σ_S σ(z_j): Complete-muE, DeepSeek-V3 (π₀ = 1/a)
  kSoftmaxRenorm, // softmax over S: Mixtral, Qwen3-MoE, DBRX, Granite-MoE (π₀ = 1/a)
  kSoftmax,       // softmax over all N, top-a kept as is: OLMoE, Switch (π₀ = 1/N)
  kSigmoid        // σ(z_i), not normalized: Llama-4 (π₀ = 1/2)
};

struct RouterSpec {
  GateKind gate = GateKind::kSigmoidRenorm;
  // The model's own constant on the routed sum (DeepSeek-V3 routed_scaling_factor 2.5);
  // multiplies muE's R = 1/π₀, not transferred.
  double routed_scaling_factor = 1.0;
  double aux_loss_coef = 0.0; // load-balance loss coefficient (not transferred)
  double z_loss_coef = 0.0;   // router z-loss coefficient: mean (logsumexp z)² (not transferred)
  // Aux-loss-free balancing (DeepSeek-V3): a per-expert bias added to the scores for the
  // top-a selection only (never to the gate values), moved by this much per step towards
  // equal load; 0 = off. Not an optimizer parameter, not transferred (§11.9).
  double bias_update_rate = 0.0;
  // Group-limited routing (DeepSeek-V3 n_group / topk_group, §11.6): the N experts form
  // n_group contiguous groups, the topk_group best groups are kept, then top-a among their
  // experts. 1/1 = off. Not the balanced groups of FfnSpec::groups.
  int n_group = 1;
  int topk_group = 1;

  bool renormalized() const {
    return gate == GateKind::kSigmoidRenorm || gate == GateKind::kSoftmaxRenorm;
  }
  bool group_limited() const { return n_group > 1; }
};

struct FfnSpec {
  FfnKind kind = FfnKind::kDense;
  int d_ff = 0; // dense: hidden width (for GLU, the post-gate width)
  // MoE (docs/method.md §1): N, a, h, n_s, h_s, g.
  int n_experts = 0;
  int active = 0;
  int d_expert = 0;
  int shared = 0;
  int d_shared = 0;
  int groups = 1; // balanced groups: a/g experts from every one of g groups (§2, §9.9)
  RouterSpec router;
  // Layer layout (docs/method.md §11.7), MoE only: the first `first_k_dense` blocks and,
  // after them, every block but each `moe_every`-th are dense FFNs of width `dense_d_ff`.
  // Block i (0-based) is MoE iff i >= first_k_dense and (i - first_k_dense + 1) % moe_every
  // == 0 (DeepSeek first_k_dense_replace; Llama-4 / Qwen interleave step). 0/1 = all MoE.
  int first_k_dense = 0;
  int moe_every = 1;
  int dense_d_ff = 0; // > 0 iff the layout has a dense block

  bool is_moe() const { return kind == FfnKind::kMoe; }
  // Whether block `layer` (0-based) has this MoE FFN; always false for a dense FFN.
  bool moe_layer(int layer) const;
  // Whether some of n_layers blocks are dense in an MoE model (the layout has dense blocks).
  bool has_dense_layers(int n_layers) const;
  // H_act: d_ff (dense), a·h + n_s·h_s (MoE).
  long long active_width() const;
  // Naming of docs/method.md §1, e.g. "128e8a4g1s" (groups and shared only when not default).
  std::string layout_name() const;
  // Empty, or why the router of this MoE cannot learn from the loss (docs/method.md §11.5): the
  // gates are renormalized over the selected experts, so one selected expert (a = 1, or a/g = 1
  // when `per_group` normalization renormalizes inside each group) always gets gate 1 and the
  // router's gradient from the loss is zero. `validate` and `transfer` print it as a warning.
  // Un-normalized gate kinds (softmax, sigmoid) never freeze.
  std::string degenerate_gate(bool per_group) const;
};

struct ModelSpec {
  int vocab = 0;
  int d_model = 0;
  int n_layers = 0;
  int n_heads = 0;
  int d_head = 0;
  // Key/value heads (GQA / MQA, §11.3); 0 = n_heads (multi-head attention). Divides n_heads.
  int n_kv_heads = 0;
  int seq_len = 0;
  FfnSpec ffn;
  NormKind norm = NormKind::kRmsNorm;
  Activation activation = Activation::kGelu;
  bool tie_embeddings = false; // one [vocab, d] matrix is embedding and unembedding (§11.4)
  bool qk_norm = false;        // RMSNorm of q and k over d_head before the scores (§11.8)

  // The attention's inner width n_heads·d_head (free, §11.2; d_model when not given apart).
  long long d_attn() const { return static_cast<long long>(n_heads) * d_head; }
  int kv_heads() const { return n_kv_heads > 0 ? n_kv_heads : n_heads; }
  // Blocks with an MoE FFN (n_layers for a uniform MoE model, 0 for a dense one).
  int moe_layers() const;
};

// Parses a model object. With `base`, absent fields inherit from it (a target's
// partial model); an `ffn` object, when present, is always complete on its own.
// With `partial` and no base, absent fields stay 0 ("unknown") and cross-field
// checks that need them are skipped (validating a targets file without its reference).
ModelSpec parse_model(const Json& j, const Where& where, const ModelSpec* base = nullptr,
                      bool partial = false);
FfnSpec parse_ffn(const Json& j, const Where& where);
// The JSON form, written by a streaming writer (the one definition; to_json parses it).
void write_json(JsonWriter& w, const ModelSpec& m);
void write_json(JsonWriter& w, const FfnSpec& f);
Json to_json(const ModelSpec& m);
Json to_json(const FfnSpec& f);

const char* to_string(Activation a);
const char* to_string(NormKind n);
const char* to_string(GateKind g);

} // namespace mue
