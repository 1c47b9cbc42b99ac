#include "sweep/pruner.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace mue {
namespace {

// The value of `c` at `step`, or nullptr.
const double* at_step(const EvalCurve& c, std::int64_t step) {
  for (const auto& [s, v] : c)
    if (s == step) return &v;
  return nullptr;
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

} // namespace

EvalCurve eval_curve(const std::vector<CurvePoint>& curve) {
  EvalCurve c;
  for (const auto& p : curve)
    if (p.val_loss) c.emplace_back(p.step, *p.val_loss);
  return c;
}

EvalCurve eval_curve(const TrialResult& r) {
  return eval_curve(r.curve);
}

std::string prune_reason(const PrunerSpec& p, const EvalCurve& trial,
                         const std::vector<EvalCurve>& finished,
                         const std::vector<EvalCurve>& others) {
  if (trial.empty() || p.kind == PrunerSpec::Kind::kNone) return "";
  const auto [step, value] = trial.back();
  const std::string at = " at step " + std::to_string(step);
  if (p.kind == PrunerSpec::Kind::kMedian) {
    if (static_cast<int>(trial.size()) <= p.warmup_evals) return "";
    std::vector<double> seen;
    for (const auto& c : finished)
      if (const double* v = at_step(c, step); v && std::isfinite(*v)) seen.push_back(*v);
    if (static_cast<int>(seen.size()) < p.min_trials) return "";
    std::sort(seen.begin(), seen.end());
    const std::size_t n = seen.size();
    const double median = n % 2 ? seen[n / 2] : (seen[n / 2 - 1] + seen[n / 2]) / 2;
    double best = value;
    for (const auto& e : trial)
      best = std::min(best, e.second);
    if (!(best > median)) return "";
    return "median pruner: best validation loss " + num(best) + at + " is above the median " +
           num(median) + " of " + std::to_string(n) + " finished trials";
  }
  // Successive halving: is this evaluation a rung?
  int rung = -1;
  for (int k = 0; k < 64; ++k) {
    const double evals = p.min_evals * std::pow(p.eta, k);
    if (evals > static_cast<double>(trial.size()) + 0.5) break;
    if (std::lround(evals) == static_cast<long>(trial.size())) rung = k;
  }
  if (rung < 0) return "";
  std::vector<double> seen{value};
  for (const auto& c : others)
    if (const double* v = at_step(c, step)) seen.push_back(std::isfinite(*v) ? *v : INFINITY);
  if (static_cast<int>(seen.size()) < p.min_trials) return "";
  const auto keep = std::max<std::size_t>(
      1, static_cast<std::size_t>(std::floor(static_cast<double>(seen.size()) / p.eta)));
  std::sort(seen.begin(), seen.end());
  if (value <= seen[keep - 1]) return "";
  return "successive halving: validation loss " + num(value) + at + " (rung " +
         std::to_string(rung) + ") is not in the best " + std::to_string(keep) + " of " +
         std::to_string(seen.size()) + " trials that reached it";
}

std::string progress_file_for(const std::string& result_file) {
  return result_file + ".progress";
}

std::vector<CurvePoint> read_progress(const std::string& path) {
  std::vector<CurvePoint> c;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (in.eof()) break; // no newline yet: a line still being written
    std::istringstream ls(line);
    CurvePoint p;
    double val = 0;
    if (ls >> p.step >> p.train_loss >> val) {
      p.val_loss = val;
      if (double lr = 0; ls >> lr) p.lr = lr;
      c.push_back(p);
    }
  }
  return c;
}

} // namespace mue
