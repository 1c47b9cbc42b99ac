#pragma once
// TrainSpec: how one model is trained (batch, duration, schedule, optimizer, eval, data).
#include <cstdint>
#include <string>

#include "util/json.h"
#include "util/json_writer.h"

namespace mue {

enum class ScheduleKind { kConstant, kCosine, kWsd };
enum class DataKind { kSynthetic, kText, kBin };
// auto: bf16 autocast on CUDA, fp32 on CPU; fp32: full precision everywhere; bf16: CUDA only.
enum class Precision { kAuto, kFp32, kBf16 };

struct ScheduleSpec {
  ScheduleKind kind = ScheduleKind::kCosine;
  double warmup_fraction = 0.05; // of the total steps, so it scales with duration
  double decay_fraction = 0.2;   // WSD only: last fraction of steps decays
  double min_lr_ratio = 0.1;     // cosine/WSD floor as a fraction of the peak LR
};

struct OptimizerSpec {
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double grad_clip = 1.0; // global-norm clip; 0 disables
};

struct EvalSpec {
  int every = 0;   // steps between evaluations; 0 = only at the end
  int batches = 4; // fixed validation batches per evaluation
};

struct DataSpec {
  DataKind kind = DataKind::kSynthetic;
  std::uint64_t seed = 1234; // synthetic: the generating process
  std::string path;          // text, bin: training data (absolute once read from a file)
  std::string val_path;      // bin: optional separate validation file (likewise)
  double val_fraction = 0.1; // text, bin without val_path: held-out tail
};

struct TrainSpec {
  int batch_size = 0;     // sequences per step
  std::int64_t steps = 0; // give steps or tokens; the config resolves the other
  std::int64_t tokens = 0;
  ScheduleSpec schedule;
  OptimizerSpec optimizer;
  EvalSpec eval;
  std::uint64_t seed = 0; // model init and batch order
  Precision precision = Precision::kAuto;
  DataSpec data;
};

// Like parse_model: `base` fills absent fields; `partial` accepts absent required fields.
TrainSpec parse_train(const Json& j, const Where& where, const TrainSpec* base = nullptr,
                      bool partial = false);
void write_json(JsonWriter& w, const TrainSpec& t); // the one definition of the JSON form
Json to_json(const TrainSpec& t);

const char* to_string(ScheduleKind k);
const char* to_string(DataKind k);
const char* to_string(Precision p);

} // namespace mue
