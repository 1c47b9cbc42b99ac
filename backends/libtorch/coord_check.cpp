#include "coord_check.h"

#include <cmath>

#include "data.h"
#include "model.h"
#include "optim.h"
#include "transfer/transfer.h"
#include "util/error.h"

namespace mue::torch_backend {

namespace {

using Capture = std::map<std::string, std::vector<torch::Tensor>>;

// RMS of each activation group, averaged over layers.
std::map<std::string, double> rms(const Capture& c) {
  std::map<std::string, double> out;
  for (const auto& [k, v] : c) {
    double s = 0;
    for (const auto& t : v)
      s += t.pow(2).mean().sqrt().item<double>();
    out[k] = s / static_cast<double>(v.size());
  }
  return out;
}

std::map<std::string, double> rms_change(const Capture& now, const Capture& start) {
  std::map<std::string, double> out;
  for (const auto& [k, v] : now) {
    double s = 0;
    for (std::size_t i = 0; i < v.size(); ++i)
      s += (v[i] - start.at(k)[i]).pow(2).mean().sqrt().item<double>();
    out[k] = s / static_cast<double>(v.size());
  }
  return out;
}

ModelSpec at_width(const ModelSpec& base, int d) {
  ModelSpec m = base;
  if (base.d_attn() == base.d_model && d % base.d_head != 0)
    throw UsageError("--widths: " + std::to_string(d) + " is not a multiple of d_head " +
                     std::to_string(base.d_head));
  m.d_model = d;
  auto scale = [&](int x) {
    return std::max(1, static_cast<int>(static_cast<long long>(x) * d / base.d_model));
  };
  // The heads grow with the width, keeping d_head, the ratio d_attn/d_model (§11.2) and the
  // GQA group size (query heads per key/value head, §11.3).
  m.n_heads = scale(base.n_heads);
  if (static_cast<long long>(m.n_heads) * base.d_model != static_cast<long long>(base.n_heads) * d)
    throw UsageError("--widths: " + std::to_string(d) + " does not scale the reference's " +
                     std::to_string(base.n_heads) + " heads to a whole number");
  if (base.n_kv_heads > 0) {
    const int group = base.n_heads / base.n_kv_heads;
    if (m.n_heads % group != 0)
      throw UsageError("--widths: " + std::to_string(m.n_heads) + " heads at width " +
                       std::to_string(d) + " are not a whole number of GQA groups of " +
                       std::to_string(group));
    m.n_kv_heads = m.n_heads / group;
  }
  if (m.ffn.is_moe()) {
    m.ffn.d_expert = scale(base.ffn.d_expert);
    m.ffn.d_shared = scale(base.ffn.d_shared);
    if (base.ffn.dense_d_ff > 0) m.ffn.dense_d_ff = scale(base.ffn.dense_d_ff);
  } else {
    m.ffn.d_ff = scale(base.ffn.d_ff);
  }
  return m;
}

// Least-squares slope of log(y) against log(x).
double loglog_slope(const std::vector<double>& x, const std::vector<double>& y) {
  double mx = 0, my = 0;
  for (std::size_t i = 0; i < x.size(); ++i)
    mx += std::log(x[i]), my += std::log(std::max(y[i], 1e-30));
  mx /= x.size(), my /= y.size();
  double num = 0, den = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double dx = std::log(x[i]) - mx;
    num += dx * (std::log(std::max(y[i], 1e-30)) - my);
    den += dx * dx;
  }
  return den > 0 ? num / den : 0;
}

} // namespace

CoordCheckResult coord_check(const RunConfig& base, const std::string& file,
                             const CoordCheckOptions& o) {
  if (o.widths.size() < 2) throw UsageError("--widths: give at least two widths");
  torch::set_num_threads(o.threads);
  const int T = base.model.seq_len, V = base.model.vocab;
  Json per_width = Json::array();
  std::map<std::string, std::vector<double>> init_series, delta_series;
  std::vector<double> xs;
  for (int d : o.widths) {
    RunConfig c = base;
    c.model = at_width(base.model, d);
    // μP: the base shape is the reference; standard: each width is its own reference.
    if (!o.standard)
      c.reference = BaseShape{base.model, base.train};
    else
      c.reference.reset();
    const Parameterization table = table_for(c, file);
    torch::manual_seed(c.train.seed);
    Gpt model(c.model, table);
    model->initialize(table);
    auto opt = make_optimizer(model, table);
    auto source = make_source(c, file);
    const torch::Tensor probe = source->val_batches().front().narrow(1, 0, T);

    Capture start;
    {
      torch::NoGradGuard ng;
      model->set_capture(&start);
      model->forward(probe);
      model->set_capture(nullptr);
    }
    for (int s = 0; s < o.steps; ++s) {
      auto batch = source->train_batch(s);
      auto logits = model->forward(batch.narrow(1, 0, T));
      auto loss = torch::nn::functional::cross_entropy(logits.reshape({-1, V}),
                                                       batch.narrow(1, 1, T).reshape({-1}));
      opt->zero_grad();
      loss.backward();
      opt->step();
    }
    Capture end;
    {
      torch::NoGradGuard ng;
      model->set_capture(&end);
      model->forward(probe);
      model->set_capture(nullptr);
    }
    auto init = rms(start), delta = rms_change(end, start);
    Json w{{"d_model", d}, {"init_rms", init}, {"delta_rms", delta}};
    per_width.push_back(w);
    xs.push_back(d);
    for (const auto& [k, v] : init)
      init_series[k].push_back(v);
    for (const auto& [k, v] : delta)
      delta_series[k].push_back(v);
  }
  CoordCheckResult r;
  Json slopes = Json::object();
  // Gated: the change of every activation after `steps` steps, and the init scale of the
  // hidden activations. Logits at init shrink as 1/ρ_d under μP's output multiplier by design.
  for (const auto& [k, v] : delta_series) {
    const double s = loglog_slope(xs, v);
    slopes["delta_rms"][k] = s;
    if (std::abs(s) > o.tolerance) r.unstable.push_back(k + " change: slope " + std::to_string(s));
  }
  for (const auto& [k, v] : init_series) {
    const double s = loglog_slope(xs, v);
    slopes["init_rms"][k] = s;
    if (k != "logits" && std::abs(s) > o.tolerance)
      r.unstable.push_back(k + " at init: slope " + std::to_string(s));
  }
  r.stable = r.unstable.empty();
  r.report = Json{{"schema", kCoordCheckSchema},
                  {"parameterization", o.standard ? "standard" : "table (μP)"},
                  {"steps", o.steps},
                  {"tolerance", o.tolerance},
                  {"widths", per_width},
                  {"slopes", slopes},
                  {"stable", r.stable},
                  {"unstable", r.unstable}};
  return r;
}

} // namespace mue::torch_backend
