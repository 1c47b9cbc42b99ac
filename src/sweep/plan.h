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

// The trials of one point (one value per axis), one per seed: what plan_sweep makes of it.
// InputError (pointing into `file`) when the point's config is invalid.
std::vector<PlannedTrial> plan_point(const SweepSpec& s, const std::vector<double>& point,
                                     const std::string& file);

} // namespace mue
