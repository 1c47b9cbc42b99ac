#include "fused.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>

#include "data.h"
#include "loop.h"
#include "model.h"
#include "optim.h"
#include "runtime_info.h"
#include "sweep/worker.h"
#include "trainer.h"
#include "transfer/transfer.h"
#include "util/error.h"

namespace mue::torch_backend {
namespace {

namespace F = torch::nn::functional;

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// x [K, N, d], gain [K, d].
torch::Tensor norm(const torch::Tensor& x, const torch::Tensor& gain, NormKind kind) {
  const auto g = gain.unsqueeze(1);
  if (kind == NormKind::kRmsNorm) return x * torch::rsqrt(x.pow(2).mean(-1, true) + 1e-6) * g;
  auto mu = x.mean(-1, true);
  auto var = (x - mu).pow(2).mean(-1, true);
  return (x - mu) * torch::rsqrt(var + 1e-5) * g;
}

// y = x W^T per trial: x [K, N, in], w [K, out, in].
torch::Tensor kmm(const torch::Tensor& x, const torch::Tensor& w) {
  return torch::bmm(x, w.transpose(1, 2));
}

// A per-trial vector shaped to broadcast against a [K, ...] tensor of `dims` dimensions.
torch::Tensor per_trial(const std::vector<double>& v, std::int64_t dims,
                        const torch::TensorOptions& o) {
  std::vector<std::int64_t> shape(static_cast<std::size_t>(dims), 1);
  shape[0] = static_cast<std::int64_t>(v.size());
  return torch::tensor(v, o.dtype(torch::kFloat64)).to(o.dtype()).view(shape);
}

// One stacked weight: [K, ...] with its AdamW moments, and the table group whose lr, wd
// and eps it trains with (per trial).
struct Stacked {
  ParamGroup group = ParamGroup::kEmbedding;
  torch::Tensor w, m, v;       // [K, ...]
  std::vector<double> base_lr; // per trial, before the schedule
  torch::Tensor wd, eps;       // per trial, shaped to broadcast against w
};

struct StackedBlock {
  Stacked norm1, w_qkv, w_out, norm2, ffn_up, ffn_down;
};

// The stacked model, built from the Gpt's typed members: renaming a module is a compile
// error here, not a failed lookup at run time.
struct StackedWeights {
  Stacked embedding, unembedding, final_norm;
  std::vector<StackedBlock> blocks;
  // Every weight once, in the order named_parameters() lists the Gpt's (the order the
  // gradient norm for clipping sums them in).
  std::vector<Stacked*> all() {
    std::vector<Stacked*> out = {&embedding, &unembedding};
    for (auto& b : blocks)
      for (Stacked* s : {&b.norm1, &b.norm2, &b.w_qkv, &b.w_out, &b.ffn_up, &b.ffn_down})
        out.push_back(s);
    out.push_back(&final_norm);
    return out;
  }
};

// The stacked model and its optimizer state; one step trains every live trial.
class Pack : public TrialModels {
public:
  Pack(const std::vector<TrialSpec>& specs, const std::string& file) {
    const RunConfig& c0 = specs.front().config;
    device_ = torch::Device(resolve_device(specs.front().device));
    torch::set_num_threads(specs.front().threads);
    K_ = static_cast<std::int64_t>(specs.size());
    for (const auto& s : specs)
      tables_.push_back(table_for(s.config, file));
    const Parameterization& t0 = tables_.front();
    // The forward multipliers the stacked model applies: every trial's must be the same.
    auto mult = [](const Parameterization& t, ParamGroup g) {
      return table_group(t, g).multiplier.value;
    };
    for (const auto& t : tables_)
      if (mult(t, ParamGroup::kFfnDown) != mult(t0, ParamGroup::kFfnDown) ||
          mult(t, ParamGroup::kEmbedding) != mult(t0, ParamGroup::kEmbedding) ||
          t.scalars.attention_scale.value != t0.scalars.attention_scale.value ||
          t.scalars.residual_multiplier.value != t0.scalars.residual_multiplier.value ||
          t.scalars.output_multiplier.value != t0.scalars.output_multiplier.value ||
          t.optimizer.beta1() != t0.optimizer.beta1() ||
          t.optimizer.beta2() != t0.optimizer.beta2())
        throw RuntimeError(
            "fused pack: the trials' tables differ in more than lr, wd, init std and eps");
    m_ = c0.model;
    // What the stacked forward implements: a dense FFN, multi-head attention of width d_model
    // without QK-norm, untied embeddings (pack_key keys the rest out).
    if (m_.ffn.kind != FfnKind::kDense || m_.kv_heads() != m_.n_heads ||
        m_.d_attn() != m_.d_model || m_.qk_norm || m_.tie_embeddings)
      throw RuntimeError("fused pack: only dense-FFN models with multi-head attention of width "
                         "d_model, no QK-norm and untied embeddings can be fused");
    A_ = mult(t0, ParamGroup::kFfnDown);
    emb_mult_ = mult(t0, ParamGroup::kEmbedding);
    r_ = t0.scalars.residual_multiplier.value;
    scale_ = t0.scalars.attention_scale.value;
    out_mult_ = t0.scalars.output_multiplier.value;
    beta1_ = t0.optimizer.beta1();
    beta2_ = t0.optimizer.beta2();
    clip_ = c0.train.optimizer.grad_clip;
    // Each trial initialized exactly as a separate run would be (its seed, its table),
    // then stacked.
    std::vector<Gpt> models;
    for (std::int64_t k = 0; k < K_; ++k) {
      torch::manual_seed(specs[static_cast<std::size_t>(k)].config.train.seed);
      models.emplace_back(m_, tables_[static_cast<std::size_t>(k)]);
      models.back()->initialize(tables_[static_cast<std::size_t>(k)]);
    }
    auto stack = [&](ParamGroup group, const std::function<torch::Tensor(const GptImpl&)>& get) {
      std::vector<torch::Tensor> slices;
      for (const auto& g : models)
        slices.push_back(get(*g).detach());
      Stacked s;
      s.group = group;
      s.w = torch::stack(slices).to(device_).set_requires_grad(true);
      s.m = torch::zeros_like(s.w);
      s.v = torch::zeros_like(s.w);
      std::vector<double> wd, eps;
      for (const auto& t : tables_) {
        const GroupParams& g = t.groups.at(group);
        s.base_lr.push_back(g.lr.value);
        wd.push_back(g.wd.value);
        eps.push_back(g.eps.value);
      }
      s.wd = per_trial(wd, s.w.dim(), s.w.options());
      s.eps = per_trial(eps, s.w.dim(), s.w.options());
      return s;
    };
    W_.embedding = stack(ParamGroup::kEmbedding, [](const GptImpl& g) { return g.embedding; });
    W_.unembedding =
        stack(ParamGroup::kUnembedding, [](const GptImpl& g) { return g.unembedding; });
    for (std::size_t l = 0; l < static_cast<std::size_t>(m_.n_layers); ++l) {
      StackedBlock b;
      auto block = [l](const GptImpl& g) -> const BlockImpl& { return *g.blocks[l]; };
      b.norm1 = stack(ParamGroup::kNorm, [&](const GptImpl& g) { return block(g).norm1->gain; });
      b.norm2 = stack(ParamGroup::kNorm, [&](const GptImpl& g) { return block(g).norm2->gain; });
      b.w_qkv = stack(ParamGroup::kAttnQkv, [&](const GptImpl& g) { return block(g).attn->w_qkv; });
      b.w_out = stack(ParamGroup::kAttnOut, [&](const GptImpl& g) { return block(g).attn->w_out; });
      const DenseFfn& ffn0 = models.front()->blocks[l]->dense;
      b.ffn_up = stack(ffn0->up_group, [&](const GptImpl& g) { return block(g).dense->w_up; });
      b.ffn_down =
          stack(ffn0->down_group, [&](const GptImpl& g) { return block(g).dense->w_down; });
      W_.blocks.push_back(std::move(b));
    }
    W_.final_norm = stack(models.front()->final_norm_group,
                          [](const GptImpl& g) { return g.final_norm->gain; });
    params_ = W_.all();
    // A weight the Gpt gained but the stacked model lacks would silently stay untrained.
    if (params_.size() != models.front()->parameters().size())
      throw RuntimeError("fused pack: the stacked model has " + std::to_string(params_.size()) +
                         " weights, the Gpt " +
                         std::to_string(models.front()->parameters().size()));
    live_.assign(static_cast<std::size_t>(K_), true);
  }

