#pragma once
// The sweep report (DIR/sweep.json, schema mue.sweep/1) and its plot, built from the
// spec, its plan and the journal alone, so `muE sweep` and `muE fit DIR` agree.
#include <map>
#include <string>
#include <vector>

#include "fit/fit.h"
#include "sweep/journal.h"
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

// Builds the report and writes DIR/sweep.json (atomically) and DIR/plots/loss_vs_<axis>.svg.
// Returns what to tell the user: the optimum with its CI per axis, the files written, and a
// warning per axis whose optimum sits at the grid's edge. CheckFailedError (exit 1) when no
// trial is usable; nothing is written then.
struct SweepOutputs {
  SweepReport report;
  std::string report_file, plot_file; // plot_file empty: gnuplot missing, nothing drawn
  std::vector<std::string> warnings;
  std::string summary; // "optimum (quadratic, R² 0.982, 18 of 18 trials usable): lr = ..."
};
// `search` (an adaptive sweep's adaptive_summary) goes into the report as /search.
SweepOutputs write_sweep_outputs(const SweepSpec& s, const std::string& spec_file,
                                 const std::vector<PlannedTrial>& plan,
                                 const std::map<std::string, TrialResult>& done,
                                 const Json& environment, const Journal& journal,
                                 const Json& search = Json());

// The readers of sweep.json, beside its writer. What `muE transfer` takes from a sweep
// report: the config at the fitted optimum (/reference) and whether that optimum sits at
// the edge of its grid (/optimum/at_edge). InputError naming the file and field otherwise.
struct SweepReference {
  RunConfig config;
  bool at_edge = false;
  Where hparams_where; // /reference/hparams, for errors about the reference's values
};
SweepReference read_sweep_reference(const Json& report, const std::string& file);
// The /environment of the sweep.json at `path` (what `muE fit` keeps when it re-fits);
// an empty object when the file is missing or unreadable.
Json read_sweep_environment(const std::string& path);

// "lr=0.001 init_std=0.02 seed 0": how a trial is named in logs and progress lines.
std::string describe_trial(const SweepSpec& s, const PlannedTrial& t);

} // namespace mue
