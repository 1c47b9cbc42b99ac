#pragma once
// The Slurm launcher of the sweep engine: the pending trials (or fused packs) become ONE
// sbatch array job whose tasks run `muE trial --spec DIR/specs/<name>.json --result
// DIR/results/<name>.json`. The parent polls the results folder, squeue and scontrol (no
// sacct: a Slurm without slurmdbd has none), journals each result as it appears, maps
// Slurm states to trial statuses, and on Ctrl-C cancels its job. DIR must be on a file
// system the submit host and the nodes share.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "sweep/local_runner.h"

namespace mue {

struct SlurmOptions {
  LocalRunOptions
      base; // exe (as the nodes see it), jobs (array throttle), threads, fuse, timeout...
  std::string partition, time;    // --partition, --time (default: per-trial timeout × pack size)
  std::string gres, mem;          // --gres (e.g. gpu:1), --mem
  int cpus = 0;                   // --cpus-per-task (default: threads)
  std::vector<std::string> extra; // raw sbatch flags, one #SBATCH line each
  std::string template_file;      // replaces the generated #SBATCH header (placeholders below)
  bool detach = false;            // submit and return; a later run collects
};

// What a finished array task that left no result means, from Slurm's job state.
// `resubmit` is true for states that say nothing about the trial (node failure, a
// cancellation): such trials are journaled with `retry`, so the next run submits them again.
struct SlurmVerdict {
  TrialStatus status = TrialStatus::kFailed;
  std::string error;
  bool resubmit = false;
};
SlurmVerdict slurm_state_verdict(const std::string& state, const std::string& reason);

// The #SBATCH header: from `o`, or `o.template_file` with {job_name} {array} {log} {cpus}
// {time} replaced.
std::string sbatch_header(const SlurmOptions& o, const std::string& job_name,
                          const std::string& array, const std::string& log, int cpus,
                          const std::string& time);

struct SlurmSummary {
  RunSummary run;
  std::string job_id;
  bool detached = false;
};

SlurmSummary run_slurm(const std::filesystem::path& dir, const std::string& job_name,
                       const std::vector<PlannedTrial>& plan,
                       std::map<std::string, TrialResult>& done, const SlurmOptions& o);

} // namespace mue
