#include "model.h"

#include <torch/version.h>

#include <cmath>
#include <limits>

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

const GroupParams& table_group(const Parameterization& p, ParamGroup g) {
  auto it = p.groups.find(g);
  if (it == p.groups.end())
    throw RuntimeError(std::string("the table has no group '") + to_string(g) +
                       "' that the model needs");
  return it->second;
}

namespace {
int up_rows(int hidden, Activation act) {
  return act == Activation::kSwiglu ? 2 * hidden : hidden;
}

// RMSNorm over the last dimension with gain g (broadcast), eps 1e-6.
torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& g) {
  return x * torch::rsqrt(x.pow(2).mean(-1, true) + 1e-6) * g;
}
} // namespace

NormImpl::NormImpl(int d, NormKind k) : kind(k) {
  gain = register_parameter("gain", torch::ones({d}));
}

torch::Tensor NormImpl::forward(const torch::Tensor& x) {
  if (kind == NormKind::kRmsNorm) return rms_norm(x, gain);
  auto mu = x.mean(-1, true);
  auto var = (x - mu).pow(2).mean(-1, true);
  return (x - mu) * torch::rsqrt(var + 1e-5) * gain;
}

AttentionImpl::AttentionImpl(const ModelSpec& m, double s)
    : n_heads(m.n_heads), kv_heads(m.kv_heads()), d_head(m.d_head), scale(s) {
  const int64_t rows = static_cast<int64_t>(n_heads + 2 * kv_heads) * d_head;
  w_qkv = register_parameter("w_qkv", torch::empty({rows, m.d_model}));
  w_out = register_parameter("w_out", torch::empty({m.d_model, m.d_attn()}));
  if (m.qk_norm) {
    q_norm = register_parameter("q_norm", torch::ones({d_head}));
    k_norm = register_parameter("k_norm", torch::ones({d_head}));
  }
}

std::array<torch::Tensor, 3> AttentionImpl::heads(const torch::Tensor& x) {
  const int64_t B = x.size(0), T = x.size(1), H = n_heads, KV = kv_heads;
  // [B, T, H + 2·KV, dh] -> [B, H + 2·KV, T, dh]; the q, k and v heads are slices of it (with
  // KV = H the same views as [B, T, 3, H, dh] permuted).
  auto all = torch::linear(x, w_qkv).view({B, T, H + 2 * KV, d_head}).transpose(1, 2);
  auto q = all.narrow(1, 0, H), k = all.narrow(1, H, KV), v = all.narrow(1, H + KV, KV);
  if (q_norm.defined()) { // §11.8: before the scores, per head, before k is shared out
    q = rms_norm(q, q_norm);
    k = rms_norm(k, k_norm);
  }
  if (KV != H) { // §11.3: query head h reads key/value head h / (H / KV)
    k = k.repeat_interleave(H / KV, 1);
    v = v.repeat_interleave(H / KV, 1);
  }
  return {q, k, v};
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x) {
  const int64_t B = x.size(0), T = x.size(1);
  auto [q, k, v] = heads(x);
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
  y = y.transpose(1, 2).reshape({B, T, static_cast<int64_t>(n_heads) * d_head});
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
                       double router_multiplier, std::optional<double> shared_A)
    : spec(f), act(a), A(mult), R(route), router_mult(router_multiplier) {
  router = register_parameter(to_string(ParamGroup::kRouter), torch::empty({f.n_experts, d}));
  w_up = register_parameter(to_string(ParamGroup::kExpertUp),
                            torch::empty({f.n_experts, up_rows(f.d_expert, a), d}));
  w_down = register_parameter(to_string(ParamGroup::kExpertDown),
                              torch::empty({f.n_experts, d, f.d_expert}));
  if (f.shared > 0)
    shared =
        register_module("shared", DenseFfn(d, f.shared * f.d_shared, a, shared_A.value_or(mult),
                                           ParamGroup::kSharedUp, ParamGroup::kSharedDown));
  if (f.router.bias_update_rate > 0)
    expert_bias = register_buffer("expert_bias", torch::zeros({f.n_experts}));
}

