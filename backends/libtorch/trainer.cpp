#include "trainer.h"

#include <ATen/autocast_mode.h>
#include <sys/resource.h>
#include <torch/version.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>

#include "data.h"
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

} // namespace

TrialResult train(const TrialSpec& spec, const std::string& file,
                  const std::function<void(const Progress&)>& on_step, bool inject_nan) {
  const RunConfig& c = spec.config;
  const std::string device_name = resolve_device(spec.device);
  torch::Device device(device_name);
  torch::set_num_threads(spec.threads);
  const Parameterization table = table_for(c, file);

  torch::manual_seed(c.train.seed);
  Gpt model(c.model, table);
  model->initialize(table);
  model->to(device);
  const bool bf16 = use_bf16(c.train.precision, device);

  std::vector<double> base_lr;
  auto opt_ptr = make_optimizer(model, table, &base_lr);
  torch::optim::AdamW& opt = *opt_ptr;
  std::vector<torch::Tensor> all_params = model->parameters();

  // Relative data paths resolve beside the file, or in base_dir when the sweep set one.
  auto source = make_source(
      c, spec.base_dir.empty() ? file : (std::filesystem::path(spec.base_dir) / "-").string());
  const std::int64_t steps = c.train.steps;
  const int T = c.model.seq_len, V = c.model.vocab;
  const double threshold = spec.divergence_threshold();
  const std::int64_t curve_every = std::max<std::int64_t>(1, steps / 200);

  TrialResult r;
  r.id = spec.id();
  r.device = device_name;
  r.status = TrialStatus::kOk;
  std::vector<double> val_history;

  auto evaluate = [&]() {
    torch::NoGradGuard no_grad;
    model->eval();
    double sum = 0;
    for (const auto& b : source->val_batches()) {
      auto batch = b.to(device);
      const CudaAutocast autocast(bf16);
      auto logits = model->forward(batch.narrow(1, 0, T));
      sum += torch::nn::functional::cross_entropy(logits.reshape({-1, V}),
                                                  batch.narrow(1, 1, T).reshape({-1}))
                 .item<double>();
    }
    model->train();
    return sum / static_cast<double>(source->val_batches().size());
  };

  const double t0 = now_s();
  for (std::int64_t step = 0; step < steps; ++step) {
    const double f = schedule_factor(c.train.schedule, step, steps);
    for (std::size_t i = 0; i < opt.param_groups().size(); ++i)
      static_cast<torch::optim::AdamWOptions&>(opt.param_groups()[i].options()).lr(base_lr[i] * f);

    auto batch = source->train_batch(step).to(device);
    torch::Tensor loss, total;
    {
      const CudaAutocast autocast(bf16);
      auto logits = model->forward(batch.narrow(1, 0, T));
      loss = torch::nn::functional::cross_entropy(logits.reshape({-1, V}),
                                                  batch.narrow(1, 1, T).reshape({-1}));
      total = loss + model->aux_loss();
      if (inject_nan && step == 1) loss = total = total * std::numeric_limits<double>::quiet_NaN();
    }
    opt.zero_grad();
    total.backward();
    if (c.train.optimizer.grad_clip > 0)
      torch::nn::utils::clip_grad_norm_(all_params, c.train.optimizer.grad_clip);
    opt.step();

    const double lv = loss.item<double>();
    const bool last = step + 1 == steps;
    const bool eval_now = last || (c.train.eval.every > 0 && (step + 1) % c.train.eval.every == 0);
    if (!std::isfinite(lv) || lv > threshold) {
      r.status = TrialStatus::kDiverged;
      r.error = "train loss " + std::to_string(lv) + " at step " + std::to_string(step + 1) +
                " is past the divergence threshold " + std::to_string(threshold);
      r.curve.push_back(CurvePoint{step + 1, lv, std::nullopt, table.optimizer.lr.value * f});
      break;
    }
    CurvePoint pt{step + 1, lv, std::nullopt, table.optimizer.lr.value * f};
    if (eval_now) {
      const double v = evaluate();
      val_history.push_back(v);
      pt.val_loss = v;
    }
    if (eval_now || (step + 1) % curve_every == 0) r.curve.push_back(pt);
    if (on_step) {
      const double el = now_s() - t0;
      Progress p{step + 1, steps, lv, static_cast<double>(step + 1) * c.train.batch_size * T / el,
                 el / static_cast<double>(step + 1) * static_cast<double>(steps - step - 1)};
      on_step(p);
    }
  }
  r.wall_s = now_s() - t0;
  const std::int64_t done = r.curve.empty() ? 0 : r.curve.back().step;
  r.tokens_per_s = r.wall_s > 0 ? static_cast<double>(done) * c.train.batch_size * T / r.wall_s : 0;
  r.peak_mem_bytes = peak_rss_bytes();
  r.expert_load = model->expert_load();
  if (r.status == TrialStatus::kOk) {
    r.final_val_loss = val_history.back();
    const std::size_t k = spec.objective.kind == ObjectiveKind::kMeanLastK
                              ? std::min<std::size_t>(spec.objective.k, val_history.size())
                              : 1;
    double sum = 0;
    for (std::size_t i = val_history.size() - k; i < val_history.size(); ++i)
      sum += val_history[i];
    r.objective = sum / static_cast<double>(k);
  }
  return r;
}

} // namespace mue::torch_backend
