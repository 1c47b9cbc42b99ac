#pragma once
// TargetsSpec: the MoE (or dense) configurations a reference is transferred to.
#include <string>
#include <vector>

#include "spec/config.h"
#include "spec/options.h"
#include "spec/schemas.h"
#include "util/json.h"

namespace mue {

struct TargetSpec {
  std::string name;
  std::string description;
  // Partial model/train as written: absent fields inherit from the reference.
  // An `ffn` object, when given, is complete on its own.
  Json model_patch = Json::object();
  Json train_patch = Json::object();
  TransferOptions options; // file-level options overridden by the target's own
};

struct TargetsSpec {
  TransferOptions options;
  std::vector<TargetSpec> targets;
};

TargetsSpec parse_targets_spec(const Json& j, const Where& where);
Json to_json(const TargetsSpec& t);

// The target's full model and train, given the reference's. `where` names the
// target entry (e.g. /targets/2) so errors point into the targets file.
void resolve_target(const TargetSpec& t, const ModelSpec& ref_model, const TrainSpec& ref_train,
                    const Where& where, ModelSpec& model, TrainSpec& train);

} // namespace mue
