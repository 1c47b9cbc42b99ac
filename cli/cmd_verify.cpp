// muE verify: small sweeps at the targets; fails (exit 1) when the bridged optimum drifts.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <set>
#include <vector>

#include "cli/commands.h"
#include "cli/sweep_common.h"
#include "command/command.h"
#include "fused.h"
#include "runtime_info.h"
#include "sweep/local_runner.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/json.h"
#include "verify/verify.h"

namespace mue::cli {
namespace {
namespace fs = std::filesystem;

struct VerifyArgs {
  std::string report, out, junit, objective = "mean_last_k:2", backend;
  std::vector<std::string> targets, axes;
  double tolerance = 1.0, step = 0.5, timeout_s = 3600;
  int points = 5, seeds = 1, jobs = 0;
  std::string launcher = "local";
  bool allow_inconclusive = false;
  std::string fuse = "auto";
  SlurmOptions slurm;
  std::string slurm_mue;
};

Objective parse_objective_flag(const std::string& s) {
  Objective o;
  if (s == "final_val_loss") return o;
  if (s.rfind("mean_last_k:", 0) == 0) {
    const std::string k = s.substr(12);
    if (!k.empty() && k.find_first_not_of("0123456789") == std::string::npos && k.size() < 6 &&
        std::stoi(k) > 0) {
      o.kind = ObjectiveKind::kMeanLastK;
      o.k = std::stoi(k);
      return o;
    }
  }
  throw UsageError("--objective " + s + ": expected final_val_loss or mean_last_k:K with K > 0");
}

int run_verify(const VerifyArgs& a, const GlobalOptions& g) {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<VerifyTarget> all = read_transfer_report(read_json_file(a.report), a.report);
  if (!a.backend.empty()) { // every case trains through this backend (e.g. your own trainer)
    BackendSpec b = parse_backend(read_json_file(a.backend), Where{a.backend, ""});
    // Relative paths in it mean "beside the backend file", wherever the trials run.
    const std::filesystem::path here = std::filesystem::absolute(a.backend).parent_path();
    check_command(b, here.string(), Where{a.backend, ""});
    if (b.argv[0].find('/') != std::string::npos && b.argv[0][0] != '/')
      b.argv[0] = (here / b.argv[0]).string();
    b.cwd = b.cwd.empty() ? here.string() : (here / b.cwd).lexically_normal().string();
    for (auto& t : all)
      t.config.backend = b;
  }
  const Objective objective = parse_objective_flag(a.objective);

  std::vector<const VerifyTarget*> chosen;
  if (a.targets.empty()) {
    for (const auto& t : all)
      chosen.push_back(&t);
  } else {
    for (const auto& name : a.targets) {
      const VerifyTarget* found = nullptr;
      for (const auto& t : all)
        if (t.name == name) found = &t;
      if (!found) {
        std::string known;
        for (const auto& t : all)
          known += (known.empty() ? "" : ", ") + t.name;
        throw UsageError("--targets: '" + name + "' is not a target of " + a.report +
                         " (it has: " + known + ")");
      }
      chosen.push_back(found);
    }
  }
  const std::vector<std::string> axes = a.axes.empty() ? std::vector<std::string>{"lr"} : a.axes;
  std::vector<VerifyCase> cases;
  for (const VerifyTarget* t : chosen)
    for (const auto& axis : axes)
      cases.push_back(
          plan_case(*t, axis, a.points, a.step, a.seeds, objective, a.timeout_s, a.report));

  // One journal for every case: trials are content-addressed, so a re-run (with more
  // targets, another tolerance) reuses whatever already ran.
  std::vector<PlannedTrial> plan;
  std::map<std::string, std::string> names; // trial id -> "target axis=value seed s"
  std::set<std::string> seen;
  for (const auto& c : cases)
    for (const auto& t : c.trials)
      if (seen.insert(t.spec.id()).second) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%s=%.4g (%+.2f log2)", c.axis.c_str(),
                      t.point[0] * c.bridged / c.reference, std::log2(t.point[0] / c.reference));
        names[t.spec.id()] = c.target + " " + buf + " seed " + std::to_string(t.seed);
        plan.push_back(t);
      }
  if (a.launcher == "slurm") require_slurm_clients(); // before anything is written
  const fs::path dir(a.out);
  fs::create_directories(dir / "logs");
  fs::create_directories(dir / "trials");
  fs::create_directories(dir / "plots");
  const fs::path journal = dir / "trials.jsonl";
  bool torn = false;
  std::map<std::string, TrialResult> done = read_journal(journal.string(), &torn);
  if (torn && !g.quiet)
    std::cerr << "muE: warning: the journal's last line was torn (killed mid-write); ignored\n";
  std::size_t reused = 0;
  for (const auto& t : plan)
    reused += done.count(t.spec.id()) && !done.at(t.spec.id()).retry;

