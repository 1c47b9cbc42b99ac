#include "trainer.h"

#include <ATen/autocast_mode.h>
#include <sys/resource.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>

#include "data.h"
#include "loop.h"
#include "model.h"
#include "optim.h"
#include "runtime_info.h"
#include "transfer/transfer.h"
#include "util/error.h"

namespace mue::torch_backend {

std::unique_ptr<torch::optim::AdamW> make_optimizer(Gpt& model, const Parameterization& table,
                                                    std::vector<double>* base_lr) {
  std::map<ParamGroup, std::vector<torch::Tensor>> by_group;
  for (auto& [g, t] : model->grouped_parameters())
    by_group[g].push_back(t);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  const auto betas = std::make_tuple(table.optimizer.beta1(), table.optimizer.beta2());
  for (ParamGroup g : param_groups_by_name()) { // the param groups' order as before the enum
    const auto it = by_group.find(g);
    if (it == by_group.end()) continue;
    auto& params = it->second;
    const GroupParams& gp = table.groups.at(g);
    auto opts = std::make_unique<torch::optim::AdamWOptions>(gp.lr.value);
    opts->weight_decay(gp.wd.value).eps(gp.eps.value).betas(betas);
    groups.emplace_back(params, std::move(opts));
    if (base_lr) base_lr->push_back(gp.lr.value);
  }
  return std::make_unique<torch::optim::AdamW>(
      groups, torch::optim::AdamWOptions(table.optimizer.lr.value));
}

double schedule_factor(const ScheduleSpec& s, std::int64_t step, std::int64_t steps) {
  const double warmup = std::floor(s.warmup_fraction * static_cast<double>(steps));
  if (step < warmup) return (static_cast<double>(step) + 1) / warmup;
  const double m = s.min_lr_ratio;
  switch (s.kind) {
  case ScheduleKind::kConstant:
    return 1.0;
  case ScheduleKind::kCosine: {
    const double span = std::max(1.0, static_cast<double>(steps) - warmup - 1);
    const double t = std::min(1.0, (static_cast<double>(step) - warmup) / span);
    return m + (1 - m) * 0.5 * (1 + std::cos(M_PI * t));
  }
  case ScheduleKind::kWsd: {
    const double decay_start = static_cast<double>(steps) * (1 - s.decay_fraction);
    if (step < decay_start) return 1.0;
    const double span = std::max(1.0, static_cast<double>(steps) - decay_start - 1);
    const double t = std::min(1.0, (static_cast<double>(step) - decay_start) / span);
    return 1 - (1 - m) * t;
  }
  }
  return 1.0;
}

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::int64_t peak_rss_bytes() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<std::int64_t>(u.ru_maxrss) * 1024;
}

// bf16 autocast on CUDA around one forward pass (matmuls in bf16, reductions,
// norms' statistics and the loss in fp32 by autocast's own op lists; weights and AdamW state
// stay fp32). Leaving the outermost scope drops autocast's cache of bf16 weight copies, which
// must not outlive an optimizer step. The autocast API moved to per-device-type calls in torch 2.4.
class CudaAutocast {
public:
  explicit CudaAutocast(bool on) : on_(on) {
    if (!on_) return;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    previous_ = at::autocast::is_autocast_enabled(at::kCUDA);
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
#else
    previous_ = at::autocast::is_enabled();
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
#endif
    at::autocast::increment_nesting();
  }
  ~CudaAutocast() {
    if (!on_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_enabled(at::kCUDA, previous_);
#else
    at::autocast::set_enabled(previous_);
#endif
  }
  CudaAutocast(const CudaAutocast&) = delete;
  CudaAutocast& operator=(const CudaAutocast&) = delete;

private:
  bool on_;
  bool previous_ = false;
};

bool use_bf16(Precision p, const torch::Device& device) {
  if (p == Precision::kBf16 && !device.is_cuda())
    throw UsageError("train.precision 'bf16' needs a CUDA device (this run is on " + device.str() +
                     "); use 'auto' or 'fp32'");
  return device.is_cuda() && p != Precision::kFp32;
}

// One trial: the Gpt module and torch's AdamW, exactly as a run alone.
class SingleTrial : public TrialModels {
public:
  SingleTrial(const TrialSpec& spec, const std::string& file)
      : c_(spec.config), device_name_(resolve_device(spec.device)), device_(device_name_) {
    torch::set_num_threads(spec.threads);
    table_ = table_for(c_, file);
    torch::manual_seed(c_.train.seed);
    model_ = Gpt(c_.model, table_);
    model_->initialize(table_);
    model_->to(device_);
    bf16_ = use_bf16(c_.train.precision, device_);
    opt_ = make_optimizer(model_, table_, &base_lr_);
    params_ = model_->parameters();
  }

