#pragma once
// The command backend (docs/design.md backends/command): a trial runs the user's own trainer.
// muE writes the trial file (mue.trial/1: the TrialSpec plus the full Parameterization
// table), runs `argv` with its placeholders filled in, and reads the result file
// (mue.result/1). No torch here: the trainer is the user's.
#include <string>

#include "spec/trial.h"

namespace mue {

// The command must exist before any trial runs: InputError at /backend/argv/0 otherwise.
// A command without '/' is looked up on PATH; one with '/' is taken relative to `base_dir`.
void check_command(const BackendSpec& b, const std::string& base_dir, const Where& where);

// Runs one trial: writes `work_dir`/trial.json, runs the command (its stdout/stderr go to
// ours, so the sweep's trial log has them), reads `work_dir`/result.json. A non-zero exit,
// a missing or invalid result, or a run past backend.timeout_s is a `failed` / `timeout`
// result saying which, never an exception. `file` names the spec in errors; relative cwd
// and command paths resolve in spec.base_dir (or beside `file`).
TrialResult run_command_trial(const TrialSpec& spec, const std::string& file,
                              const std::string& work_dir);

} // namespace mue
