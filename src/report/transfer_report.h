#pragma once
// `muE transfer` and `muE explain` as library functions: load a reference, map it
// onto every target, render the report, its table and its explanation.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "spec/config.h"
#include "spec/schemas.h"
#include "spec/target_spec.h"
#include "transfer/transfer.h"
#include "util/json.h"

namespace mue {

struct LoadedReference {
  Reference ref;
  std::string file;
  std::string kind;     // "config" or "sweep"
  bool at_edge = false; // a sweep whose fitted optimum sits at the edge of its grid
  Where train_where;    // its train spec: /reference/train of a sweep report, /train of a config
};

// A config {model, train, hparams} or a sweep report (mue.sweep/1), of which
// transfer reads /reference (the config at the fitted optimum) and /optimum/at_edge.
LoadedReference load_reference(const std::string& path);

struct TargetResult {
  const TargetSpec* spec; // points into the TargetsSpec given to run_transfer
  ModelSpec model;
  TrainSpec train;
  Parameterization table;
};

struct TransferOutput {
  const LoadedReference* reference;
  const TargetsSpec* targets;
  std::vector<TargetResult> results;
  std::vector<std::string> warnings;
};

// Every target is resolved and transferred before anything is returned, so a bad
// target means no output at all. `ref` and `targets` must outlive the result.
TransferOutput run_transfer(const LoadedReference& ref, const TargetsSpec& targets,
                            const std::string& targets_file);

// The report (mue.transfer/1) as compact JSON, one target per line, streamed in
// chunks without a DOM so 10,000 targets take a fraction of a second.
void write_report(std::ostream& os, const TransferOutput& out);
std::string report_text(const TransferOutput& out);

// Bad input unless every target's data files can be opened (spec/paths.h), reported at the
// field that names them: the target's train.data in `targets_file`, else the reference's.
// `muE transfer --emit-configs` calls it before writing anything: its configs must train.
void check_target_data(const TransferOutput& out, const std::string& targets_file);

// A config per target that `muE train` accepts: the target's model and train, the
// reference's hparams and shape, the target's options. Its table is the target's.
RunConfig target_config(const TransferOutput& out, const TargetResult& r);

// Compact terminal table: target, H_act, A, R, lr, wd, down-projection init, σ0 ratio.
std::string transfer_table(const TransferOutput& out);

// For each value, its base and every factor with rule id and reason. Filters are
// optional; an unknown target or group is a UsageError listing the known ones.
std::string explain(const Json& report, const std::string& file, const std::string& target,
                    const std::string& group);
std::string rules_text();

// The reader of transfer.json (its writer is write_report above; explain reads the same
// file through the same schema check). Each target as a trainable config — the target's
// model and train, the reference's hparams and shape, its options — with its bridged lr, wd
// (the table's global optimizer values) and init_std (σ⋆: docs/method.md §4). InputError
// naming the file and field for another schema (version) or a malformed report.
struct ReportedTarget {
  std::string name;
  Where where; // the target in the report (/targets/i): its config's fields sit below it
  RunConfig config;
  std::map<std::string, double> bridged; // "lr", "wd", "init_std"
};
std::vector<ReportedTarget> read_transfer_report(const Json& j, const std::string& file);

} // namespace mue
