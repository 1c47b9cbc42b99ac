#pragma once
// What `muE sweep` and `muE fit` share: the process layout, the environment record, and
// writing DIR/sweep.json with its plot.
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "sweep/local_runner.h"
#include "sweep/plan.h"
#include "sweep/slurm_runner.h"
#include "util/json.h"

namespace mue::cli {

struct Layout {
  int jobs = 1, threads = 1;
  std::vector<std::string> devices; // trials go to the least busy one
};

// --jobs (0 = one per core on CPU, one per GPU on CUDA; at most the pending trials) and
// --threads (0 = the cores split between the jobs). `device` is resolved ("cpu", "cuda",
// "cuda:N"); plain "cuda" spreads trials over every visible GPU.
Layout choose_layout(const GlobalOptions& g, int jobs, std::size_t pending,
                     const std::string& device);

// muE and torch versions, host, CPU, cores, device and the layout: sweep.json /environment.
Json sweep_environment(const std::string& device, const Layout& layout);

// Fits, writes DIR/sweep.json (atomic) and DIR/plots/loss_vs_lr.svg, prints the optimum and
// where both are. Returns the exit code (CheckFailedError propagates when nothing is usable).
int write_sweep_outputs(const SweepSpec& s, const std::string& spec_file,
                        const std::vector<PlannedTrial>& plan,
                        const std::map<std::string, TrialResult>& done, const Json& environment,
                        const std::string& dir, const GlobalOptions& g);

// Path of the running muE executable (/proc/self/exe).
std::string self_exe();

// --fuse off|auto|K: how many same-shape trials run as one fused pack. `auto` times a few
// steps of one pending trial alone and in packs (a `muE trial --calibrate` child, on this
// hardware, with the layout's threads) and fuses only when a pack is >= 5% cheaper per
// trial. `record` goes into the report's environment (decision, figures, their cost).
struct FuseDecision {
  int k = 1;
  Json record;
};
FuseDecision decide_fuse(const std::string& flag, const std::vector<PlannedTrial>& plan,
                         const std::map<std::string, TrialResult>& done, const Layout& layout,
                         const std::string& device, const std::string& dir, bool quiet);

} // namespace mue::cli

namespace mue::cli {
// The local launcher's options for a layout and fuse decision: this muE as the trial
// executable, the backend's pack key, a live progress line when stderr is a terminal.
LocalRunOptions local_run_options(const Layout& layout, const FuseDecision& fuse, double timeout_s,
                                  const GlobalOptions& g,
                                  std::function<std::string(const PlannedTrial&)> describe);
} // namespace mue::cli

namespace mue::cli {
// --slurm-partition/-time/-gres/-cpus/-mem/-extra/-template, --slurm-muE PATH, --detach.
void add_slurm_options(CLI::App* sub, SlurmOptions& o, std::string& mue_path);
} // namespace mue::cli

namespace mue::cli {
// UsageError (exit 2) saying how to get Slurm when its client commands are missing.
void require_slurm_clients();
} // namespace mue::cli

namespace mue::cli {
// Runs the plan's pending trials with --launcher local or slurm (the Slurm options and the
// muE path the nodes run). nullopt when a Slurm job was submitted with --detach: that is
// reported on stdout with how to collect (`to_do`: "fit", "judge").
std::optional<RunSummary> launch(const std::string& launcher, const SlurmOptions& slurm,
                                 const std::string& slurm_mue, const LocalRunOptions& o,
                                 const std::filesystem::path& dir, const std::string& job_name,
                                 const std::vector<PlannedTrial>& plan,
                                 std::map<std::string, TrialResult>& done,
                                 const std::string& to_do);
} // namespace mue::cli