Routing MoeFfnImpl::route(const torch::Tensor& flat) const {
  const RouterSpec& q = spec.router;
  const int64_t T = flat.size(0), N = spec.n_experts, a = spec.active, g = spec.groups;
  Routing r;
  r.logits = torch::linear(flat, router);                  // [T, N]
  if (router_mult != 1) r.logits = r.logits * router_mult; // router_rule=readout: × 1/ρ_d
  const bool sigmoid_kind = q.gate == GateKind::kSigmoidRenorm || q.gate == GateKind::kSigmoid;
  r.probs = sigmoid_kind ? torch::sigmoid(r.logits) : r.logits.softmax(-1);
  // What the top-a ranks: the logits when the order is all that matters (as before the gate
  // kinds, so those runs are unchanged); the scores when a bias is added to them or group
  // scores sum them.
  torch::Tensor key = r.logits;
  if (expert_bias.defined() || q.group_limited()) {
    torch::NoGradGuard no_grad; // the selection is discrete: no gradient flows through it
    key = expert_bias.defined() ? r.probs + expert_bias : r.probs.clone();
  }
  if (q.group_limited()) { // §11.6
    torch::NoGradGuard no_grad;
    const int64_t G = q.n_group, per = N / G;
    auto by_group = key.view({T, G, per});
    // A group's score: the sum of its top-2 scores (its only score when it has one expert).
    auto group_score = std::get<0>(by_group.topk(std::min<int64_t>(2, per), -1)).sum(-1);
    auto best = std::get<1>(group_score.topk(q.topk_group, -1)); // [T, topk_group]
    auto kept = torch::zeros({T, G}, key.options().dtype(torch::kBool)).scatter_(1, best, true);
    key = key.masked_fill(kept.logical_not().unsqueeze(-1).expand({T, G, per}).reshape({T, N}),
                          -std::numeric_limits<double>::infinity());
  }
  // Top-a; with balanced groups, top-(a/g) inside each contiguous block of N/g (§2).
  if (g == 1) {
    r.idx = std::get<1>(key.topk(a, -1));
  } else {
    auto per = std::get<1>(key.view({T, g, N / g}).topk(a / g, -1)); // [T, g, a/g]
    auto offset = torch::arange(g, per.options()).mul(N / g).view({1, g, 1});
    r.idx = (per + offset).reshape({T, a});
  }
  // Renormalized kinds normalize over all a selected experts, or over each balanced group's
  // a/g (per_group_gates): idx lists the groups' selections in contiguous blocks of a/g.
  const int64_t norm_over = per_group_gates && g > 1 ? a / g : a;
  switch (q.gate) { // §11.5
  case GateKind::kSigmoidRenorm: {
    auto sel = r.probs.gather(1, r.idx).view({T, a / norm_over, norm_over}); // σ(z_i)/Σ σ(z_j)
    r.gates = (sel / sel.sum(-1, true)).reshape({T, a});
    break;
  }
  case GateKind::kSoftmaxRenorm: // softmax over the selected logits
    r.gates =
        r.logits.gather(1, r.idx).view({T, a / norm_over, norm_over}).softmax(-1).reshape({T, a});
    break;
  case GateKind::kSoftmax: // softmax over all N, taken at S as is
  case GateKind::kSigmoid: // σ(z_i) as is
    r.gates = r.probs.gather(1, r.idx);
    break;
  }
  return r;
}

torch::Tensor MoeFfnImpl::forward(const torch::Tensor& x) {
  const auto shape = x.sizes().vec();
  auto flat = x.reshape({-1, shape.back()}); // [T, d]
  const int64_t T = flat.size(0), N = spec.n_experts, a = spec.active;
  const Routing rt = route(flat);
  // Dispatch: (token, expert) pairs sorted by expert, one matmul pair per expert.
  auto expert_of = rt.idx.reshape({-1}); // [T·a]
  auto token_of = torch::arange(T, rt.idx.options()).repeat_interleave(a);
  auto weight_of = rt.gates.reshape({-1});
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
  last_counts = counts;
  if (R * A != 1) out = out * (R * A);
  if (shared) out = out + shared->forward(flat);
  const RouterSpec& q = spec.router;
  // Load-balance loss (Switch-style): N · Σ_i f_i · P_i, P the scores normalized over all N.
  if (q.aux_loss_coef > 0) {
    auto f = counts.to(flat.device(), flat.scalar_type()) / static_cast<double>(T * a);
    const bool softmax_kind = q.gate == GateKind::kSoftmaxRenorm || q.gate == GateKind::kSoftmax;
    auto P = (softmax_kind ? rt.probs : rt.probs / rt.probs.sum(-1, true)).mean(0);
    last_aux_loss = q.aux_loss_coef * N * (f * P).sum();
  } else {
    last_aux_loss = torch::zeros({}, flat.options());
  }
  // Router z-loss (§11.9): mean over tokens of (logsumexp over N of z)².
  if (q.z_loss_coef > 0)
    last_z_loss = q.z_loss_coef * rt.logits.logsumexp(-1).pow(2).mean();
  else
    last_z_loss = torch::zeros({}, flat.options());
  return out.view(shape);
}