  const Parameterization& table() const { return table_; }
  const std::string& device_name() const { return device_name_; }

  std::size_t size() const override { return 1; }
  torch::Device device() const override { return device_; }

  // The cross-entropy is what a trial reports; the router losses (§11.9) only train.
  std::vector<double> losses(const torch::Tensor& batch) override {
    torch::Tensor loss, total, aux, z;
    {
      const CudaAutocast autocast(bf16_);
      loss = cross_entropy(batch);
      aux = model_->aux_loss();
      z = model_->z_loss();
      total = loss + aux + z;
    }
    opt_->zero_grad();
    total.backward();
    const bool moe = c_.model.ffn.is_moe();
    const RouterSpec& q = c_.model.ffn.router;
    router_.aux.reset();
    router_.z.reset();
    if (moe && q.aux_loss_coef > 0) router_.aux = aux.item<double>();
    if (moe && q.z_loss_coef > 0) router_.z = z.item<double>();
    return {loss.item<double>()};
  }

  RouterLosses router_losses(std::size_t) const override { return router_; }

  void freeze(std::size_t) override { frozen_ = true; }

  void step(double schedule_factor) override {
    if (frozen_) return;
    for (std::size_t i = 0; i < opt_->param_groups().size(); ++i)
      static_cast<torch::optim::AdamWOptions&>(opt_->param_groups()[i].options())
          .lr(base_lr_[i] * schedule_factor);
    if (c_.train.optimizer.grad_clip > 0)
      torch::nn::utils::clip_grad_norm_(params_, c_.train.optimizer.grad_clip);
    opt_->step();
    model_->update_router_bias(); // aux-loss-free balancing from this step's loads (§11.9)
  }

  std::vector<double> eval_losses(const std::vector<torch::Tensor>& batches) override {
    torch::NoGradGuard no_grad;
    model_->eval();
    double sum = 0;
    for (const auto& b : batches) {
      auto batch = b.to(device_);
      const CudaAutocast autocast(bf16_);
      sum += cross_entropy(batch).item<double>();
    }
    model_->train();
    return {sum / static_cast<double>(batches.size())};
  }

  std::vector<std::vector<double>> expert_load(std::size_t) const override {
    return model_->expert_load();
  }

private:
  // Mean next-token cross-entropy of a [B, T+1] batch.
  torch::Tensor cross_entropy(const torch::Tensor& batch) {
    const int T = c_.model.seq_len, V = c_.model.vocab;
    auto logits = model_->forward(batch.narrow(1, 0, T));
    return torch::nn::functional::cross_entropy(logits.reshape({-1, V}),
                                                batch.narrow(1, 1, T).reshape({-1}));
  }

  const RunConfig& c_;
  std::string device_name_;
  torch::Device device_;
  Parameterization table_;
  Gpt model_{nullptr};
  bool bf16_ = false, frozen_ = false;
  std::vector<double> base_lr_;
  std::unique_ptr<torch::optim::AdamW> opt_;
  std::vector<torch::Tensor> params_;
  RouterLosses router_;
};

} // namespace