  Pack(const Pack&) = delete; // params_ points into W_
  Pack& operator=(const Pack&) = delete;

  const Parameterization& table(std::size_t k) const { return tables_[k]; }

  std::size_t size() const override { return static_cast<std::size_t>(K_); }
  torch::Device device() const override { return device_; }

  // Per-trial mean cross-entropy of next-token prediction, [K].
  torch::Tensor forward_losses(const torch::Tensor& batch) {
    const std::int64_t B = batch.size(0), T = m_.seq_len, V = m_.vocab, D = m_.d_model;
    const std::int64_t N = B * T, H = m_.n_heads, dh = m_.d_head;
    auto tok = batch.narrow(1, 0, T).reshape({-1});
    auto x = W_.embedding.w.index_select(1, tok); // [K, N, D]
    if (emb_mult_ != 1) x = x * emb_mult_;        // α_emb
    if (!mask_.defined() || mask_.size(0) != T)
      mask_ =
          torch::ones({T, T}, torch::TensorOptions().dtype(torch::kBool).device(device_)).triu(1);
    for (const StackedBlock& b : W_.blocks) {
      auto qkv = kmm(norm(x, b.norm1.w, m_.norm), b.w_qkv.w)
                     .view({K_, B, T, 3, H, dh})
                     .permute({3, 0, 1, 4, 2, 5})
                     .reshape({3, K_ * B, H, T, dh});
      auto att = torch::matmul(qkv[0], qkv[1].transpose(-2, -1)) * scale_;
      att = att.masked_fill(mask_, -std::numeric_limits<float>::infinity()).softmax(-1);
      auto y = torch::matmul(att, qkv[2])
                   .view({K_, B, H, T, dh})
                   .permute({0, 1, 3, 2, 4})
                   .reshape({K_, N, D});
      auto a = kmm(y, b.w_out.w);
      if (r_ != 1) a = a * r_;
      x = x + a;
      auto f =
          kmm(activate(kmm(norm(x, b.norm2.w, m_.norm), b.ffn_up.w), m_.activation), b.ffn_down.w);
      if (A_ != 1) f = f * A_;
      if (r_ != 1) f = f * r_;
      x = x + f;
    }
    auto logits = kmm(norm(x, W_.final_norm.w, m_.norm), W_.unembedding.w);
    if (out_mult_ != 1) logits = logits * out_mult_;
    auto target = batch.narrow(1, 1, T).reshape({-1}).repeat({K_});
    return F::cross_entropy(logits.reshape({K_ * N, V}), target,
                            F::CrossEntropyFuncOptions().reduction(torch::kNone))
        .view({K_, N})
        .mean(1);
  }

