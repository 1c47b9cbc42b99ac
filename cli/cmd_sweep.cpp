// muE sweep: the dense reference sweep (docs/design.md "Sweep engine"), local launcher.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <thread>

#include "cli/commands.h"
#include "cli/sweep_common.h"
#include "command/command.h"
#include "fused.h"
#include "runtime_info.h"
#include "spec/validate.h"
#include "sweep/local_runner.h"
#include "sweep/report.h"
#include "sweep/slurm_runner.h"
#include "util/error.h"
#include "util/fs.h"

namespace mue::cli {
namespace {
namespace fs = std::filesystem;

struct SweepArgs {
  std::string spec, out;
  int jobs = 0;
  std::string launcher = "local";
  bool resume = false, dry_run = false, force_new = false;
  std::string fuse = "auto";
  SlurmOptions slurm;
  std::string slurm_mue;
};

int run_sweep(const SweepArgs& a, const GlobalOptions& g) {
  const SweepSpec s = parse_sweep_spec(read_spec(a.spec, SpecKind::kSweepSpec), Where{a.spec, ""});
  if (s.axes.size() > 3)
    Where{a.spec, "/axes"}.fail("the fit handles 1 to 3 axes; this sweep has " +
                                std::to_string(s.axes.size()));
  check_command(s.backend, fs::absolute(a.spec).parent_path().string(), Where{a.spec, ""});
  const std::vector<PlannedTrial> plan = plan_sweep(s, a.spec);
  if (a.dry_run) {
    std::cout << s.name << ": " << s.grid_points() << " grid points × " << s.seeds.size()
              << " seed(s) = " << plan.size() << " trials\n";
    for (const auto& ax : s.axes)
      std::cout << "  " << ax.key << ": " << Json(ax.values).dump() << "\n";
    for (const auto& t : plan)
      std::cout << "  " << t.spec.id() << "  " << describe_trial(s, t) << "\n";
    return 0;
  }

  if (a.launcher == "slurm") require_slurm_clients(); // before anything is written
  const fs::path dir(a.out);
  const std::string spec_text = to_json(s).dump(1) + "\n";
  open_sweep_dir(dir, spec_text, a.force_new, a.spec);
  const fs::path journal = dir / "trials.jsonl";
  bool torn = false;
  std::map<std::string, TrialResult> done = read_journal(journal.string(), &torn);
  if (torn && !g.quiet)
    std::cerr << "muE: warning: the journal's last line was torn (killed mid-write); ignored\n";
  std::size_t already = 0;
  for (const auto& t : plan)
    already += done.count(t.spec.id()) && !done.at(t.spec.id()).retry;

  const std::size_t pending = plan.size() - already;
  const std::string device = torch_backend::resolve_device(g.device); // "auto" -> cuda or cpu
  const Layout layout = choose_layout(g, a.jobs, pending, device);
  if (!g.quiet)
    std::cerr << "muE sweep " << s.name << ": " << plan.size() << " trials, " << already
              << " already in the journal; " << layout.jobs << " at a time × " << layout.threads
              << " thread(s) on " << device << "\n";

  const FuseDecision fuse = decide_fuse(a.fuse, plan, done, layout, device, a.out, g.quiet);
  const LocalRunOptions o =
      local_run_options(layout, fuse, s.trial_timeout_s, g,
                        [&s](const PlannedTrial& t) { return describe_trial(s, t); });
  const std::optional<RunSummary> launched =
      launch(a.launcher, a.slurm, a.slurm_mue, o, dir, "muE-" + s.name, plan, done, "fit");
  if (!launched) return 0; // a detached Slurm job: collected by the next run
  const RunSummary& run = *launched;
  if (run.stop_signal) {
    std::size_t journaled = 0;
    for (const auto& t : plan)
      journaled += done.count(t.spec.id());
    std::cerr << "muE sweep: stopped by " << ::strsignal(run.stop_signal) << "; " << journaled
              << " of " << plan.size() << " trials are in " << journal.string()
              << ". Run the same command again to resume.\n";
    return 128 + run.stop_signal;
  }

  Json environment = sweep_environment(device, layout);
  environment["fuse"] = fuse.record;
  return write_sweep_outputs(s, a.spec, plan, done, environment, dir, g);
}
} // namespace

Command add_sweep(CLI::App& app, const GlobalOptions& g) {
  auto a = std::make_shared<SweepArgs>();
  auto* sub = app.add_subcommand(
      "sweep",
      "Train a small dense reference over a grid of (lr, wd, init_std) and fit the optimum");
  sub->footer(
      "Input: a sweep spec (see sweeps/tiny-cpu.json): base model, train and hparams, the axes\n"
      "  to sweep (explicit lists or {\"log2_grid\": [lo, hi, step]}), seeds, objective.\n"
      "Output in DIR: trials.jsonl (one result per finished trial, appended and fsync'd),\n"
      "  spec.json, sweep.json (mue.sweep/1: every point with its trials, the fitted optimum\n"
      "  with confidence intervals, the environment, and /reference, the config at the optimum\n"
      "  that `muE transfer` reads), plots/loss_vs_lr.svg, logs/<trial id>.log, trials/.\n"
      "Each trial runs as its own `muE trial` process; re-running the same command resumes\n"
      "  (finished trials are skipped). Ctrl-C / SIGTERM stop the running trials and leave a\n"
      "  resumable journal. On a terminal one progress line is redrawn; otherwise one line\n"
      "  per finished trial.\n"
      "Exit: 0 ok, 1 no usable trial, 2 bad spec, 3 runtime failure, 128+N stopped by signal N.");
  sub->add_option("SPEC", a->spec, "Sweep spec (JSON)")->required();
  sub->add_option("--out", a->out, "Output directory")->required();
  sub->add_option("--jobs", a->jobs,
                  "Trials run at once (0 = one per core; threads split between them)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--launcher", a->launcher,
                  "Where trials run: local processes, or one Slurm array job")
      ->check(CLI::IsMember({"local", "slurm"}))
      ->capture_default_str();
  sub->add_option("--fuse", a->fuse,
                  "Fused trials: off, auto (calibrate a few steps, fuse when >= 5% cheaper) or a "
                  "pack size K")
      ->capture_default_str();
  add_slurm_options(sub, a->slurm, a->slurm_mue);
  sub->add_flag("--resume", a->resume,
                "Continue the sweep in DIR (the default behaviour; kept for scripts)");
  sub->add_flag("--dry-run", a->dry_run,
                "Print the plan (trial count, grid, every trial id) and exit");
  sub->add_flag("--force-new", a->force_new, "Start over in a DIR that holds another spec");
  return {sub, [a, &g]() -> int { return run_sweep(*a, g); }};
}
} // namespace mue::cli
