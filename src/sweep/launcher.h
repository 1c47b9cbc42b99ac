#pragma once
// Inside the trial engine: what the launchers (local processes, a Slurm array job) share,
// and the one interface they implement. Not used outside src/sweep.
#include <chrono>
#include <csignal>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/process/environment.hpp>

#include "sweep/engine.h"

namespace mue {

// SIGINT/SIGTERM/SIGHUP handlers for the life of a launch (the previous ones come back
// after); received() is the signal that asked the run to stop, 0 while none did.
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

// The environment of every worker: ours, with OMP_WAIT_POLICY set unless the user set it, to
// omp_wait_policy(layout, cores) (src/sweep/engine.h; libgomp reads it when it loads).
boost::process::environment worker_environment(const Layout& layout);

// Journals results and reports progress: one line per finished trial, or a redrawn line.
class Recorder {
public:
  Recorder(const std::vector<PlannedTrial>& plan, const Journal& journal,
           std::map<std::string, TrialResult>& done, const RunOptions& o, int jobs);
  // Appends `r` to the journal (durable first), then counts and reports it. `unit_wall`:
  // the worker's wall time shared by the unit's `unit_size` trials (< 0: unknown).
  void record(const TrialResult& result, double unit_wall, std::size_t unit_size);
  // The live progress line (no-op unless RunOptions::live); `running` workers now.
  void draw(std::size_t running);
  void end_live_line();
  bool finished(const std::string& id) const;
  // Every result known: the journal's before this run and this run's.
  const std::map<std::string, TrialResult>& done() const { return done_; }
  // Set once the first `jobs + 1` units (worker processes) this run recorded all failed
  // before training a step with the same first error line (a broken install, bad data):
  // launchers then start no more units. Those trials are journaled again with retry, so a
  // run after the fix runs them. Empty while no such failure is seen.
  const std::string& systematic_failure() const { return systematic_; }
  bool systematic_input() const { return systematic_input_; }
  std::size_t ran() const { return ran_; }
  std::size_t unusable() const { return unusable_; }

private:
  std::string describe(const std::string& id) const;
  std::string best_and_eta() const;
  const std::vector<PlannedTrial>& plan_;
  const Journal& journal_;
  std::map<std::string, TrialResult>& done_;
  const RunOptions& o_;
  int jobs_;
  std::map<std::string, std::size_t> index_; // trial id -> plan index
  std::size_t finished_ = 0, ran_ = 0, unusable_ = 0;
  double wall_sum_ = 0;
  // The systematic-failure watch: this run's first results while they all failed alike.
  std::vector<TrialResult> early_failures_;
  double early_units_ = 0; // worker processes those failures came from
  bool watching_ = true;
  std::string systematic_;
  bool systematic_input_ = false;
  void watch(const TrialResult& r, std::size_t unit_size);
  std::chrono::steady_clock::time_point last_draw_{};
};

// A failed or timed-out trial that left no result: what happened (with the worker's last
// "muE: error: " line from its log, when it printed one) and its log's tail.
TrialResult failure_result(const std::string& id, TrialStatus status, std::string error,
                           const std::string& log_file);

// What a launcher is given: the pending trials grouped into units (plan indices; one trial,
// or a fused pack of trials that share a pack key), the layout, and the shared recorder.
struct Batch {
  const std::vector<PlannedTrial>& plan;
  std::vector<std::vector<std::size_t>> units;
  const Journal& journal;
  const RunOptions& options;
  Layout layout;
  int fuse = 1;
  Recorder& recorder;
  // Unit `u` with each spec's threads and device set for this run.
  Unit unit(std::size_t u, const std::string& device) const;
};

struct LaunchResult {
  int stop_signal = 0;
  bool detached = false;
  std::string job_id;
};

class Launcher {
public:
  virtual ~Launcher() = default;
  // Runs the batch's units, recording each trial's result as soon as it is known.
  virtual LaunchResult run(Batch& b) = 0;
};

std::unique_ptr<Launcher> make_local_launcher();
std::unique_ptr<Launcher> make_slurm_launcher();

// Groups pending plan indices into units: single trials, or packs of up to `fuse` trials
// with the same non-empty pack_key (in plan order).
std::vector<std::vector<std::size_t>> make_units(const std::vector<PlannedTrial>& plan,
                                                 const std::vector<std::size_t>& pending, int fuse);

} // namespace mue
