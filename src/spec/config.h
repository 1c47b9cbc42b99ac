#pragma once
// RunConfig: everything one training run needs (`muE train CONFIG`, a reference
// config for `muE transfer`, the body of a TrialSpec).
#include <optional>
#include <string>

#include "spec/hparams.h"
#include "spec/model_spec.h"
#include "spec/options.h"
#include "spec/train_spec.h"
#include "util/json.h"

namespace mue {

enum class BackendKind { kLibTorch };

struct BackendSpec {
  BackendKind kind = BackendKind::kLibTorch;
};

// The shape the hparams were tuned at (μP's "base shape"). A config written by
// `muE transfer` for a target carries the reference's hparams and shape, so its
// table is transfer(reference, target): exactly the transferred values.
struct BaseShape {
  ModelSpec model;
  TrainSpec train;
};

struct RunConfig {
  ModelSpec model;
  TrainSpec train;  // steps and tokens both resolved
  HParams hparams;  // at `reference` when given, else at this model
  BackendSpec backend;
  TransferOptions options;
  std::optional<BaseShape> reference;
};

inline constexpr const char* kConfigSchema = "mue.config/1";

// Checks an optional top-level "schema" field against `expected`.
void check_schema_field(ObjectReader& r, const char* expected);

// Cross-field rules that need both model and train (steps <-> tokens, byte data
// needs vocab >= 256). `where` is the document holding "model" and "train".
void resolve_and_check(ModelSpec& m, TrainSpec& t, const Where& where);

BackendSpec parse_backend(const Json& j, const Where& where);
Json to_json(const BackendSpec& b);

// A full config document: {schema?, model, train, hparams, backend?}.
RunConfig parse_config(const Json& j, const Where& where);
Json to_json(const RunConfig& c);

}  // namespace mue
