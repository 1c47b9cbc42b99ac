#pragma once
// SweepSpec: the grid a `muE sweep` trains (docs/design.md "Core types").
#include <cstdint>
#include <string>
#include <vector>

#include "spec/config.h"
#include "spec/schemas.h"
#include "util/json.h"

namespace mue {

enum class ObjectiveKind { kFinalValLoss, kMeanLastK };

struct Objective {
  ObjectiveKind kind = ObjectiveKind::kFinalValLoss;
  int k = 1; // mean_last_k: number of last evaluations averaged
};

struct Axis {
  std::string key;     // as written: "lr", "wd", "init_std" or a JSON pointer
  std::string pointer; // into the run config, e.g. "/hparams/lr"
  std::vector<double> values;
  bool log2_grid = false; // values came from {"log2_grid": ...}
};

// How a sweep chooses its points (docs/design.md "Adaptive search"). grid: every point of the
// axes. adaptive: a coarse subset of the same lattice first, then rounds that add lattice
// points around the fitted optimum at half the spacing each, until the optimum's 95% CI is
// narrow enough, the lattice around it is exhausted, or the trial budget is spent.
struct SearchSpec {
  bool adaptive = false;
  double coarse_step = 2;       // log2 units between the first round's points on a log axis
  double target_ci_log2 = 0.25; // stop when every log axis' CI half-width (log2) is at most this
  std::size_t max_trials = 0;   // budget in trials (points × seeds); 0 = the grid's size
  int max_rounds = 12;          // rounds after the first
};

// Early stopping of clearly worse trials (docs/design.md "Pruning"). Trials report each
// evaluation's validation loss while they run; at an evaluation step:
//   median: after `warmup_evals` evaluations, a trial whose best validation loss so far is
//     above the median of the finished trials' losses at the same step (once `min_trials`
//     of them have reached it) is stopped;
//   successive_halving: at the rungs min_evals × eta^k evaluations, a trial not in the best
//     1/eta of the trials that reached that rung (at least `min_trials` of them) is stopped.
// A stopped trial is journaled as "pruned": kept in the report, excluded from the fit, never
// run again. Local launcher, single (unfused) trials with the LibTorch backend only.
struct PrunerSpec {
  enum class Kind { kNone, kMedian, kSuccessiveHalving } kind = Kind::kNone;
  int warmup_evals = 1; // median: evaluations before a trial can be pruned
  int min_trials = 4;   // trials that must have reached the step before anyone is compared
  int min_evals = 1;    // successive_halving: the first rung, in evaluations
  double eta = 3;       // successive_halving: keep the best 1/eta at each rung
};

struct SweepSpec {
  std::string name;
  std::string description;
  Json base; // {model, train, hparams} as written (hparams may lack swept fields)
  std::vector<Axis> axes;
  std::vector<std::uint64_t> seeds;
  Objective objective;
  double trial_timeout_s = 3600;
  double divergence_loss = 0; // 0 = default: 1.5 × ln(vocab) (a uniform guess is ln(vocab))
  BackendSpec backend;
  SearchSpec search;
  PrunerSpec pruner;

  std::size_t grid_points() const; // product of axis sizes
};

inline constexpr std::size_t kMaxAxisValues = 1000;
inline constexpr std::size_t kMaxGridPoints = 100000;
// Trials of one run (sweep: grid points × seeds; verify: targets × axes × points × seeds):
// past it a run is refused before anything is planned, so planning memory stays bounded.
inline constexpr std::size_t kMaxTrials = 100000;

// Expands {"log2_grid": [lo, hi, step]}: 2^lo, 2^(lo+step), ... up to 2^hi.
std::vector<double> expand_log2_grid(double lo, double hi, double step, const Where& where);

// Builds the run config of one point: base with each axis value written at its
// pointer and the seed set. Throws InputError (pointing at the axis) if the result is invalid.
RunConfig config_at(const SweepSpec& s, const std::vector<double>& point, std::uint64_t seed,
                    const Where& where);

SweepSpec parse_sweep_spec(const Json& j, const Where& where);
Json to_json(const SweepSpec& s);
Json to_json(const Objective& o);
Objective parse_objective(const Json& j, const Where& where);
// {"kind": "grid" | "adaptive", "coarse_step", "target_ci_log2", "max_trials", "max_rounds"};
// InputError at the field otherwise.
SearchSpec parse_search(const Json& j, const Where& where);
Json to_json(const SearchSpec& s);
// {"kind": "none" | "median" | "successive_halving", "warmup_evals", "min_trials",
// "min_evals", "eta"}; InputError at the field otherwise.
PrunerSpec parse_pruner(const Json& j, const Where& where);
Json to_json(const PrunerSpec& p);

} // namespace mue
