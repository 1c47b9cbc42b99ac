// muE sweep: the dense reference sweep (docs/design.md "Sweep engine").
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/run_options.h"
#include "command/command.h"
#include "spec/paths.h"
#include "spec/validate.h"
#include "sweep/adaptive.h"
#include "sweep/report.h"
#include "util/error.h"
#include "util/run_lock.h"

namespace mue::cli {
namespace {
namespace fs = std::filesystem;

struct SweepArgs {
  std::string spec, out;
  bool resume = false, dry_run = false, force_new = false;
  RunOptions run;
};

// --dry-run: the axes' values, then every planned trial's id and point.
void print_plan(const SweepSpec& s, const std::vector<PlannedTrial>& plan) {
  for (const auto& ax : s.axes)
    std::cout << "  " << ax.key << ": " << Json(ax.values).dump() << "\n";
  for (const auto& t : plan)
    std::cout << "  " << t.spec.id() << "  " << describe_trial(s, t) << "\n";
}

// Completes a.run for the sweep of `s` (the spec outlives the run: describe keeps a reference).
void prepare_run(const SweepSpec& s, SweepArgs& a, const GlobalOptions& g) {
  if (a.out.empty()) throw UsageError("--out is required (only --dry-run runs without it)");
  RunOptions& o = a.run;
  complete_run_options(o, g);
  o.title = "muE sweep " + s.name;
  o.timeout_s = s.trial_timeout_s;
  o.job_name = "muE-" + s.name;
  o.collect_then = "fit";
  o.pruner = s.pruner;
  o.describe = [&s](const PlannedTrial& t) { return describe_trial(s, t); };
  if (s.pruner.kind != PrunerSpec::Kind::kNone && o.launcher != "local" && !o.quiet)
    std::cerr << "muE: warning: the pruner applies to --launcher local only; Slurm tasks run to "
                 "the end\n";
  check_run_options(o); // usage errors before DIR is created or locked
}

// {"search": {"kind": "adaptive"}}: rounds of run_trials, each decided by adaptive_state
// from the journaled results of the ones before (a resumed sweep replays them).
int run_adaptive(const SweepSpec& s, SweepArgs& a, const GlobalOptions& g) {
  AdaptiveState st = adaptive_state(s, a.spec, {});
  check_data_files(st.plan.front().spec.config.train, Where{a.spec, "/train"}, "",
                   st.plan.front().spec.config.model.seq_len);
  if (a.dry_run) {
    std::cout << s.name << ": adaptive search over a lattice of " << s.grid_points() << " points × "
              << s.seeds.size() << " seed(s) = " << st.grid_trials << " trials; round 0 trains "
              << st.plan.size() << ", later rounds refine around "
              << "the fitted optimum until its 95% CI half-width <= " << s.search.target_ci_log2
              << " log2 (at most " << (s.search.max_trials ? s.search.max_trials : st.grid_trials)
              << " trials, " << s.search.max_rounds << " rounds after the first)\n";
    print_plan(s, st.plan);
    return 0;
  }
  prepare_run(s, a, g);
  RunOptions& o = a.run;
  const RunLock lock(a.out, o.title, o.wait_lock, o.quiet); // one muE per DIR, until we return
  const RunDir dir{a.out, to_json(s).dump(1) + "\n", a.force_new, a.spec};
  RunOutcome run;
  // A detached Slurm round returns through early_exit: the same command collects it and goes on.
  while (!st.finished) {
    if (!o.quiet)
      std::fprintf(
          stderr,
          "muE sweep %s: adaptive round %d: %zu trial(s) to run, %zu of the grid's %zu planned\n",
          s.name.c_str(), st.rounds.back()["round"].get<int>(), st.pending.size(), st.plan.size(),
          st.grid_trials);
    run = run_trials(st.plan, dir, o);
    if (run.early_exit() >= 0) return run.early_exit();
    st = adaptive_state(s, a.spec, run.done);
  }
  print_sweep_outputs(write_sweep_outputs(s, a.spec, st.plan, run.done, run.environment,
                                          Journal::existing(a.out), adaptive_summary(s, st)),
                      g);
  if (!o.no_report) write_page({a.out}, (fs::path(a.out) / "report.html").string(), g);
  return 0;
}

int run_sweep(SweepArgs a, const GlobalOptions& g) {
  const SweepSpec s = parse_sweep_spec(read_spec(a.spec, SpecKind::kSweepSpec), Where{a.spec, ""});
  if (s.axes.size() > 3)
    Where{a.spec, "/axes"}.fail("the fit handles 1 to 3 axes; this sweep has " +
                                std::to_string(s.axes.size()));
  check_command(s.backend, fs::absolute(a.spec).parent_path().string(), Where{a.spec, ""});
  if (s.search.adaptive) return run_adaptive(s, a, g);
  const std::vector<PlannedTrial> plan = plan_sweep(s, a.spec);
  // Axes change numbers only: every trial reads the data files of the first.
  check_data_files(plan.front().spec.config.train, Where{a.spec, "/train"}, "",
                   plan.front().spec.config.model.seq_len);
  if (a.dry_run) {
    std::cout << s.name << ": " << s.grid_points() << " grid points × " << s.seeds.size()
              << " seed(s) = " << plan.size() << " trials\n";
    print_plan(s, plan);
    return 0;
  }
  prepare_run(s, a, g);
  RunOptions& o = a.run;
  const RunLock lock(a.out, o.title, o.wait_lock, o.quiet); // one muE per DIR, until we return
  const RunOutcome run =
      run_trials(plan, RunDir{a.out, to_json(s).dump(1) + "\n", a.force_new, a.spec}, o);
  if (run.early_exit() >= 0) return run.early_exit();
  print_sweep_outputs(
      write_sweep_outputs(s, a.spec, plan, run.done, run.environment, Journal::existing(a.out)), g);
  if (!o.no_report) write_page({a.out}, (fs::path(a.out) / "report.html").string(), g);
  return 0;
}
} // namespace

Command add_sweep(CLI::App& app, const GlobalOptions& g) {
  auto a = std::make_shared<SweepArgs>();
  auto* sub = app.add_subcommand(
      "sweep",
      "Train a small dense reference over a grid of (lr, wd, init_std) and fit the optimum");
  sub->footer(
      "Input: a sweep spec (see sweeps/tiny-cpu.json; sweeps/text-cpu.json trains on real text):\n"
      "  base model, train and hparams, the axes to sweep (explicit lists or\n"
      "  {\"log2_grid\": [lo, hi, step]}), seeds, objective. Relative data paths mean beside the\n"
      "  spec; a data file that cannot be opened, or is too small, stops the sweep (exit 2).\n"
      "Output in DIR: trials.jsonl (one result per finished trial, appended and fsync'd),\n"
      "  spec.json, sweep.json (mue.sweep/1: every point with its trials, the fitted optimum\n"
      "  with confidence intervals, the environment, and /reference, the config at the optimum\n"
      "  that `muE transfer` reads), plots/loss_vs_lr.svg, report.html (one page: `muE report`;\n"
      "  --no-report skips it), logs/<trial id>.log, trials/.\n"
      "Search: {\"search\": {\"kind\": \"adaptive\"}} in the spec trains part of the grid, "
      "refining\n"
      "  around the fitted optimum; {\"pruner\": {\"kind\": \"median\"}} (or successive_halving)\n"
      "  stops clearly worse trials early (journaled as pruned). README \"Sweep spec\".\n"
      "Each trial runs as its own process (forked by a warm server, or `--workers cold`: a fresh\n"
      "  `muE trial`); re-running the same command resumes\n"
      "  (finished trials are skipped). Ctrl-C / SIGTERM stop the running trials and leave a\n"
      "  resumable journal. On a terminal one progress line is redrawn; otherwise one line\n"
      "  per finished trial.\n"
      "Exit: 0 ok, 1 no usable trial, 2 bad spec, 3 runtime failure, 128+N stopped by signal N.");
  sub->add_option("SPEC", a->spec, "Sweep spec (JSON)")->required();
  sub->add_option("--out", a->out, "Output directory (not needed with --dry-run)");
  add_run_options(sub, a->run);
  sub->add_flag("--resume", a->resume,
                "Continue the sweep in DIR (the default behaviour; kept for scripts)");
  sub->add_flag("--dry-run", a->dry_run,
                "Print the plan (trial count, grid, every trial id) and exit");
  sub->add_flag("--force-new", a->force_new, "Start over in a DIR that holds another spec");
  return {sub, [a, &g]() -> int { return run_sweep(*a, g); }};
}
} // namespace mue::cli