  const std::string device = torch_backend::resolve_device(g.device);
  const Layout layout = choose_layout(g, a.jobs, plan.size() - reused, device);
  if (!g.quiet)
    std::cerr << "muE verify: " << chosen.size() << " target(s) × " << axes.size() << " axis(es), "
              << a.points << " points " << a.step << " log2 apart × " << a.seeds
              << " seed(s) = " << plan.size() << " trials, " << reused << " already in "
              << journal.string() << "; " << layout.jobs << " at a time × " << layout.threads
              << " thread(s) on " << device << "\n";
  const FuseDecision fuse = decide_fuse(a.fuse, plan, done, layout, device, a.out, g.quiet);
  const LocalRunOptions o =
      local_run_options(layout, fuse, a.timeout_s, g,
                        [&names](const PlannedTrial& t) { return names.at(t.spec.id()); });
  const std::optional<RunSummary> launched =
      launch(a.launcher, a.slurm, a.slurm_mue, o, dir, "muE-verify", plan, done, "judge");
  if (!launched) return 0; // a detached Slurm job: collected by the next run
  const RunSummary& run = *launched;
  if (run.stop_signal) {
    std::cerr << "muE verify: stopped by " << ::strsignal(run.stop_signal)
              << "; finished trials are in " << journal.string()
              << ". Run the same command again to resume.\n";
    return 128 + run.stop_signal;
  }

