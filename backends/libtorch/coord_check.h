#pragma once
// coord-check: are activation scales and their per-step changes width-stable?
#include <string>
#include <vector>

#include "spec/config.h"
#include "util/json.h"

namespace mue::torch_backend {

struct CoordCheckOptions {
  std::vector<int> widths; // d_model values; FFN widths scale with d_model, d_head stays
  int steps = 10;
  bool standard = false; // standard parameterization: every width its own reference
  // |log-log slope| allowed: flags any scale that moves at least like √width. Measured
  // on the tiny spec (widths 64-512, 10 steps): μP hidden slopes -0.1..+0.02, standard
  // parameterization +1.0..+1.5.
  double tolerance = 0.5;
  int threads = 1;
};

struct CoordCheckResult {
  Json report; // per width and activation group: rms at init, rms of the change per step
  bool stable = true;
  std::vector<std::string> unstable; // "<group> <metric> slope s"
};

// The config's own shape is the base (reference) shape of the μP table.
CoordCheckResult coord_check(const RunConfig& base, const std::string& file,
                             const CoordCheckOptions& o);

} // namespace mue::torch_backend
