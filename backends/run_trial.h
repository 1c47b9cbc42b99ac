#pragma once
// The one entry point to the training backends (docs/design.md "Running trials"): a trial
// runs on LibTorch or through the user's command by its spec's backend.kind. `muE trial`,
// `muE train` and the tests call this; the CLI only parses options and writes what it returns.
#include <functional>
#include <string>

#include "spec/trial.h"
#include "sweep/worker.h"
#include "trainer.h" // torch_backend::Progress (the header includes no torch)

namespace mue {

struct RunTrialOptions {
  // Where the result goes ("" = stdout). A command-backend trial keeps its files (trial.json,
  // result.json) beside it in `<dir of result_file>/<trial id>.cmd`, or in
  // `<temp dir>/mue-<trial id>` without one.
  std::string result_file;
  // Check the command exists before running (InputError at /backend/argv/0 otherwise), with
  // relative commands beside `file`: `muE train` does, the sweep's workers do not (the
  // sweep checked once).
  bool check_command = false;
  // Per training step of a LibTorch single trial (muE train's progress line).
  std::function<void(const torch_backend::Progress&)> on_step;
  // The MUE_FAULT test hook (see fault_for): `muE trial` only.
  bool faults = false;
};

// Trains one trial on its backend. A diverged, failed (command) or timed-out trial is a
// result, not an exception; InputError / UsageError / RuntimeError for what stops a trial
// from starting. `file` names the spec in errors and anchors relative paths.
TrialResult run_trial(const TrialSpec& spec, const std::string& file,
                      const RunTrialOptions& options = {});

// Trains a pack fused (LibTorch, every trial with the same non-empty pack_key); the results
// in the pack's order. RuntimeError when the trials cannot share a pack.
PackResult run_pack(const TrialPack& pack, const std::string& file,
                    const RunTrialOptions& options = {});

// Seconds per step of the trial alone and fused in packs of 2, 4 and 8 (4 timed steps
// each); with !all_packs the pack sizes stop once fusing no longer pays per trial.
Calibration calibrate(const TrialSpec& spec, const std::string& file, bool all_packs);

// What `muE trial` writes for a single trial or a pack: the result JSON and a newline —
// or, under MUE_FAULT=garbage for one of its trials, a torn, unparsable prefix of one. The
// other faults act inside: crash aborts, hang never returns, nan diverges at step 2.
// With `progress_file`, each evaluation's "STEP TRAIN_LOSS VAL_LOSS LR" line is appended to it
// while the trial trains (the sweep's pruner reads it; src/sweep/pruner.h).
std::string worker_output(const TrialSpec& spec, const std::string& file,
                          const std::string& result_file, const std::string& progress_file = "");
std::string worker_output(const TrialPack& pack, const std::string& file);

// Test hook: MUE_FAULT="crash:ID,hang:ID,nan:ID,garbage:ID" (ID: a trial id or a prefix
// of one). The fault for trial `id` (the first item that matches), kNone without one;
// UsageError for a malformed MUE_FAULT.
enum class Fault { kNone, kCrash, kHang, kNan, kGarbage };
Fault fault_for(const std::string& id);

} // namespace mue
