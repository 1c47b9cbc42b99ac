#pragma once
// The worker protocol: how the sweep engine talks to a `muE trial` process across the
// process boundary (docs/design.md "Running trials"). This header is the only place that
// spells the worker's command line and the pack and calibration files; the engine writes
// them, `muE trial` (cli/cmd_trial.cpp → backends/run_trial.h) reads them.
//
//   muE -q trial --spec UNIT.json --result RESULT.json          one TrialSpec → TrialResult
//   muE -q trial --spec UNIT.json --result RESULT.json --pack   TrialPack → PackResult
//   muE -q trial --calibrate --spec TRIAL.json                  TrialSpec → Calibration (stdout)
//
// A worker exits 0 once it wrote its result (also for a diverged trial); any other exit, or
// a missing or unparsable result, is a failure the launcher records for the unit's trials.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "spec/schemas.h"
#include "spec/trial.h"
#include "util/json.h"

namespace mue {

// Exit status of a `muE trial` worker that trained but could not write its result file (a
// full or read-only disk: EX_TEMPFAIL): the launcher journals the trial with retry.
inline constexpr int kWorkerCannotWrite = 75;

// K trials trained as one fused pack (schema mue.pack/1). Every trial must have the same
// non-empty pack_key; the results come back in the same order.
struct TrialPack {
  std::vector<TrialSpec> trials;
};
// InputError naming `where` for a missing or empty /trials or a malformed trial spec.
TrialPack parse_trial_pack(const Json& j, const Where& where);
Json to_json(const TrialPack& p);

// The results of a pack, in the order of its trials (schema mue.pack_result/1).
struct PackResult {
  std::vector<TrialResult> results;
};
PackResult parse_pack_result(const Json& j, const Where& where);
Json to_json(const PackResult& p);

// Seconds per training step of one trial alone and fused in packs of K, measured by
// `muE trial --calibrate` on the hardware and threads the sweep will use (mue.calibration/1).
struct Calibration {
  double single_step_s = 0;
  std::vector<std::pair<int, double>> pack_step_s; // (K, seconds per fused step)
};
Calibration parse_calibration(const Json& j, const Where& where);
Json to_json(const Calibration& c);

// Trials with equal non-empty keys may share a fused pack: the libtorch backend fuses
// dense-FFN models that agree on everything but lr, wd, init_std, eps and per-group
// overrides (model, train with seed and data, options, reference shape, betas, α multipliers,
// device). "" for a trial that runs alone (MoE FFN, GQA/MQA, d_attn ≠ d_model, QK-norm, tied
// embeddings, the command backend).
std::string pack_key(const TrialSpec& spec);

// The worker's arguments after the executable (the global -q included); with a progress file
// the worker appends each evaluation to it (the pruner's input).
std::vector<std::string> worker_args(const std::string& spec_file, const std::string& result_file,
                                     bool pack, const std::string& progress_file = "");
std::vector<std::string> calibrate_args(const std::string& spec_file);

// What a unit's spec file holds: one TrialSpec (a single trial) or a TrialPack (several).
struct Unit {
  std::string name; // the trial id, or "pack-<hash of the ids>"
  std::vector<TrialSpec> trials;
  bool pack() const { return trials.size() > 1; }
  std::string spec_text() const; // the file `--spec` reads
};
Unit make_unit(std::vector<TrialSpec> trials);

// The valid result for trial `id` in `path`, or nullopt (missing, torn, another id).
std::optional<TrialResult> read_trial_result(const std::string& path, const std::string& id);
// A pack's results in `path`; empty when the file is missing or malformed.
std::vector<TrialResult> read_pack_results(const std::string& path);
// Either, by the unit's kind: the results a finished unit left, keyed by trial id.
std::vector<TrialResult> read_unit_results(const Unit& u, const std::string& path);

} // namespace mue
