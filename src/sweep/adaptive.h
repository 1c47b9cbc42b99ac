#pragma once
// Adaptive search over a sweep's lattice (docs/design.md "Adaptive search"; README "Adaptive
// search"): the points a sweep with {"search": {"kind": "adaptive"}} trains, decided round
// by round from the journaled results alone, so a resumed or re-fitted sweep replays the
// same decisions.
#include <map>
#include <string>
#include <vector>

#include "spec/sweep_spec.h"
#include "spec/trial.h"
#include "sweep/plan.h"
#include "util/json.h"

namespace mue {

struct AdaptiveState {
  // Every trial of every round so far, the pending round's included (in round order).
  std::vector<PlannedTrial> plan;
  // Trials of `plan` without a final result in `done` (journaled with retry counts as none):
  // what to run next. Empty when finished.
  std::vector<std::string> pending;
  bool finished = false;
  // Why the search stopped: "ci": every log axis' 95% CI half-width <= target_ci_log2 with
  // the points around the optimum at most 2 × target apart; "lattice": no untried lattice
  // point is left around the optimum at the finest spacing; "budget": the next round would
  // pass max_trials; "rounds": max_rounds reached; "no_usable": no usable trial to fit.
  std::string stop_reason;
  // Per round: {"round", "stride" (lattice steps per axis), "spacing_log2" (per log axis),
  // "points", "trials", and once its results are in "optimum", "ci_half_width_log2"}.
  Json rounds = Json::array();
  std::size_t grid_trials = 0; // what the full grid would train (points × seeds)
};

// Replays the adaptive search of `s` (s.search.adaptive) over the results in `done`.
// Round 0: on each axis the lattice points at least `coarse_step` log2 apart (both ends included;
// on a non-log axis about 5 points); the product over axes. Round r >= 1: around the lattice
// point nearest the fitted optimum, on each axis the points stride_r = max(1, stride_0 / 2^r)
// lattice steps apart (offsets -2..2 with one free axis, -1..1 with more), those not tried
// yet, nearest first, as many as the budget allows. The fit is the sweep report's
// (fit_optimum on every point so far). Pure: the same spec and results give the same state.
// InputError (pointing into `file`) when a point's config is invalid.
AdaptiveState adaptive_state(const SweepSpec& s, const std::string& file,
                             const std::map<std::string, TrialResult>& done);

// The report's /search for an adaptive sweep: the settings, the rounds, why it stopped (or
// "running"), trials planned vs the full grid's.
Json adaptive_summary(const SweepSpec& s, const AdaptiveState& st);

} // namespace mue