  std::vector<double> losses(const torch::Tensor& batch) override {
    auto loss = forward_losses(batch);
    zero_grad();
    loss.sum().backward();
    return to_vector(loss.detach());
  }

  std::vector<double> eval_losses(const std::vector<torch::Tensor>& batches) override {
    torch::NoGradGuard no_grad;
    std::vector<double> sum(static_cast<std::size_t>(K_), 0.0);
    for (const auto& b : batches) {
      const std::vector<double> l = to_vector(forward_losses(b.to(device_)));
      for (std::size_t k = 0; k < sum.size(); ++k)
        sum[k] += l[k];
    }
    for (auto& v : sum)
      v /= static_cast<double>(batches.size());
    return sum;
  }

  std::vector<std::vector<double>> expert_load(std::size_t) const override { return {}; }

  void step(double schedule) override { adam_step(schedule, clip_); }

  // One AdamW step (torch's AdamW arithmetic, per trial), after per-trial clipping.
  void adam_step(double schedule, double clip) {
    torch::NoGradGuard no_grad;
    if (clip > 0) {
      torch::Tensor sq = torch::zeros({K_}, params_.front()->w.options());
      for (const Stacked* p : params_)
        if (p->w.grad().defined()) sq = sq + p->w.grad().pow(2).reshape({K_, -1}).sum(1);
      auto coef = (clip / (sq.sqrt() + 1e-6)).clamp_max(1.0);
      for (Stacked* p : params_)
        if (p->w.grad().defined()) {
          std::vector<std::int64_t> shape(static_cast<std::size_t>(p->w.dim()), 1);
          shape[0] = K_;
          p->w.grad().mul_(coef.view(shape));
        }
    }
    ++t_;
    const double bc1 = 1 - std::pow(beta1_, static_cast<double>(t_));
    const double bc2 = 1 - std::pow(beta2_, static_cast<double>(t_));
    for (Stacked* p : params_) {
      if (!p->w.grad().defined()) continue;
      std::vector<double> lr = p->base_lr;
      for (std::size_t k = 0; k < lr.size(); ++k)
        lr[k] = live_[k] ? lr[k] * schedule : 0.0;
      const auto lr_t = per_trial(lr, p->w.dim(), p->w.options());
      const auto& g = p->w.grad();
      p->w.mul_(1 - lr_t * p->wd);
      p->m.mul_(beta1_).add_(g, 1 - beta1_);
      p->v.mul_(beta2_).addcmul_(g, g, 1 - beta2_);
      auto denom = (p->v.sqrt() / std::sqrt(bc2)).add_(p->eps);
      p->w.sub_(lr_t / bc1 * p->m / denom);
    }
  }

