#pragma once
// Fused trials (docs/design.md "Fused trials"): K trials that share every shape, the data and
// the training schedule — and differ in their hyperparameters (lr, wd, init std, eps) —
// trained as one stacked model: every weight is a [K, ...] tensor, every matmul a batched
// one over the trial dimension, one AdamW step with per-trial learning rates and weight
// decays (each trial's own table). Results equal separate runs up to float reassociation.
#include <string>
#include <vector>

#include "spec/trial.h"
#include "sweep/worker.h"

namespace mue::torch_backend {

// Trains the trials (equal non-empty mue::pack_key) as one pack on the first spec's device
// and threads, through the one training loop (loop.h). Per trial: the
// same result `train` gives (status, curve, objective), with the pack's wall time. A trial
// that diverges is frozen (weights, optimizer state and lr zeroed) and recorded; the others
// go on undisturbed. `inject_nan[k]` is the MUE_FAULT=nan test hook for trial k.
// RuntimeError when the specs do not share one pack key.
std::vector<TrialResult> train_pack(const std::vector<TrialSpec>& specs, const std::string& file,
                                    const std::vector<bool>& inject_nan = {});

// Seconds per training step (median of `steps` after 2 warm-up steps) of one trial alone
// and of a pack of K copies, in this process, for the process-layout decision. The K are
// tried in order and the search stops at the first one that is no cheaper per trial than
// both the trial alone and the previous K (unless !stop_early: every K, for benchmarks).
Calibration time_packs(const TrialSpec& spec, const std::vector<int>& ks, int steps,
                       const std::string& file, bool stop_early = true);

} // namespace mue::torch_backend