void MoeFfnImpl::update_bias() {
  if (!expert_bias.defined() || !last_counts.defined()) return;
  torch::NoGradGuard no_grad;
  auto load = last_counts.to(expert_bias.device(), expert_bias.scalar_type());
  // Underloaded experts (below the mean) gain rate, overloaded ones lose it.
  expert_bias.add_(torch::sign(load.mean() - load), spec.router.bias_update_rate);
}

BlockImpl::BlockImpl(const ModelSpec& m, const Parameterization& p, int i)
    : index(i), r(p.scalars.residual_multiplier.value) {
  norm1 = register_module("norm1", Norm(m.d_model, m.norm));
  norm2 = register_module("norm2", Norm(m.d_model, m.norm));
  attn = register_module("attn", Attention(m, p.scalars.attention_scale.value));
  if (m.ffn.moe_layer(i)) {
    const FfnSpec& f = m.ffn;
    std::optional<double> shared_A;
    if (f.shared > 0) shared_A = table_group(p, ParamGroup::kSharedDown).multiplier.value;
    moe = register_module("moe",
                          MoeFfn(m.d_model, f, m.activation,
                                 table_group(p, ParamGroup::kExpertDown).multiplier.value,
                                 p.scalars.route_scale.value,
                                 table_group(p, ParamGroup::kRouter).multiplier.value, shared_A));
    moe->per_group_gates = p.per_group_gates;
  } else {
    const int width = m.ffn.is_moe() ? m.ffn.dense_d_ff : m.ffn.d_ff;
    dense = register_module("ffn", DenseFfn(m.d_model, width, m.activation,
                                            table_group(p, ParamGroup::kFfnDown).multiplier.value,
                                            ParamGroup::kFfnUp, ParamGroup::kFfnDown));
  }
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
      embedding_multiplier(table_group(p, ParamGroup::kEmbedding).multiplier.value),
      output_multiplier(p.scalars.output_multiplier.value), spec(m) {
  embedding =
      register_parameter(to_string(ParamGroup::kEmbedding), torch::empty({m.vocab, m.d_model}));
  for (int i = 0; i < m.n_layers; ++i)
    blocks.push_back(register_module("block" + std::to_string(i), Block(m, p, i)));
  final_norm = register_module("final_norm", Norm(m.d_model, m.norm));
  if (!m.tie_embeddings)
    unembedding =
        register_parameter(to_string(ParamGroup::kUnembedding), torch::empty({m.vocab, m.d_model}));
}

torch::Tensor GptImpl::forward(const torch::Tensor& tokens) {
  auto x =
      embedding.index_select(0, tokens.reshape({-1})).view({tokens.size(0), tokens.size(1), -1});
  if (embedding_multiplier != 1) x = x * embedding_multiplier; // α_emb, the input side only
  if (capture) (*capture)["embedding"].push_back(x.detach());
  for (auto& b : blocks)
    x = b->forward(x);
  // Tied (§11.4): the embedding matrix is the unembedding too.
  auto logits =
      torch::linear(final_norm->forward(x), spec.tie_embeddings ? embedding : unembedding);
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

torch::Tensor GptImpl::z_loss() const {
  torch::Tensor total = torch::zeros({}, embedding.options());
  for (const auto& b : blocks)
    if (b->moe && b->moe->last_z_loss.defined()) total = total + b->moe->last_z_loss;
  return total;
}

void GptImpl::update_router_bias() {
  for (auto& b : blocks)
    if (b->moe) b->moe->update_bias();
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
  std::vector<std::pair<ParamGroup, torch::Tensor>> out = {{ParamGroup::kEmbedding, embedding}};
  if (unembedding.defined()) out.emplace_back(ParamGroup::kUnembedding, unembedding);
  auto dense_ffn = [&](const DenseFfn& f) {
    out.emplace_back(f->up_group, f->w_up);
    out.emplace_back(f->down_group, f->w_down);
  };
  for (const auto& b : blocks) {
    out.emplace_back(ParamGroup::kNorm, b->norm1->gain);
    out.emplace_back(ParamGroup::kNorm, b->norm2->gain);
    out.emplace_back(ParamGroup::kAttnQkv, b->attn->w_qkv);
    out.emplace_back(ParamGroup::kAttnOut, b->attn->w_out);
    if (b->attn->q_norm.defined()) { // §11.8: QK-norm gains are norm gains
      out.emplace_back(ParamGroup::kNorm, b->attn->q_norm);
      out.emplace_back(ParamGroup::kNorm, b->attn->k_norm);
    }
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
    const GroupParams& g = table_group(p, group);
    if (is_norm_gain(group))
      t.fill_(1.0);
    else
      t.normal_(0.0, g.init_std.value);
  }
}

} // namespace mue::torch_backend
