// muE verify: small sweeps at the targets; fails (exit 1) when the bridged optimum drifts.
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/run_options.h"
#include "command/command.h"
#include "util/json.h"
#include "util/run_lock.h"
#include "verify/verify.h"

namespace mue::cli {
namespace {

struct VerifyArgs {
  VerifyRequest request;
  std::string out, junit, objective = "mean_last_k:2", search = "grid";
  bool allow_inconclusive = false;
  RunOptions run;
};

int run_verify(VerifyArgs a, const GlobalOptions& g) {
  const auto t0 = std::chrono::steady_clock::now();
  VerifyRequest& r = a.request;
  r.objective = parse_objective_flag(a.objective);
  r.search.adaptive = a.search == "adaptive";
  if (!r.backend_file.empty()) // the command must exist before any trial runs
    check_command(parse_backend(read_json_file(r.backend_file), Where{r.backend_file, ""}),
                  std::filesystem::absolute(r.backend_file).parent_path().string(),
                  Where{r.backend_file, ""});
  VerifyPlan plan = plan_verify(r);
  RunOptions& o = a.run;
  complete_run_options(o, g);
  o.title = plan.title;
  o.timeout_s = r.timeout_s;
  o.job_name = "muE-verify";
  o.collect_then = "judge";
  o.describe = [&plan](const PlannedTrial& t) { return plan.names.at(t.spec.id()); };
  check_run_options(o); // usage errors before DIR is created or locked
  const RunLock lock(a.out, o.title, o.wait_lock, o.quiet); // one muE per DIR, until we return
  RunOutcome run = run_trials(plan.trials, RunDir{a.out, "", false, ""}, o);
  if (run.early_exit() >= 0) return run.early_exit();
  // --search adaptive: each round's new points of every case, until every case has finished
  // (a resumed verify replays the rounds from the journal).
  std::size_t ran = run.ran, unusable = run.unusable;
  while (!advance_verify_search(plan, r.transfer_file, run.done)) {
    run = run_trials(plan.trials, RunDir{a.out, "", false, ""}, o);
    if (run.early_exit() >= 0) return run.early_exit();
    ran += run.ran;
    unusable += run.unusable;
  }
  // The report counts this command's trials over all rounds: reused = what it found done.
  run.ran = ran;
  run.unusable = unusable;
  run.reused = plan.trials.size() >= ran ? plan.trials.size() - ran : 0;

  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const VerifyReport report = judge_verify(plan, r, run, wall_s);
  const Journal journal(a.out);
  const auto plots = write_verify_outputs(report, plan, journal, a.junit);
  if (!g.quiet) {
    std::cout << verify_summary(report) << "wrote " << journal.report_file("verify.json") << "\n";
    std::cout.flush();
  }
  if (!o.no_report) { // the page: the transfer report it checked (when still there), then this
    std::vector<std::string> inputs;
    if (std::filesystem::is_regular_file(r.transfer_file)) inputs.push_back(r.transfer_file);
    inputs.push_back(a.out);
    write_page(inputs, journal.report_file("report.html"), g);
  }
  if (!g.quiet) {
    if (!plots.empty())
      std::cout << "wrote " << plots.size() << " plot(s) in " << journal.plots_dir().string()
                << "\n";
    if (!a.junit.empty()) std::cout << "wrote " << a.junit << "\n";
    std::cout.flush();
  }
  return verify_exit_code(report, a.allow_inconclusive);
}
} // namespace

Command add_verify(CLI::App& app, const GlobalOptions& g) {
  auto a = std::make_shared<VerifyArgs>();
  auto* sub = app.add_subcommand(
      "verify", "Sweep around the bridged values at each target and gate on drift (for CI)");
  sub->footer(
      "Input: transfer.json written by `muE transfer`.\n"
      "For each target and axis: a small sweep of --points values spaced --step in log2\n"
      "  around the bridged value (others bridged), the empirical optimum with its CI,\n"
      "  drift = log2(empirical / bridged) and the loss gap at the bridged value.\n"
      "Verdict: pass when the bridged value trained, the optimum is inside the grid and\n"
      "  |drift| <= --tolerance (or its CI contains 0); inconclusive when the best value is\n"
      "  at the grid's edge (widen the grid); fail otherwise.\n"
      "Output in DIR: verify.json (mue.verify/1), plots/<target>.svg, trials.jsonl (one\n"
      "  journal for all cases; trials are content-addressed, so a re-run reuses them),\n"
      "  logs/; with --junit FILE a JUnit XML file (one testcase per target × axis).\n"
      "Exit: 0 all pass, 1 any fail or inconclusive (--allow-inconclusive: only fail),\n"
      "  2 bad input, 3 runtime, 128+N stopped by signal N.");
  sub->add_option("REPORT", a->request.transfer_file, "transfer.json")->required();
  sub->add_option("--out", a->out, "Output directory")->required();
  sub->add_option("--targets", a->request.targets, "Only these targets (comma-separated)")
      ->delimiter(',');
  sub->add_option("--axis", a->request.axes,
                  "Axes to check: lr, wd, init_std (default lr; repeatable)")
      ->check(CLI::IsMember({"lr", "wd", "init_std"}));
  sub->add_option("--points", a->request.points,
                  "Values per axis: odd, >= 3 (the bridged value is the middle one)")
      ->capture_default_str();
  sub->add_option("--search", a->search,
                  "grid: every point; adaptive: both ends and the bridged value first, then "
                  "points around the fitted optimum until its CI half-width <= "
                  "--search-target (README \"Adaptive search\")")
      ->check(CLI::IsMember({"grid", "adaptive"}))
      ->capture_default_str();
  sub->add_option("--search-target", a->request.search.target_ci_log2,
                  "With --search adaptive: the CI half-width to reach, log2 units")
      ->check(CLI::Range(0.01, 64.0))
      ->capture_default_str();
  sub->add_option("--step", a->request.step, "Spacing in log2 units")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--seeds", a->request.seeds, "Seeds per value")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  sub->add_option("--tolerance", a->request.tolerance, "Allowed |drift| in log2 units")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--objective", a->objective, "final_val_loss or mean_last_k:K")
      ->capture_default_str();
  sub->add_option("--trial-timeout", a->request.timeout_s, "Seconds before a trial is killed")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--junit", a->junit, "Also write a JUnit XML report");
  sub->add_option("--backend", a->request.backend_file,
                  "A JSON file {\"kind\": \"command\", \"argv\": [...]} to train every case with "
                  "your own trainer");
  add_run_options(sub, a->run);
  sub->add_flag("--allow-inconclusive", a->allow_inconclusive,
                "Exit 0 when nothing fails but some are inconclusive");
  return {sub, [a, &g]() -> int { return run_verify(*a, g); }};
}
} // namespace mue::cli
