#pragma once
// The one training loop (backend-internal: includes torch). `train` runs it for one trial
// (the Gpt module and torch's AdamW), `train_pack` for K fused trials (the stacked Pack):
// both through TrialModels, so the schedule, evaluation, divergence detection, loss curve
// and objective are defined once.
#include <torch/torch.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "data.h"
#include "spec/trial.h"
#include "trainer.h"

namespace mue::torch_backend {

// K ≥ 1 trials that train in step on the same batches.
class TrialModels {
public:
  virtual ~TrialModels() = default;
  virtual std::size_t size() const = 0; // K
  virtual torch::Device device() const = 0;
  // Forward and backward of one training batch ([B, T+1] int64 tokens on device()): each
  // trial's mean next-token cross-entropy (K values). The gradients wait for step().
  virtual std::vector<double> losses(const torch::Tensor& batch) = 0;
  // Trial k diverged: from now on it learns nothing and disturbs no other trial.
  virtual void freeze(std::size_t k) = 0;
  // One optimizer step, every live trial at its lr × schedule_factor (after clipping).
  virtual void step(double schedule_factor) = 0;
  // Each trial's mean validation loss over `batches` (on the CPU; K values).
  virtual std::vector<double> eval_losses(const std::vector<torch::Tensor>& batches) = 0;
  // Per MoE layer, trial k's expert load in the last forward; empty without MoE.
  virtual std::vector<std::vector<double>> expert_load(std::size_t k) const = 0;
  // Trial k's router losses of the last training batch (summed over MoE blocks, coefficient
  // applied): the load-balance aux loss and the z-loss, each absent when the model has no MoE
  // block or its coefficient is 0. They train (added to the loss step() follows) but are no
  // part of losses() or the objective.
  struct RouterLosses {
    std::optional<double> aux, z;
  };
  virtual RouterLosses router_losses(std::size_t) const { return {}; }
};

// Trains models.size() trials for the first spec's train.steps on `source`. Per trial k:
// specs[k] gives the id, divergence threshold and objective, base_lr[k] the lr the curve
// reports (× the schedule), inject_nan[k] (if present) the MUE_FAULT=nan hook: its loss at
// the second step reads NaN. A trial whose loss is NaN or above its threshold is frozen and
// recorded as diverged; the loop ends when none is left. `on_step` gets trial 0's progress.
// Every result names `device`.
std::vector<TrialResult> train_loop(TrialModels& models, const std::vector<TrialSpec>& specs,
                                    const std::vector<double>& base_lr, TokenSource& source,
                                    const std::string& device,
                                    const std::function<void(const Progress&)>& on_step = {},
                                    const std::vector<bool>& inject_nan = {});

} // namespace mue::torch_backend
