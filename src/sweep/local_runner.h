#pragma once
// The local launcher of the sweep engine (docs/design.md "Sweep engine"): every trial is a
// child `muE trial` process, `jobs` at a time, each finished result appended to the
// fsync'd journal DIR/trials.jsonl before anything else happens.
#include <csignal>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sweep/plan.h"

namespace mue {

struct LocalRunOptions {
  std::string exe;                         // the muE executable the children run
  int jobs = 1;                            // trials at once
  int threads = 1;                         // torch threads per trial
  std::vector<std::string> devices{"cpu"}; // each launch goes to the least busy one
  double timeout_s = 3600;                 // per trial, wall clock; past it the child is killed
  bool quiet = false;                      // no per-trial lines
  bool live = false;                       // one redrawn progress line (stderr is a terminal)
  std::function<std::string(const PlannedTrial&)> describe; // "lr=0.001 seed 0"
  // Fused trials: up to `fuse` trials with the same non-empty pack key run as one
  // `muE trial --pack` child (1 = every trial alone). The key comes from the backend.
  int fuse = 1;
  std::function<std::string(const TrialSpec&)> pack_key;
};

// Groups the pending plan indices into launch units: single trials, or packs of up to
// `fuse` trials sharing a pack key (in plan order).
std::vector<std::vector<std::size_t>>
make_units(const std::vector<PlannedTrial>& plan, const std::vector<std::size_t>& pending, int fuse,
           const std::function<std::string(const TrialSpec&)>& key);

struct RunSummary {
  std::size_t ran = 0;      // trials run (and journaled) by this call
  std::size_t unusable = 0; // of those: diverged, failed or timed out
  std::size_t salvaged = 0; // results found in DIR/trials that a killed run had not journaled
  int stop_signal = 0;      // SIGINT/SIGTERM/SIGHUP that stopped the run early, else 0
};

// SIGINT/SIGTERM/SIGHUP handlers for the life of a run (the previous ones come back after);
// received() is the signal that asked the run to stop, 0 while none did.
class StopSignals {
public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  int received() const;

private:
  struct sigaction previous_[3]{};
};

// A valid result for trial `id` in `path`, or nullopt; a pack's results ({"results": [...]}),
// empty when missing or malformed.
std::optional<TrialResult> read_trial_result(const std::string& path, const std::string& id);
std::vector<TrialResult> read_pack_results(const std::string& path);

// Prepares DIR for `spec_text` (the canonical spec): creates DIR, logs/, trials/ and
// DIR/spec.json. A DIR holding another spec is refused (InputError naming `spec_file`)
// unless `force_new`, which empties its journal.
void open_sweep_dir(const std::filesystem::path& dir, const std::string& spec_text, bool force_new,
                    const std::string& spec_file);

// Runs every trial of `plan` whose id is not in `done`, records each result in `done`
// and in DIR/trials.jsonl. A crashing child (signal, non-zero exit, garbage output) is a
// `failed` result with its exit status and log tail; a child past the timeout is killed
// and `timeout` (a pack's limit is the per-trial timeout × its size; its trials share
// the outcome of its process). SIGINT/SIGTERM/SIGHUP stop the children (TERM, then KILL after a
// grace period) without recording them, and return with stop_signal set: the journal stays
// resumable. Children die with this process (PR_SET_PDEATHSIG), so a SIGKILLed sweep
// leaves no orphans; results they wrote but nobody journaled are salvaged on the next run.
RunSummary run_local(const std::filesystem::path& dir, const std::vector<PlannedTrial>& plan,
                     std::map<std::string, TrialResult>& done, const LocalRunOptions& o);

} // namespace mue
