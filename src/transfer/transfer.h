#pragma once
// transfer(reference, target, options) -> Parameterization: the rules of
// docs/method.md as one pure function.
#include <string>

#include "spec/config.h"
#include "spec/hparams.h"
#include "spec/model_spec.h"
#include "spec/options.h"
#include "spec/train_spec.h"
#include "transfer/parameterization.h"
#include "util/json.h"

namespace mue {

// The tuned dense (or MoE) run that every transfer starts from.
struct Reference {
  ModelSpec model;
  TrainSpec train; // steps and tokens resolved
  HParams hparams; // η⋆, λ⋆, σ⋆ (+ ε⋆, β⋆ or the train optimizer's)
  Where where;     // where the hparams came from, for errors about overrides
};

// `target_where` names the target in its file (e.g. /targets/3) for errors that
// only the transfer can find, such as a scaled β leaving (0, 1).
Parameterization transfer(const Reference& ref, const ModelSpec& model, const TrainSpec& train,
                          const TransferOptions& options, const Where& target_where);

// docs/method.md §3: the table a reference is trained with is transfer(ref, ref).
Parameterization reference_table(const Reference& ref, const TransferOptions& options);

// The table a config trains with: transfer(its reference shape with its hparams,
// its own model and train), or transfer(itself, itself) without a reference.
Parameterization table_for(const RunConfig& config, const std::string& file);

} // namespace mue
