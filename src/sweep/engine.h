#pragma once
// The trial engine (docs/design.md "Running trials"): one call runs the pending trials of a
// plan — alone or in fused packs, as local worker processes or one Slurm array job — and
// journals every result as it ends. `muE sweep` and `muE verify` both call run_trials; the
// command files only parse options and print. No torch here: what the engine needs to know
// about the backend (visible GPUs, versions) arrives in RunOptions.
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "spec/trial.h"
#include "sweep/journal.h"
#include "sweep/plan.h"
#include "util/json.h"

namespace mue {

// --slurm-* options: the sbatch array job of the Slurm launcher.
struct SlurmOptions {
  std::string partition, time;    // --partition, --time (default: trial timeout × pack size)
  std::string gres, mem;          // --gres (e.g. gpu:1), --mem
  int cpus = 0;                   // --cpus-per-task (default: threads per trial)
  std::vector<std::string> extra; // raw sbatch flags, one #SBATCH line each
  std::string template_file;      // replaces the generated #SBATCH header
  std::string exe;                // the muE path the nodes run (default: RunOptions::exe)
  bool detach = false;            // submit and return; running the command again collects
};

// Where a run's trials go and how they are reported.
struct RunOptions {
  std::string title;              // "muE sweep tiny-cpu": header and stop lines start with it
  std::string launcher = "local"; // local | slurm
  std::string exe;                // the muE executable the workers run (this one)
  std::string device = "cpu";     // resolved: cpu, cuda (every visible GPU) or cuda:N
  int cuda_devices = 0;           // GPUs visible to the backend (device "cuda")
  int jobs = 0;                   // trials at once; 0 = one per core (CPU) or per GPU (CUDA)
  int threads = 0;                // threads per trial; 0 = the cores split between the jobs
  double timeout_s = 3600;        // per trial (a pack: × its size); past it, killed: timeout
  std::string fuse = "auto";      // off | auto | K (1..64): trials per fused pack
  std::string workers = "warm";   // local launcher: warm (a server forks each trial) | cold
  bool no_report = false;         // --no-report: no DIR/report.html (the command writes it)
  bool quiet = false;             // no header, per-trial or progress lines
  bool wait_lock = false;         // --wait-lock: wait for another muE using DIR (util/run_lock.h)
  bool live = false;              // one redrawn progress line (stderr is a terminal)
  Json backend_environment = Json::object(); // torch version, CUDA: into the environment
  PrunerSpec pruner; // a sweep's early stopping (local launcher, unfused trials)
  SlurmOptions slurm;
  std::string job_name = "muE"; // the Slurm job's name
  std::string collect_then;     // after a detached submit: "fit", "judge" (what a re-run does)
  // "lr=0.001 seed 0": how a trial is named in progress lines (its id when unset).
  std::function<std::string(const PlannedTrial&)> describe;
};

// The directory a run journals into: one that belongs to a spec (spec_text non-empty: the
// canonical spec, refused when DIR holds another unless force_new) or a content-addressed
// one (spec_text empty).
struct RunDir {
  std::filesystem::path path;
  std::string spec_text;
  bool force_new = false;
  std::string spec_file; // names the spec in errors
};

// The process layout: `jobs` workers at once, `threads` each, each launch on the least busy
// of `devices`.
struct Layout {
  int jobs = 1, threads = 1;
  std::vector<std::string> devices;
};
// The OpenMP wait policy for the trial processes of `layout` on `cores` cores, when the user
// has set none: "ACTIVE" (threads spin between parallel regions) when each trial runs more
// than one thread and jobs × threads ≤ cores, so no other trial's threads wait for the same
// core; "PASSIVE" (they sleep) otherwise. Measured (2-core VM, tiny-cpu trial, torch 2.15):
// one trial × 2 threads 1.85 s ACTIVE vs 4.84 s PASSIVE; two trials × 2 threads at once 12.6 s
// ACTIVE vs 4.0 s PASSIVE; one thread per trial the same either way (2.6 s), where PASSIVE stays
// (with Debian's OpenBLAS-OpenMP, spinning cost ~3× there).
const char* omp_wait_policy(const Layout& layout, int cores);

// `cores` = hardware threads of this machine; `pending` caps the jobs.
Layout choose_layout(int jobs, int threads, std::size_t pending, const std::string& device,
                     int cuda_devices, int cores);

// --fuse: the pack size and why (recorded in the report's environment as /fuse).
struct FuseDecision {
  int k = 1;
  Json record;
};
// UsageError unless `flag` is off, auto or an integer K in [1, 64].
void check_fuse_flag(const std::string& flag);

struct RunOutcome {
  std::map<std::string, TrialResult> done; // every journaled result, this run's included
  std::size_t planned = 0;                 // trials in the plan
  std::size_t reused = 0;                  // already finished in the journal before this run
  std::size_t ran = 0;                     // journaled by this run (salvaged results included)
  std::size_t unusable = 0;                // of those: diverged, failed or timed out
  std::size_t salvaged = 0;                // results a killed run had left unjournaled in trials/
  int stop_signal = 0;   // SIGINT/SIGTERM/SIGHUP that stopped the run early, else 0
  bool detached = false; // a Slurm job was submitted with --detach; nothing to judge yet
  std::string job_id;    // the Slurm job, when there is one
  // The first trials of this run all failed the same way before training a step (README
  // "Guarantees"): launching stopped; the first line of their error, else empty.
  std::string systematic_failure;
  bool systematic_input = false; // ... and every one of them was an input error (exit 2)
  Layout layout;
  Json environment; // versions, host, CPU, layout, fuse decision: the report's /environment
  // What the command should return now instead of writing its report (0 after a detached
  // submit, 128+N after signal N, 2 or 3 after a systematic failure, which it also prints),
  // or -1 when every trial has a result to judge.
  int early_exit() const;
};

// UsageError for a bad --fuse or launcher, or a Slurm launcher without Slurm's client
// commands (saying how to get them). Commands call it before they create or lock DIR.
void check_run_options(const RunOptions& o);

// Runs every trial of `plan` that the journal of `dir` does not hold (or holds with retry).
// Before anything is written: UsageError for a bad --fuse or launcher, or a Slurm launcher
// without Slurm's client commands (saying how to get them). Then it opens the directory
// (InputError when it holds another spec), salvages unjournaled results, chooses the layout,
// decides --fuse auto by timing a `muE trial --calibrate` worker, and launches. Every result
// is appended to DIR/trials.jsonl with fsync the moment it is known. A crash, garbage output
// or timeout of a worker is a failed/timeout result for its trials, never an exception.
// SIGINT/SIGTERM/SIGHUP stop the workers (local: TERM, 3 s grace, KILL; Slurm: scancel) and
// return with stop_signal set; the journal stays resumable. Prints a header line, one line
// per finished trial (or a live progress line), and the stop or detach message on stderr /
// stdout unless quiet.
RunOutcome run_trials(const std::vector<PlannedTrial>& plan, const RunDir& dir,
                      const RunOptions& o);

} // namespace mue
