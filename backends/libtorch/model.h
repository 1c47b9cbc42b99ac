#pragma once
// GPT with a dense or MoE FFN. Every init std and forward multiplier comes from
// the Parameterization table; the model decides no scale itself (docs/design.md).
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "spec/model_spec.h"
#include "transfer/parameterization.h"

namespace mue::torch_backend {

// φ of an FFN: gelu, relu, or swiglu (silu of the first half times the second half).
torch::Tensor activate(const torch::Tensor& h, Activation act);

// Pre-norm gain-only norm (RMSNorm or LayerNorm without bias).
struct NormImpl : torch::nn::Module {
  NormImpl(int d, NormKind kind);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor gain;
  NormKind kind;
};
TORCH_MODULE(Norm);

struct AttentionImpl : torch::nn::Module {
  AttentionImpl(const ModelSpec& m, double scale);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor w_qkv, w_out; // [3d, d], [d, d]
  int n_heads, d_head;
  double scale;
  torch::Tensor mask; // cached causal mask for the unfused path ([T, T], true above the diagonal)
};
TORCH_MODULE(Attention);

// y = A · W_down φ(W_up x); for swiglu W_up holds gate and up ([2H, d]). The weights are
// the table's `up` and `down` groups (ffn_* or shared_*), registered under those names.
struct DenseFfnImpl : torch::nn::Module {
  DenseFfnImpl(int d, int hidden, Activation act, double A, ParamGroup up, ParamGroup down);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor w_up, w_down;
  ParamGroup up_group, down_group;
  Activation act;
  double A;
};
TORCH_MODULE(DenseFfn);

// docs/method.md §2: sigmoid scores, top-a (top-a/g per group), gates normalized over the
// selected experts, routed sum × R, shared experts unscaled, every down × A.
struct MoeFfnImpl : torch::nn::Module {
  // A: expert output multiplier, R: route scale, router_mult: router logit multiplier (the
  // table's `router` group multiplier: 1/ρ_d under router_rule=readout, else 1).
  MoeFfnImpl(int d, const FfnSpec& f, Activation act, double A, double R, double router_mult = 1);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor router;       // [N, d]
  torch::Tensor w_up, w_down; // [N, h·(1|2), d], [N, d, h]
  DenseFfn shared{nullptr};   // the n_s shared experts as one block of width n_s·h_s
  FfnSpec spec;
  Activation act;
  double A, R, router_mult;
  torch::Tensor last_aux_loss;   // load-balance loss of the last forward (0-dim)
  std::vector<double> last_load; // fraction of routed slots per expert, last forward
};
TORCH_MODULE(MoeFfn);

struct BlockImpl : torch::nn::Module {
  BlockImpl(const ModelSpec& m, const Parameterization& p);
  torch::Tensor forward(const torch::Tensor& x);
  // When set, forward records its branch outputs (after r) as "attn" and "ffn".
  std::map<std::string, std::vector<torch::Tensor>>* capture = nullptr;
  Norm norm1{nullptr}, norm2{nullptr};
  Attention attn{nullptr};
  DenseFfn dense{nullptr};
  MoeFfn moe{nullptr};
  double r; // residual branch multiplier
};
TORCH_MODULE(Block);

struct GptImpl : torch::nn::Module {
  GptImpl(const ModelSpec& m, const Parameterization& p);
  // tokens [B, T] (int64) -> logits [B, T, vocab]
  torch::Tensor forward(const torch::Tensor& tokens);
  // Sum of the MoE load-balance losses of the last forward (0 without MoE).
  torch::Tensor aux_loss() const;
  std::vector<std::vector<double>> expert_load() const; // per MoE layer
  // Records activations of the next forwards: "embedding", per block "attn" and
  // "ffn" (branch outputs), "logits". Null stops recording. For coord-check.
  void set_capture(std::map<std::string, std::vector<torch::Tensor>>* c);

  // Each parameter with its table group; every parameter is in exactly one. In
  // named_parameters() order (the order initialize draws them in).
  std::vector<std::pair<ParamGroup, torch::Tensor>> grouped_parameters() const;
  // Normal(0, init_std of its group) for every weight, 1 for norm gains.
  void initialize(const Parameterization& p);

  torch::Tensor embedding, unembedding; // [V, d] each
  std::vector<Block> blocks;
  Norm final_norm{nullptr};
  // The final norm's gain trains in `final_norm` when the table has that group (eps_rule
  // completep gives it its own ε), else with the blocks' gains in `norm`.
  ParamGroup final_norm_group = ParamGroup::kNorm;
  double output_multiplier;
  ModelSpec spec;
  std::map<std::string, std::vector<torch::Tensor>>* capture = nullptr;
};
TORCH_MODULE(Gpt);

} // namespace mue::torch_backend
