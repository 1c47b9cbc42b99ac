#pragma once
// What `muE sweep` and `muE verify` share on the command line: the options of the trial
// engine (src/sweep/engine.h) and printing a sweep report's summary.
#include <string>

#include "cli/commands.h"
#include "sweep/engine.h"
#include "sweep/report.h"

namespace mue::cli {

// --jobs, --launcher, --fuse, --slurm-partition/-time/-gres/-cpus/-mem/-extra/-template,
// --slurm-muE, --detach, filling `o`.
void add_run_options(CLI::App* sub, RunOptions& o);

// The rest of `o` from the global flags and this process: the muE executable, the device
// resolved by the backend (auto → cuda when present), visible GPUs, torch's versions for
// the report, --threads, quiet, and a live progress line when stderr is a terminal.
void complete_run_options(RunOptions& o, const GlobalOptions& g);

// Prints the optimum, warnings and the files written (`muE sweep`, `muE fit`).
void print_sweep_outputs(const SweepOutputs& out, const GlobalOptions& g);

// Writes the `muE report` page of `inputs` to `path` (atomically) and says so; a page that
// cannot be made is a warning, not a failure of the run whose reports it shows.
void write_page(const std::vector<std::string>& inputs, const std::string& path,
                const GlobalOptions& g);

} // namespace mue::cli
