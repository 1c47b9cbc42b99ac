#pragma once
// Grid -> trials (docs/design.md "Sweep engine").
#include <map>
#include <string>
#include <vector>

#include "spec/sweep_spec.h"
#include "spec/trial.h"

namespace mue {

struct PlannedTrial {
  std::vector<double> point; // one value per axis
  std::uint64_t seed = 0;
  TrialSpec spec;
};

// Every grid point × seed, in a stable order (axes in spec order, last axis fastest).
std::vector<PlannedTrial> plan_sweep(const SweepSpec& s, const std::string& file);

} // namespace mue
