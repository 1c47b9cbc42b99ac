#pragma once
// RunConfig: everything one training run needs (`muE train CONFIG`, a reference
// config for `muE transfer`, the body of a TrialSpec).
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "spec/hparams.h"
#include "spec/model_spec.h"
#include "spec/options.h"
#include "spec/schemas.h"
#include "spec/train_spec.h"
#include "util/json.h"

namespace mue {

enum class BackendKind { kLibTorch, kCommand };

// `command`: the trial runs an external trainer (README "Using your own trainer").
// argv and env values may hold placeholders: {trial_json} {result_json} {trial_id}
// {out_dir} {lr} {wd} {init_std} {seed} {steps}.
struct BackendSpec {
  BackendKind kind = BackendKind::kLibTorch;
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  std::string cwd;      // absolute once read from a file (default: its folder); empty = the
                        // trial's base folder
  double timeout_s = 0; // 0 = none (the sweep's per-trial timeout still applies)
};

inline constexpr const char* kCommandPlaceholders[] = {
    "trial_json", "result_json", "trial_id", "out_dir", "lr", "wd", "init_std", "seed", "steps"};

// The shape the hparams were tuned at (μP's "base shape"). A config written by
// `muE transfer` for a target carries the reference's hparams and shape, so its
// table is transfer(reference, target): exactly the transferred values.
struct BaseShape {
  ModelSpec model;
  TrainSpec train;
};

struct RunConfig {
  ModelSpec model;
  TrainSpec train; // steps and tokens both resolved
  HParams hparams; // at `reference` when given, else at this model
  BackendSpec backend;
  TransferOptions options;
  std::optional<BaseShape> reference;
};

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

} // namespace mue
