#pragma once
// One training run: TrialSpec in, TrialResult out (docs/design.md "The LibTorch backend").
#include <functional>
#include <optional>
#include <string>

#include "spec/trial.h"

namespace mue::torch_backend {

struct Progress {
  std::int64_t step = 0, steps = 0;
  double train_loss = 0, tokens_per_s = 0, eta_s = 0;
  std::optional<double> val_loss; // set at an evaluation step
  double lr = 0;                  // the base lr × the schedule at this step
};

// LR multiplier of the schedule at `step` (0-based) of `steps`.
double schedule_factor(const ScheduleSpec& s, std::int64_t step, std::int64_t steps);

// Trains the spec's config with the table transfer gives it (table_for): the Gpt module and
// torch's AdamW driven by the one training loop (loop.h), as train_pack drives K. `file`
// names the config in errors. A NaN or a loss above the divergence threshold ends
// the run early with status "diverged"; it is a result, not an exception.
// `inject_nan` is a test hook (MUE_FAULT=nan in `muE trial`): the loss of the second
// step becomes NaN, exercising the divergence path end to end.
TrialResult train(const TrialSpec& spec, const std::string& file,
                  const std::function<void(const Progress&)>& on_step = {},
                  bool inject_nan = false);

} // namespace mue::torch_backend