  std::vector<CaseOutcome> outcomes;
  for (const auto& c : cases)
    outcomes.push_back(evaluate_case(c, done, a.tolerance));
  std::size_t n_pass = 0, n_fail = 0, n_inc = 0;
  Json jcases = Json::array();
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const VerifyCase& c = cases[i];
    const CaseOutcome& oc = outcomes[i];
    n_pass += oc.verdict == Verdict::kPass;
    n_fail += oc.verdict == Verdict::kFail;
    n_inc += oc.verdict == Verdict::kInconclusive;
    Json jc{{"target", c.target},
            {"axis", c.axis},
            {"bridged", c.bridged},
            {"reference_value", c.reference},
            {"verdict", to_string(oc.verdict)},
            {"message", oc.message},
            {"at_edge", oc.at_edge},
            {"bridged_trained", oc.bridged_usable},
            {"gap", oc.gap ? Json(*oc.gap) : Json(nullptr)},
            {"grid", oc.grid}};
    if (oc.usable) {
      jc["empirical"] = oc.empirical;
      jc["ci"] = {oc.ci_low, oc.ci_high};
      jc["drift"] = oc.drift;
      jc["drift_ci"] = {oc.drift_ci_low, oc.drift_ci_high};
      jc["fit"] = {{"method", oc.method}, {"r2", oc.r2}};
    } else {
      jc["empirical"] = nullptr;
      jc["drift"] = nullptr;
    }
    jcases.push_back(std::move(jc));
  }
  const char* overall = n_fail ? "fail" : n_inc ? "inconclusive" : "pass";
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  Json report{{"schema", kVerifySchema},
              {"transfer", a.report},
              {"verdict", overall},
              {"counts", {{"pass", n_pass}, {"fail", n_fail}, {"inconclusive", n_inc}}},
              {"tolerance", a.tolerance},
              {"points", a.points},
              {"step", a.step},
              {"seeds", a.seeds},
              {"objective", to_json(objective)},
              {"trials",
               {{"planned", plan.size()},
                {"reused", reused},
                {"run", run.ran},
                {"unusable", run.unusable}}},
              {"environment",
               [&] {
                 Json e = sweep_environment(device, layout);
                 e["fuse"] = fuse.record;
                 return e;
               }()},
              {"wall_s", seconds},
              {"cases", jcases}};
  const std::string report_path = (dir / "verify.json").string();
  write_file_atomic(report_path, report.dump(1) + "\n");
  std::vector<std::string> plotted;
  for (const VerifyTarget* t : chosen) {
    std::vector<const VerifyCase*> pc;
    std::vector<const CaseOutcome*> po;
    for (std::size_t i = 0; i < cases.size(); ++i)
      if (cases[i].target == t->name) pc.push_back(&cases[i]), po.push_back(&outcomes[i]);
    std::string safe;
    for (char ch : t->name)
      safe += std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' ? ch : '_';
    const std::string path = (dir / "plots" / (safe + ".svg")).string();
    if (plot_target(t->name, pc, po, path)) plotted.push_back(path);
  }
  if (!a.junit.empty())
    write_file_atomic(a.junit, junit_xml(cases, outcomes, a.tolerance, seconds));
  if (!g.quiet) {
    std::cout << "\n" << verify_table(cases, outcomes);
    for (std::size_t i = 0; i < cases.size(); ++i)
      if (outcomes[i].verdict != Verdict::kPass)
        std::cout << "  " << cases[i].target << " " << cases[i].axis << ": " << outcomes[i].message
                  << "\n";
    std::cout << "verdict: " << overall << " (" << n_pass << " pass, " << n_fail << " fail, "
              << n_inc << " inconclusive; tolerance " << a.tolerance << " log2)\n";
    std::cout << "wrote " << report_path << "\n";
    if (!plotted.empty())
      std::cout << "wrote " << plotted.size() << " plot(s) in " << (dir / "plots").string() << "\n";
    if (!a.junit.empty()) std::cout << "wrote " << a.junit << "\n";
    std::cout.flush();
  }
  if (n_fail) return 1;
  if (n_inc && !a.allow_inconclusive) return 1;
  return 0;
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
  sub->add_option("REPORT", a->report, "transfer.json")->required();
  sub->add_option("--out", a->out, "Output directory")->required();
  sub->add_option("--targets", a->targets, "Only these targets (comma-separated)")->delimiter(',');
  sub->add_option("--axis", a->axes, "Axes to check: lr, wd, init_std (default lr; repeatable)")
      ->check(CLI::IsMember({"lr", "wd", "init_std"}));
  sub->add_option("--points", a->points,
                  "Values per axis: odd, >= 3 (the bridged value is the middle one)")
      ->capture_default_str();
  sub->add_option("--step", a->step, "Spacing in log2 units")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--seeds", a->seeds, "Seeds per value")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  sub->add_option("--tolerance", a->tolerance, "Allowed |drift| in log2 units")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--objective", a->objective, "final_val_loss or mean_last_k:K")
      ->capture_default_str();
  sub->add_option("--trial-timeout", a->timeout_s, "Seconds before a trial is killed")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--jobs", a->jobs, "Trials run at once (0 = one per core)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--launcher", a->launcher,
                  "Where trials run: local processes, or one Slurm array job")
      ->check(CLI::IsMember({"local", "slurm"}))
      ->capture_default_str();
  sub->add_option("--junit", a->junit, "Also write a JUnit XML report");
  sub->add_option("--backend", a->backend,
                  "A JSON file {\"kind\": \"command\", \"argv\": [...]} to train every case with "
                  "your own trainer");
  sub->add_option("--fuse", a->fuse, "Fused trials: off, auto or a pack size K (as in muE sweep)")
      ->capture_default_str();
  add_slurm_options(sub, a->slurm, a->slurm_mue);
  sub->add_flag("--allow-inconclusive", a->allow_inconclusive,
                "Exit 0 when nothing fails but some are inconclusive");
  return {sub, [a, &g]() -> int { return run_verify(*a, g); }};
}
} // namespace mue::cli
