#include "sweep/plan.h"

#include "spec/paths.h"
#include "util/error.h"

namespace mue {

std::vector<PlannedTrial> plan_point(const SweepSpec& s, const std::vector<double>& point,
                                     const std::string& file) {
  // The spec's paths are absolute already (parse_sweep_spec anchored them beside the spec);
  // base_dir says the same for any reader of a trial file that meets a relative one.
  const std::string base_dir = document_dir(Where{file, ""});
  std::vector<PlannedTrial> out;
  for (std::uint64_t seed : s.seeds) {
    PlannedTrial t;
    t.point = point;
    t.seed = seed;
    t.spec.config = config_at(s, point, seed, Where{file, ""});
    t.spec.objective = s.objective;
    t.spec.divergence_loss = s.divergence_loss;
    t.spec.base_dir = base_dir;
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<PlannedTrial> plan_sweep(const SweepSpec& s, const std::string& file) {
  std::vector<PlannedTrial> out;
  std::vector<std::size_t> idx(s.axes.size(), 0);
  const std::size_t total = s.grid_points();
  for (std::size_t n = 0; n < total; ++n) {
    std::vector<double> point;
    for (std::size_t a = 0; a < s.axes.size(); ++a)
      point.push_back(s.axes[a].values[idx[a]]);
    for (auto& t : plan_point(s, point, file))
      out.push_back(std::move(t));
    for (std::size_t a = s.axes.size(); a-- > 0;) { // odometer, last axis fastest
      if (++idx[a] < s.axes[a].values.size()) break;
      idx[a] = 0;
    }
  }
  return out;
}

} // namespace mue
