#pragma once
// The Slurm launcher's pure parts, exposed for tests: the #SBATCH header and what a Slurm
// job state means for a task that left no result.
#include <string>

#include "spec/trial.h"
#include "sweep/engine.h"

namespace mue {

// `resubmit` is true for states that say nothing about the trial (node failure, a
// cancellation): such trials are journaled with `retry`, so the next run submits them again.
// `exit_code` is scontrol's ExitCode "STATUS:SIGNAL" (e.g. "0:6" for an abort); a FAILED task's
// error then names the signal or the exit status, as the local launcher does.
struct SlurmVerdict {
  TrialStatus status = TrialStatus::kFailed;
  std::string error;
  bool resubmit = false;
};
SlurmVerdict slurm_state_verdict(const std::string& state, const std::string& reason,
                                 const std::string& exit_code = "");

// The #SBATCH header: from `o`, or `o.template_file` with {job_name} {array} {log} {cpus}
// {time} replaced.
std::string sbatch_header(const SlurmOptions& o, const std::string& job_name,
                          const std::string& array, const std::string& log, int cpus,
                          const std::string& time);

// UsageError (exit 2) saying how to get Slurm when sbatch, squeue, scontrol or scancel is
// missing from PATH.
void require_slurm_clients();

} // namespace mue
