#include "run_trial.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <thread>

#include "command/command.h"
#include "fused.h"
#include "util/error.h"

namespace mue {
namespace fs = std::filesystem;

namespace {

// Announces the fault on stderr (the trial log) and acts on crash and hang.
Fault arm_fault(const std::string& id) {
  const Fault f = fault_for(id);
  if (f == Fault::kNone) return f;
  static const char* kNames[] = {"", "crash", "hang", "nan", "garbage"};
  std::cerr << "muE trial " << id << ": MUE_FAULT " << kNames[static_cast<int>(f)] << "\n";
  if (f == Fault::kCrash) std::abort();
  if (f == Fault::kHang)
    for (;;)
      std::this_thread::sleep_for(std::chrono::seconds(60));
  return f;
}

std::string command_work_dir(const TrialSpec& spec, const std::string& result_file) {
  const fs::path work = result_file.empty()
                            ? fs::temp_directory_path() / ("mue-" + spec.id())
                            : fs::absolute(result_file).parent_path() / (spec.id() + ".cmd");
  return work.string();
}

} // namespace

Fault fault_for(const std::string& id) {
  const char* env = std::getenv("MUE_FAULT");
  if (!env || !*env) return Fault::kNone;
  std::stringstream items(env);
  std::string item;
  while (std::getline(items, item, ',')) {
    const auto colon = item.find(':');
    const std::string kind = item.substr(0, colon);
    Fault f = Fault::kNone;
    if (kind == "crash") f = Fault::kCrash;
    if (kind == "hang") f = Fault::kHang;
    if (kind == "nan") f = Fault::kNan;
    if (kind == "garbage") f = Fault::kGarbage;
    if (colon == std::string::npos || colon + 1 == item.size() || f == Fault::kNone)
      throw UsageError("MUE_FAULT: '" + item +
                       "' is not KIND:TRIAL_ID with KIND crash, hang, nan or garbage");
    if (id.rfind(item.substr(colon + 1), 0) == 0) return f;
  }
  return Fault::kNone;
}

TrialResult run_trial(const TrialSpec& spec, const std::string& file,
                      const RunTrialOptions& options) {
  const Fault fault = options.faults ? arm_fault(spec.id()) : Fault::kNone;
  if (spec.config.backend.kind == BackendKind::kCommand) {
    if (options.check_command)
      check_command(spec.config.backend, fs::absolute(file).parent_path().string(),
                    Where{file, ""});
    return run_command_trial(spec, file, command_work_dir(spec, options.result_file));
  }
  return torch_backend::train(spec, file, options.on_step, fault == Fault::kNan);
}

PackResult run_pack(const TrialPack& pack, const std::string& file,
                    const RunTrialOptions& options) {
  std::vector<bool> nan;
  for (const auto& t : pack.trials)
    nan.push_back(options.faults && arm_fault(t.id()) == Fault::kNan);
  return PackResult{torch_backend::train_pack(pack.trials, file, nan)};
}

Calibration calibrate(const TrialSpec& spec, const std::string& file, bool all_packs) {
  return torch_backend::time_packs(spec, {2, 4, 8}, 4, file, !all_packs);
}

std::string worker_output(const TrialSpec& spec, const std::string& file,
                          const std::string& result_file, const std::string& progress_file) {
  if (fault_for(spec.id()) == Fault::kGarbage) {
    arm_fault(spec.id());
    return std::string("{\"schema\": \"") + kResultSchema + "\", \"status\": \n";
  }
  RunTrialOptions o;
  o.result_file = result_file;
  o.faults = true;
  int fd = -1;
  if (!progress_file.empty()) {
    fd = ::open(progress_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
      throw RuntimeError("cannot open the progress file '" + progress_file +
                         "': " + std::strerror(errno));
    o.on_step = [fd](const torch_backend::Progress& p) {
      if (!p.val_loss) return;
      char line[96];
      const int n = std::snprintf(line, sizeof line, "%lld %.17g %.17g %.17g\n",
                                  static_cast<long long>(p.step), p.train_loss, *p.val_loss, p.lr);
      // One write per line: the reader never sees half of one (it skips a torn last line).
      // Advisory: a lost line only delays a pruning decision.
      if (n > 0 && ::write(fd, line, static_cast<std::size_t>(n)) < 0) return;
    };
  }
  std::string out = to_json(run_trial(spec, file, o)).dump() + "\n";
  if (fd >= 0) ::close(fd);
  return out;
}

std::string worker_output(const TrialPack& pack, const std::string& file) {
  for (const auto& t : pack.trials)
    if (fault_for(t.id()) == Fault::kGarbage) {
      for (const auto& u : pack.trials) // every trial's fault is announced, as before
        arm_fault(u.id());
      return "{\"results\": [\n";
    }
  RunTrialOptions o;
  o.faults = true;
  return to_json(run_pack(pack, file, o)).dump() + "\n";
}

} // namespace mue
