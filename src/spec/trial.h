#pragma once
// TrialSpec / TrialResult: one training run's full input and its outcome. The
// trial id is a stable hash of the canonical JSON of what determines the result,
// so a resumed sweep recognizes finished trials exactly.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "spec/config.h"
#include "spec/schemas.h"
#include "spec/sweep_spec.h"
#include "util/json.h"

namespace mue {

struct TrialSpec {
  RunConfig config;
  Objective objective;
  double divergence_loss = 0; // 0 = 1.5 × ln(vocab)
  // How to run it; not part of the id (resuming with other --jobs/--device is fine).
  std::string device = "cpu";
  int threads = 1;
  // Absolute directory that relative paths in the config resolve against (the sweep spec's
  // folder); empty = beside the trial file. muE writes the config's paths absolute (they
  // were anchored when the spec was read), so this matters only for a trial file written
  // with relative paths. A trial spec is parsed as written. Not part of the id either.
  std::string base_dir;

  std::string id() const;
  double divergence_threshold() const;
};

// kPruned: stopped early by the sweep's pruner (its curve so far kept; never re-run).
enum class TrialStatus { kOk, kDiverged, kFailed, kTimeout, kPruned };

struct CurvePoint {
  std::int64_t step = 0;
  double train_loss = 0;
  std::optional<double> val_loss;
  double lr = 0;
};

struct TrialResult {
  std::string id;
  TrialStatus status = TrialStatus::kFailed;
  std::optional<double> objective;
  std::optional<double> final_val_loss;
  std::vector<CurvePoint> curve;
  double tokens_per_s = 0;
  double wall_s = 0;         // the training loop (set by the trainer)
  double process_wall_s = 0; // the whole trial process, spawn to exit (set by the launcher)
  std::int64_t peak_mem_bytes = 0;
  std::string device;
  std::string error;    // failed/timeout/diverged: what happened
  std::string log_tail; // last lines of the trial's stderr, when it failed
  std::optional<int> exit_status;
  // The outcome says nothing about the trial (a node failure, a cancelled Slurm task): it
  // is journaled with its reason, and the next run of the sweep runs the trial again.
  bool retry = false;
  std::vector<std::vector<double>>
      expert_load; // per MoE layer: fraction of routed slots per expert
  // Router losses of the last training step, summed over MoE blocks, each with its
  // coefficient applied (load-balance aux loss, z-loss); reported apart from the objective,
  // which is cross-entropy only. Absent for a dense model (or when the coefficient is 0).
  std::optional<double> aux_loss, z_loss;
};

TrialSpec parse_trial_spec(const Json& j, const Where& where);
Json to_json(const TrialSpec& t);
// What the id hashes: the config, objective and divergence threshold.
Json identity_json(const TrialSpec& t);

TrialResult parse_trial_result(const Json& j, const Where& where);
Json to_json(const TrialResult& r);

const char* to_string(TrialStatus s);

// Why none of `unusable` (trials that failed, timed out or diverged) gave an objective, from
// their errors: "5 failed: <first line>" when they share a first line, else the statuses and
// the most common first line with its count ("3 failed, 1 diverged; most common error (2 of
// 4): ..."). Empty when no trial recorded an error. Used by verify's cases and the sweep.
std::string unusable_reason(const std::vector<const TrialResult*>& unusable);

} // namespace mue
