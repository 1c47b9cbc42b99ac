#pragma once
// The pruner's decisions (docs/design.md "Pruning"; PrunerSpec in spec/sweep_spec.h): pure
// functions of validation-loss curves, so the launcher only feeds them what trials report.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "spec/sweep_spec.h"
#include "spec/trial.h"

namespace mue {

// (step, validation loss) of each evaluation, in step order.
using EvalCurve = std::vector<std::pair<std::int64_t, double>>;

// The evaluations in a result's curve.
EvalCurve eval_curve(const TrialResult& r);

// Whether to stop a running trial whose last evaluation is `trial.back()`, and why ("" to go
// on). `finished`: the curves of the trials that finished training (status ok) — the median
// pruner compares with them; `others`: every other trial's curve known now (finished,
// pruned or running) — successive halving ranks the trials that reached the rung.
std::string prune_reason(const PrunerSpec& p, const EvalCurve& trial,
                         const std::vector<EvalCurve>& finished,
                         const std::vector<EvalCurve>& others);

// The progress file a worker appends to while it trains ("<result file>.progress"): one
// line "STEP TRAIN_LOSS VAL_LOSS LR" per evaluation (LR optional). Reading tolerates a torn
// last line.
std::string progress_file_for(const std::string& result_file);
std::vector<CurvePoint> read_progress(const std::string& path);
EvalCurve eval_curve(const std::vector<CurvePoint>& curve);

} // namespace mue
