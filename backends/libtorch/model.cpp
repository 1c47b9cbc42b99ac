#include "model.h"

#include <torch/version.h>

#include <cmath>

#include "util/error.h"

namespace mue::torch_backend {

torch::Tensor activate(const torch::Tensor& h, Activation act) {
  switch (act) {
  case Activation::kGelu:
    return torch::gelu(h);
  case Activation::kRelu:
    return torch::relu(h);
  case Activation::kSwiglu: {
    auto parts = h.chunk(2, -1);
    return torch::silu(parts[0]) * parts[1];
  }
  }
  return h;
}

namespace {
int up_rows(int hidden, Activation act) {
  return act == Activation::kSwiglu ? 2 * hidden : hidden;
}
} // namespace

NormImpl::NormImpl(int d, NormKind k) : kind(k) {
  gain = register_parameter("gain", torch::ones({d}));
}

torch::Tensor NormImpl::forward(const torch::Tensor& x) {
  if (kind == NormKind::kRmsNorm) return x * torch::rsqrt(x.pow(2).mean(-1, true) + 1e-6) * gain;
  auto mu = x.mean(-1, true);
  auto var = (x - mu).pow(2).mean(-1, true);
  return (x - mu) * torch::rsqrt(var + 1e-5) * gain;
}

AttentionImpl::AttentionImpl(const ModelSpec& m, double s)
    : n_heads(m.n_heads), d_head(m.d_head), scale(s) {
  w_qkv = register_parameter("w_qkv", torch::empty({3 * m.d_model, m.d_model}));
  w_out = register_parameter("w_out", torch::empty({m.d_model, m.d_model}));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x) {
  const auto B = x.size(0), T = x.size(1), D = x.size(2);
  auto qkv = torch::linear(x, w_qkv).view({B, T, 3, n_heads, d_head}).permute({2, 0, 3, 1, 4});
  auto q = qkv[0], k = qkv[1], v = qkv[2]; // [B, H, T, dh]
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
  // Fused kernel (flash / memory-efficient on CUDA, flash on CPU) with the table's scale.
  auto y = at::scaled_dot_product_attention(q, k, v, {}, 0.0, /*is_causal=*/true, scale);
#else
  // torch < 2.1 has no public fused attention taking a custom scale: explicit softmax path.
  if (!mask.defined() || mask.size(0) != T || mask.device() != x.device())
    mask =
        torch::ones({T, T}, torch::TensorOptions().dtype(torch::kBool).device(x.device())).triu(1);
  auto att = torch::matmul(q, k.transpose(-2, -1)) * scale;
  att = att.masked_fill(mask, -std::numeric_limits<float>::infinity()).softmax(-1);
  auto y = torch::matmul(att, v);
#endif
  y = y.transpose(1, 2).reshape({B, T, D});
  return torch::linear(y, w_out);
}

DenseFfnImpl::DenseFfnImpl(int d, int hidden, Activation a, double mult, ParamGroup up,
                           ParamGroup down)
    : up_group(up), down_group(down), act(a), A(mult) {
  w_up = register_parameter(to_string(up), torch::empty({up_rows(hidden, a), d}));
  w_down = register_parameter(to_string(down), torch::empty({d, hidden}));
}

torch::Tensor DenseFfnImpl::forward(const torch::Tensor& x) {
  auto y = torch::linear(activate(torch::linear(x, w_up), act), w_down);
  return A == 1 ? y : y * A; // a multiplier of exactly 1 is not worth a pass over memory
}

MoeFfnImpl::MoeFfnImpl(int d, const FfnSpec& f, Activation a, double mult, double route,
                       double router_multiplier)
    : spec(f), act(a), A(mult), R(route), router_mult(router_multiplier) {
  router = register_parameter(to_string(ParamGroup::kRouter), torch::empty({f.n_experts, d}));
  w_up = register_parameter(to_string(ParamGroup::kExpertUp),
                            torch::empty({f.n_experts, up_rows(f.d_expert, a), d}));
  w_down = register_parameter(to_string(ParamGroup::kExpertDown),
                              torch::empty({f.n_experts, d, f.d_expert}));
  if (f.shared > 0)
    shared = register_module("shared", DenseFfn(d, f.shared * f.d_shared, a, mult,
                                                ParamGroup::kSharedUp, ParamGroup::kSharedDown));
}

torch::Tensor MoeFfnImpl::forward(const torch::Tensor& x) {
  const auto shape = x.sizes().vec();
  auto flat = x.reshape({-1, shape.back()}); // [T, d]
  const int64_t T = flat.size(0), N = spec.n_experts, a = spec.active, g = spec.groups;
  auto logits = torch::linear(flat, router);           // [T, N]
  if (router_mult != 1) logits = logits * router_mult; // router_rule=readout: × 1/ρ_d
  auto scores = torch::sigmoid(logits);
  // Top-a by logit; with groups, top-(a/g) inside each contiguous block of N/g.
  torch::Tensor idx;
  if (g == 1) {
    idx = std::get<1>(logits.topk(a, -1));
  } else {
    auto per = std::get<1>(logits.view({T, g, N / g}).topk(a / g, -1)); // [T, g, a/g]
    auto offset = torch::arange(g, per.options()).mul(N / g).view({1, g, 1});
    idx = (per + offset).reshape({T, a});
  }
  auto sel = scores.gather(1, idx);     // [T, a]
  auto gates = sel / sel.sum(-1, true); // normalized over the selected
  // Dispatch: (token, expert) pairs sorted by expert, one matmul pair per expert.
  auto expert_of = idx.reshape({-1}); // [T·a]
  auto token_of = torch::arange(T, idx.options()).repeat_interleave(a);
  auto weight_of = gates.reshape({-1});
  auto order = expert_of.argsort();
  auto counts = torch::bincount(expert_of, /*weights=*/{}, N).to(torch::kCPU);
  auto sorted_tokens = token_of.index_select(0, order);
  auto sorted_weights = weight_of.index_select(0, order);
  auto out = torch::zeros_like(flat);
  const auto* c = counts.data_ptr<int64_t>();
  int64_t start = 0;
  last_load.assign(N, 0.0);
  for (int64_t e = 0; e < N; ++e) {
    const int64_t n = c[e];
    last_load[e] = static_cast<double>(n) / static_cast<double>(T * a);
    if (n == 0) continue;
    auto tok = sorted_tokens.narrow(0, start, n);
    auto h = activate(torch::matmul(flat.index_select(0, tok), w_up[e].t()), act);
    auto y = torch::matmul(h, w_down[e].t()) * sorted_weights.narrow(0, start, n).unsqueeze(1);
    out.index_add_(0, tok, y);
    start += n;
  }
  if (R * A != 1) out = out * (R * A);
  if (shared) out = out + shared->forward(flat);
  // Load-balance loss (Switch-style): N · Σ_i f_i · P_i with P from scores normalized over all.
  if (spec.router.aux_loss_coef > 0) {
    auto f = counts.to(flat.device(), flat.scalar_type()) / static_cast<double>(T * a);
    auto P = (scores / scores.sum(-1, true)).mean(0);
    last_aux_loss = spec.router.aux_loss_coef * N * (f * P).sum();
  } else {
    last_aux_loss = torch::zeros({}, flat.options());
  }
  return out.view(shape);
}

BlockImpl::BlockImpl(const ModelSpec& m, const Parameterization& p)
    : r(p.scalars.residual_multiplier.value) {
  norm1 = register_module("norm1", Norm(m.d_model, m.norm));
  norm2 = register_module("norm2", Norm(m.d_model, m.norm));
  attn = register_module("attn", Attention(m, p.scalars.attention_scale.value));
  const double A = p.scalars.A.value;
  if (m.ffn.is_moe())
    moe = register_module("moe",
                          MoeFfn(m.d_model, m.ffn, m.activation, A, p.scalars.route_scale.value,
                                 p.groups.at(ParamGroup::kRouter).multiplier.value));
  else
    dense = register_module("ffn", DenseFfn(m.d_model, m.ffn.d_ff, m.activation, A,
                                            ParamGroup::kFfnUp, ParamGroup::kFfnDown));
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x) {
  auto a = attn->forward(norm1->forward(x));
  if (r != 1) a = a * r;
  auto h = x + a;
  auto f = norm2->forward(h);
  auto y = moe ? moe->forward(f) : dense->forward(f);
  if (r != 1) y = y * r;
  if (capture) {
    (*capture)["attn"].push_back(a.detach());
    (*capture)["ffn"].push_back(y.detach());
  }
  return h + y;
}

GptImpl::GptImpl(const ModelSpec& m, const Parameterization& p)
    : final_norm_group(p.groups.count(ParamGroup::kFinalNorm) ? ParamGroup::kFinalNorm
                                                              : ParamGroup::kNorm),
      output_multiplier(p.scalars.output_multiplier.value), spec(m) {
  embedding =
      register_parameter(to_string(ParamGroup::kEmbedding), torch::empty({m.vocab, m.d_model}));
  for (int i = 0; i < m.n_layers; ++i)
    blocks.push_back(register_module("block" + std::to_string(i), Block(m, p)));
  final_norm = register_module("final_norm", Norm(m.d_model, m.norm));
  unembedding =
      register_parameter(to_string(ParamGroup::kUnembedding), torch::empty({m.vocab, m.d_model}));
}

torch::Tensor GptImpl::forward(const torch::Tensor& tokens) {
  auto x =
      embedding.index_select(0, tokens.reshape({-1})).view({tokens.size(0), tokens.size(1), -1});
  if (capture) (*capture)["embedding"].push_back(x.detach());
  for (auto& b : blocks)
    x = b->forward(x);
  auto logits = torch::linear(final_norm->forward(x), unembedding);
  if (output_multiplier != 1) logits = logits * output_multiplier;
  if (capture) (*capture)["logits"].push_back(logits.detach());
  return logits;
}

void GptImpl::set_capture(std::map<std::string, std::vector<torch::Tensor>>* c) {
  capture = c;
  for (auto& b : blocks)
    b->capture = c;
}

torch::Tensor GptImpl::aux_loss() const {
  torch::Tensor total = torch::zeros({}, embedding.options());
  for (const auto& b : blocks)
    if (b->moe && b->moe->last_aux_loss.defined()) total = total + b->moe->last_aux_loss;
  return total;
}

std::vector<std::vector<double>> GptImpl::expert_load() const {
  std::vector<std::vector<double>> out;
  for (const auto& b : blocks)
    if (b->moe) out.push_back(b->moe->last_load);
  return out;
}

std::vector<std::pair<ParamGroup, torch::Tensor>> GptImpl::grouped_parameters() const {
  // From the typed members, in the order named_parameters() lists them (a module's own
  // parameters, then its submodules' in registration order); a test checks the two agree.
  std::vector<std::pair<ParamGroup, torch::Tensor>> out = {{ParamGroup::kEmbedding, embedding},
                                                           {ParamGroup::kUnembedding, unembedding}};
  auto dense_ffn = [&](const DenseFfn& f) {
    out.emplace_back(f->up_group, f->w_up);
    out.emplace_back(f->down_group, f->w_down);
  };
  for (const auto& b : blocks) {
    out.emplace_back(ParamGroup::kNorm, b->norm1->gain);
    out.emplace_back(ParamGroup::kNorm, b->norm2->gain);
    out.emplace_back(ParamGroup::kAttnQkv, b->attn->w_qkv);
    out.emplace_back(ParamGroup::kAttnOut, b->attn->w_out);
    if (b->moe) {
      out.emplace_back(ParamGroup::kRouter, b->moe->router);
      out.emplace_back(ParamGroup::kExpertUp, b->moe->w_up);
      out.emplace_back(ParamGroup::kExpertDown, b->moe->w_down);
      if (b->moe->shared) dense_ffn(b->moe->shared);
    } else {
      dense_ffn(b->dense);
    }
  }
  out.emplace_back(final_norm_group, final_norm->gain);
  return out;
}

void GptImpl::initialize(const Parameterization& p) {
  torch::NoGradGuard no_grad;
  for (auto& [group, t] : grouped_parameters()) {
    auto it = p.groups.find(group);
    if (it == p.groups.end())
      throw RuntimeError(std::string("the table has no group '") + to_string(group) + "'");
    if (is_norm_gain(group))
      t.fill_(1.0);
    else
      t.normal_(0.0, it->second.init_std.value);
  }
}

} // namespace mue::torch_backend