std::vector<TrialResult> train_loop(TrialModels& models, const std::vector<TrialSpec>& specs,
                                    const std::vector<double>& base_lr, TokenSource& source,
                                    const std::string& device,
                                    const std::function<void(const Progress&)>& on_step,
                                    const std::vector<bool>& inject_nan) {
  const std::size_t K = models.size();
  if (specs.size() != K || base_lr.size() != K)
    throw RuntimeError("train_loop: one spec and one lr per trial");
  const RunConfig& c = specs.front().config;
  const std::int64_t steps = c.train.steps;
  const int T = c.model.seq_len;
  const std::int64_t curve_every = std::max<std::int64_t>(1, steps / 200);

  std::vector<TrialResult> results(K);
  std::vector<std::vector<double>> val_history(K);
  std::vector<bool> live(K, true);
  std::vector<std::int64_t> steps_done(K, 0);
  for (std::size_t k = 0; k < K; ++k) {
    results[k].id = specs[k].id();
    results[k].device = device;
    results[k].status = TrialStatus::kOk;
  }

  const double t0 = now_s();
  for (std::int64_t step = 0; step < steps; ++step) {
    const double f = schedule_factor(c.train.schedule, step, steps);
    std::vector<double> lv = models.losses(source.train_batch(step).to(models.device()));
    if (step == 1)
      for (std::size_t k = 0; k < K && k < inject_nan.size(); ++k)
        if (inject_nan[k]) lv[k] = std::numeric_limits<double>::quiet_NaN();
    for (std::size_t k = 0; k < K; ++k) {
      const double threshold = specs[k].divergence_threshold();
      if (!live[k] || (std::isfinite(lv[k]) && lv[k] <= threshold)) continue;
      TrialResult& r = results[k];
      r.status = TrialStatus::kDiverged;
      r.error = "train loss " + std::to_string(lv[k]) + " at step " + std::to_string(step + 1) +
                " is past the divergence threshold " + std::to_string(threshold);
      r.curve.push_back(CurvePoint{step + 1, lv[k], std::nullopt, base_lr[k] * f});
      r.wall_s = now_s() - t0;
      steps_done[k] = step + 1;
      live[k] = false;
      models.freeze(k);
    }
    if (std::none_of(live.begin(), live.end(), [](bool b) { return b; })) break;
    models.step(f);

    const bool last = step + 1 == steps;
    const bool eval_now = last || (c.train.eval.every > 0 && (step + 1) % c.train.eval.every == 0);
    std::vector<double> val;
    if (eval_now) val = models.eval_losses(source.val_batches());
    for (std::size_t k = 0; k < K; ++k) {
      if (!live[k]) continue;
      CurvePoint pt{step + 1, lv[k], std::nullopt, base_lr[k] * f};
      if (eval_now) {
        val_history[k].push_back(val[k]);
        pt.val_loss = val[k];
      }
      if (eval_now || (step + 1) % curve_every == 0) results[k].curve.push_back(pt);
      steps_done[k] = step + 1;
    }
    if (on_step && live.front()) {
      const double el = now_s() - t0;
      on_step(Progress{
          step + 1, steps, lv.front(), static_cast<double>(step + 1) * c.train.batch_size * T / el,
          el / static_cast<double>(step + 1) * static_cast<double>(steps - step - 1),
          eval_now ? std::optional<double>(val.front()) : std::nullopt, base_lr.front() * f});
    }
  }
  const double wall = now_s() - t0;
  for (std::size_t k = 0; k < K; ++k) {
    TrialResult& r = results[k];
    if (r.status == TrialStatus::kOk) r.wall_s = wall;
    r.tokens_per_s =
        r.wall_s > 0 ? static_cast<double>(steps_done[k]) * c.train.batch_size * T / r.wall_s : 0;
    r.peak_mem_bytes = peak_rss_bytes();
    r.expert_load = models.expert_load(k);
    const TrialModels::RouterLosses rl = models.router_losses(k);
    r.aux_loss = rl.aux;
    r.z_loss = rl.z;
    if (r.status != TrialStatus::kOk) continue;
    const auto& vh = val_history[k];
    r.final_val_loss = vh.back();
    const std::size_t n =
        specs[k].objective.kind == ObjectiveKind::kMeanLastK
            ? std::min<std::size_t>(static_cast<std::size_t>(specs[k].objective.k), vh.size())
            : 1;
    double sum = 0;
    for (std::size_t i = vh.size() - n; i < vh.size(); ++i)
      sum += vh[i];
    r.objective = sum / static_cast<double>(n);
  }
  return results;
}

TrialResult train(const TrialSpec& spec, const std::string& file,
                  const std::function<void(const Progress&)>& on_step, bool inject_nan) {
  SingleTrial single(spec, file);
  // Relative data paths resolve beside the file, or in base_dir when the sweep set one.
  auto source = make_source(
      spec.config,
      spec.base_dir.empty() ? file : (std::filesystem::path(spec.base_dir) / "-").string());
  return train_loop(single, {spec}, {single.table().optimizer.lr.value}, *source,
                    single.device_name(), on_step, {inject_nan})
      .front();
}

} // namespace mue::torch_backend