  void zero_grad() {
    for (Stacked* p : params_)
      if (p->w.grad().defined()) p->w.mutable_grad() = torch::Tensor();
  }

  // A diverged trial: weights and optimizer state zeroed, lr 0 from now on, so it stays
  // finite and costs the others nothing.
  void freeze(std::size_t k) override {
    torch::NoGradGuard no_grad;
    live_[k] = false;
    const auto i = static_cast<std::int64_t>(k);
    for (Stacked* p : params_) {
      p->w[i].zero_();
      p->m[i].zero_();
      p->v[i].zero_();
      if (p->w.grad().defined()) p->w.grad()[i].zero_();
    }
  }

private:
  static std::vector<double> to_vector(const torch::Tensor& t) {
    auto c = t.to(torch::kCPU, torch::kFloat64).contiguous();
    return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  }

  std::vector<Parameterization> tables_;
  ModelSpec m_;
  torch::Device device_{torch::kCPU};
  std::int64_t K_ = 0, t_ = 0;
  double A_ = 1, emb_mult_ = 1, r_ = 1, scale_ = 1, out_mult_ = 1, beta1_ = 0.9, beta2_ = 0.95,
         clip_ = 0;
  StackedWeights W_;
  std::vector<Stacked*> params_; // W_.all()
  std::vector<bool> live_;
  torch::Tensor mask_;
};

} // namespace

std::vector<TrialResult> train_pack(const std::vector<TrialSpec>& specs, const std::string& file,
                                    const std::vector<bool>& inject_nan) {
  if (specs.empty()) return {};
  const std::string key = pack_key(specs.front());
  if (key.empty()) throw RuntimeError("fused pack: only dense-FFN trials can be fused");
  for (const auto& s : specs)
    if (pack_key(s) != key)
      throw RuntimeError("fused pack: trial " + s.id() +
                         " does not share the pack's shapes, data and schedule");
  Pack pack(specs, file);
  // Relative data paths resolve beside the file, or in base_dir when the sweep set one.
  const TrialSpec& s0 = specs.front();
  auto source = make_source(s0.config, s0.base_dir.empty() ? file : s0.base_dir + "/-");
  std::vector<double> base_lr;
  for (std::size_t k = 0; k < specs.size(); ++k)
    base_lr.push_back(pack.table(k).optimizer.lr.value);
  return train_loop(pack, specs, base_lr, *source, pack.device().str(), {}, inject_nan);
}

Calibration time_packs(const TrialSpec& spec, const std::vector<int>& ks, int steps,
                       const std::string& file, bool stop_early) {
  Calibration out;
  const RunConfig& c = spec.config;
  auto source = make_source(c, spec.base_dir.empty() ? file : spec.base_dir + "/-");
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  { // One trial, the unfused trainer's model and optimizer.
    torch::set_num_threads(spec.threads);
    const Parameterization table = table_for(c, file);
    torch::manual_seed(c.train.seed);
    Gpt model(c.model, table);
    model->initialize(table);
    auto opt = make_optimizer(model, table);
    std::vector<double> t;
    for (int s = 0; s < steps + 2; ++s) {
      const double a = now_s();
      auto batch = source->train_batch(s);
      auto logits = model->forward(batch.narrow(1, 0, c.model.seq_len));
      auto loss = F::cross_entropy(logits.reshape({-1, c.model.vocab}),
                                   batch.narrow(1, 1, c.model.seq_len).reshape({-1}));
      opt->zero_grad();
      loss.backward();
      torch::nn::utils::clip_grad_norm_(model->parameters(), 1.0);
      opt->step();
      if (s >= 2) t.push_back(now_s() - a);
    }
    out.single_step_s = median(t);
  }
  for (int k : ks) {
    Pack pack(std::vector<TrialSpec>(static_cast<std::size_t>(k), spec), file);
    std::vector<double> t;
    for (int s = 0; s < steps + 2; ++s) {
      const double a = now_s();
      auto loss = pack.forward_losses(source->train_batch(s).to(pack.device()));
      pack.zero_grad();
      loss.sum().backward();
      pack.adam_step(1.0, c.train.optimizer.grad_clip);
      if (s >= 2) t.push_back(now_s() - a);
    }
    out.pack_step_s.emplace_back(k, median(t));
    // Larger packs only get tried while fusing keeps paying per trial (keeps calibration short).
    if (stop_early && out.pack_step_s.back().second / k >= out.single_step_s &&
        (out.pack_step_s.size() < 2 || out.pack_step_s.back().second / k >=
                                           out.pack_step_s[out.pack_step_s.size() - 2].second /
                                               out.pack_step_s[out.pack_step_s.size() - 2].first))
      break;
  }
  return out;
}

} // namespace mue::torch_backend
