#pragma once
// The sweep report (DIR/sweep.json, schema mue.sweep/1) and its plot, built from the
// spec, its plan and the journal alone, so `muE sweep` and `muE fit DIR` agree.
#include <map>
#include <string>
#include <vector>

#include "fit/fit.h"
#include "sweep/plan.h"
#include "util/json.h"

namespace mue {

struct SweepReport {
  Json json;
  FitResult fit;
};

// Objective per grid point = mean over its usable seeds; diverged/failed/timed-out trials
// are excluded but counted. Trials not in `done` are listed as "missing". Throws
// CheckFailedError (exit 1) when no point has a usable trial.
SweepReport build_sweep_report(const SweepSpec& s, const std::string& spec_file,
                               const std::vector<PlannedTrial>& plan,
                               const std::map<std::string, TrialResult>& done,
                               const Json& environment);

// Objective vs the lr axis (or the first axis): one curve per slice of the other axes,
// the fitted optimum and its CI marked, diverged/failed points marked along the top.
// False when there is nothing to draw or gnuplot is missing.
bool plot_sweep(const SweepSpec& s, const std::vector<PlannedTrial>& plan,
                const std::map<std::string, TrialResult>& done, const FitResult& fit,
                const std::string& path);

// "lr=0.001 init_std=0.02 seed 0": how a trial is named in logs and progress lines.
std::string describe_trial(const SweepSpec& s, const PlannedTrial& t);

} // namespace mue
