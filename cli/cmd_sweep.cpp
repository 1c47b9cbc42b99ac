// muE sweep: the dense reference sweep (DESIGN.md "Sweep engine"), local launcher.
#include <unistd.h>

#include <boost/process.hpp>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <memory>
#include <thread>

#include "cli/commands.h"
#include "fit/fit.h"
#include "runtime_info.h"
#include "spec/validate.h"
#include "sweep/plan.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/version.h"

namespace mue::cli {
namespace {
namespace fs = std::filesystem;
namespace bp = boost::process;

struct SweepArgs {
  std::string spec, out;
  int jobs = 0;
  std::string launcher = "local";
  bool resume = false, dry_run = false, force_new = false;
};

std::string self_exe() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) throw RuntimeError("cannot find the muE executable (/proc/self/exe)");
  return std::string(buf, static_cast<std::size_t>(n));
}

std::string tail_of(const std::string& path, std::size_t bytes = 2000) {
  std::string s;
  try {
    s = read_file(path);
  } catch (const Error&) {
    return "";
  }
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

std::string describe(const SweepSpec& s, const PlannedTrial& t) {
  std::string d;
  for (std::size_t a = 0; a < s.axes.size(); ++a) d += s.axes[a].key + "=" + Json(t.point[a]).dump() + " ";
  return d + "seed " + std::to_string(t.seed);
}

struct Running {
  std::size_t index;
  bp::child child;
  std::chrono::steady_clock::time_point start;
  std::string result_path, log_path;
};

// The fitted optimum as a config (snapping non-hparam axes to the nearest grid value).
Json reference_at(const SweepSpec& s, const FitResult& f, const std::string& file) {
  std::vector<double> point;
  for (std::size_t a = 0; a < s.axes.size(); ++a) {
    double v = f.axes[a].value;
    if (s.axes[a].pointer.rfind("/hparams/", 0) != 0) {
      double best = s.axes[a].values.front();
      for (double g : s.axes[a].values)
        if (std::abs(g - v) < std::abs(best - v)) best = g;
      v = best;
    }
    point.push_back(v);
  }
  Json j = to_json(config_at(s, point, s.seeds.front(), Where{file, ""}));
  j.erase("options");
  j.erase("schema");
  return j;
}

int run_sweep(const SweepArgs& args, const GlobalOptions& g) {
  const SweepArgs& a = args;
  const SweepSpec s = parse_sweep_spec(read_spec(a.spec, SpecKind::kSweepSpec), Where{a.spec, ""});
  if (s.axes.size() > 3) Where{a.spec, "/axes"}.fail("the fit handles 1 to 3 axes; this sweep has " + std::to_string(s.axes.size()));
  const std::vector<PlannedTrial> plan = plan_sweep(s, a.spec);
  if (a.dry_run) {
    std::cout << s.name << ": " << s.grid_points() << " grid points × " << s.seeds.size() << " seed(s) = "
              << plan.size() << " trials\n";
    for (const auto& ax : s.axes) std::cout << "  " << ax.key << ": " << Json(ax.values).dump() << "\n";
    return 0;
  }
  if (a.launcher != "local") not_implemented("sweep --launcher " + a.launcher);

  const fs::path dir(a.out);
  const std::string spec_text = to_json(s).dump(1) + "\n";
  const fs::path spec_path = dir / "spec.json", journal = dir / "trials.jsonl";
  if (fs::exists(spec_path) && read_file(spec_path.string()) != spec_text) {
    if (!a.force_new)
      throw InputError(a.spec, "", "the sweep directory " + a.out + " holds a different spec; use another --out, "
                                   "or --force-new to start over there");
    fs::remove(journal);
  }
  fs::create_directories(dir / "logs");
  fs::create_directories(dir / "trials");
  write_file_atomic(spec_path.string(), spec_text);

  bool torn = false;
  std::map<std::string, TrialResult> done = read_journal(journal.string(), &torn);
  if (torn && !g.quiet) std::cerr << "muE: warning: the journal's last line was torn (killed mid-write); ignored\n";
  std::vector<std::size_t> pending;
  for (std::size_t i = 0; i < plan.size(); ++i)
    if (!done.count(plan[i].spec.id())) pending.push_back(i);

  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int jobs = a.jobs > 0 ? a.jobs : std::max(1, std::min<int>(cores, static_cast<int>(pending.size())));
  const int threads = g.threads > 0 ? g.threads : std::max(1, cores / jobs);
  if (!g.quiet)
    std::cerr << "muE sweep " << s.name << ": " << plan.size() << " trials, " << (plan.size() - pending.size())
              << " already in the journal; " << jobs << " at a time × " << threads << " thread(s)\n";

  const std::string device = torch_backend::resolve_device(g.device);  // "auto" -> cuda or cpu
  auto env = boost::this_process::environment();
  if (env.find("OMP_WAIT_POLICY") == env.end()) env["OMP_WAIT_POLICY"] = "PASSIVE";  // read by libgomp at start
  const std::string exe = self_exe();
  std::vector<Running> running;
  std::size_t next = 0, finished = plan.size() - pending.size();
  auto record = [&](std::size_t index, TrialResult r, double wall) {
    append_line_durable(journal.string(), to_json(r).dump());
    done[r.id] = r;
    ++finished;
    if (!g.quiet) {
      std::fprintf(stderr, "[%zu/%zu] %s: %s", finished, plan.size(), describe(s, plan[index]).c_str(), to_string(r.status));
      if (r.objective) std::fprintf(stderr, " %.4f", *r.objective);
      std::fprintf(stderr, " (%.1f s)\n", wall);
    }
  };
  while (next < pending.size() || !running.empty()) {
    while (static_cast<int>(running.size()) < jobs && next < pending.size()) {
      const std::size_t i = pending[next++];
      TrialSpec spec = plan[i].spec;
      spec.threads = threads;
      spec.device = device;
      const std::string id = spec.id();
      const std::string spec_file = (dir / "trials" / (id + ".spec.json")).string();
      const std::string result_file = (dir / "trials" / (id + ".result.json")).string();
      const std::string log_file = (dir / "logs" / (id + ".log")).string();
      write_file_atomic(spec_file, to_json(spec).dump(1) + "\n");
      fs::remove(result_file);
      running.push_back(Running{i,
                                bp::child(exe, "-q", "trial", "--spec", spec_file, "--result", result_file,
                                          (bp::std_out & bp::std_err) > log_file, bp::std_in < bp::null, env),
                                std::chrono::steady_clock::now(), result_file, log_file});
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    for (auto it = running.begin(); it != running.end();) {
      const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - it->start).count();
      const PlannedTrial& t = plan[it->index];
      TrialResult r;
      r.id = t.spec.id();
      if (it->child.running()) {
        if (wall <= s.trial_timeout_s) {
          ++it;
          continue;
        }
        it->child.terminate();
        r.status = TrialStatus::kTimeout;
        r.error = "killed after the trial timeout of " + Json(s.trial_timeout_s).dump() + " s";
        r.log_tail = tail_of(it->log_path);
      } else {
        it->child.wait();
        const int native = it->child.native_exit_code();
        try {
          if (!WIFEXITED(native) || WEXITSTATUS(native) != 0) throw std::runtime_error("");
          r = parse_trial_result(Json::parse(read_file(it->result_path)), Where{it->result_path, ""});
          if (r.id != t.spec.id()) throw std::runtime_error("");
        } catch (const std::exception&) {
          r = TrialResult{};
          r.id = t.spec.id();
          r.status = TrialStatus::kFailed;
          r.exit_status = WIFEXITED(native) ? WEXITSTATUS(native) : 128 + WTERMSIG(native);
          r.error = WIFSIGNALED(native) ? "the trial process died from signal " + std::to_string(WTERMSIG(native))
                                        : "the trial process exited with status " + std::to_string(WEXITSTATUS(native)) +
                                              " without a valid result";
          r.log_tail = tail_of(it->log_path);
        }
      }
      r.wall_s = r.wall_s > 0 ? r.wall_s : wall;
      record(it->index, r, wall);
      it = running.erase(it);
    }
  }

  // Fit: objective per grid point over its usable seeds.
  std::vector<FitAxis> axes;
  for (const auto& ax : s.axes) {
    bool positive = true;
    for (double v : ax.values) positive = positive && v > 0;
    axes.push_back(FitAxis{ax.key, positive});
  }
  std::map<std::vector<double>, FitPoint> by_point;
  Json points = Json::array();
  for (const auto& t : plan) {
    FitPoint& p = by_point[t.point];
    p.coords = t.point;
    const auto it = done.find(t.spec.id());
    if (it == done.end()) continue;
    if (it->second.status == TrialStatus::kOk && it->second.objective)
      p.objectives.push_back(*it->second.objective);
    else
      ++p.excluded;
  }
  for (const auto& t : plan) {
    const TrialResult& r = done.at(t.spec.id());
    Json coords = Json::object();
    for (std::size_t ax = 0; ax < s.axes.size(); ++ax) coords[s.axes[ax].key] = t.point[ax];
    points.push_back(Json{{"coords", coords}, {"seed", t.seed}, {"id", r.id}, {"status", to_string(r.status)},
                          {"objective", r.objective ? Json(*r.objective) : Json(nullptr)}});
  }
  std::vector<FitPoint> fit_points;
  for (auto& [k, p] : by_point) fit_points.push_back(p);
  const FitResult f = fit_optimum(axes, fit_points);  // CheckFailedError (exit 1) when nothing is usable
  Json optimum = Json::object();
  bool at_edge = false;
  for (std::size_t ax = 0; ax < s.axes.size(); ++ax) {
    const AxisFit& af = f.axes[ax];
    optimum[s.axes[ax].key] = Json{{"value", af.value}, {"ci_low", af.ci_low}, {"ci_high", af.ci_high},
                                  {"at_edge", af.at_edge}, {"message", af.edge_message}};
    at_edge = at_edge || af.at_edge;
    if (af.at_edge && !g.quiet) std::cerr << "muE: warning: " << af.edge_message << "\n";
  }
  Json report{{"schema", "mue.sweep/1"},
              {"muE_version", std::string(version()) + " (git " + git_hash() + ")"},
              {"spec", Json::parse(spec_text)},
              {"environment", {{"jobs", jobs}, {"threads_per_trial", threads}}},
              {"trials", points},
              {"fit", {{"method", f.method}, {"r2", f.r2}, {"best_objective", f.best_objective},
                       {"predicted_objective", f.predicted_objective}, {"used_points", f.used_points},
                       {"excluded_trials", f.excluded_trials}}},
              {"optimum", {{"at_edge", at_edge}, {"axes", optimum}}},
              {"reference", reference_at(s, f, a.spec)}};
  const std::string report_path = (dir / "sweep.json").string();
  write_file_atomic(report_path, report.dump(1) + "\n");
  if (!g.quiet) {
    std::cout << "optimum (" << f.method << ", R² " << Json(f.r2).dump() << "):";
    for (std::size_t ax = 0; ax < s.axes.size(); ++ax)
      std::printf(" %s = %.4g [%.4g, %.4g]%s", s.axes[ax].key.c_str(), f.axes[ax].value, f.axes[ax].ci_low,
                  f.axes[ax].ci_high, f.axes[ax].at_edge ? " (at edge)" : "");
    std::cout << "\nwrote " << report_path << "\n";
  }
  return 0;
}
}  // namespace

Command add_sweep(CLI::App& app, const GlobalOptions& g) {
  auto a = std::make_shared<SweepArgs>();
  auto* sub = app.add_subcommand(
      "sweep", "Train a small dense reference over a grid of (lr, wd, init_std) and fit the optimum");
  sub->footer(
      "Input: a sweep spec (see sweeps/tiny-cpu.json): base model, train and hparams, the axes\n"
      "  to sweep (explicit lists or {\"log2_grid\": [lo, hi, step]}), seeds, objective.\n"
      "Output in DIR: trials.jsonl (one result per finished trial, appended and fsync'd),\n"
      "  spec.json, sweep.json (mue.sweep/1: every trial, the fitted optimum with confidence\n"
      "  intervals, and /reference, the config at the optimum that `muE transfer` reads),\n"
      "  logs/<trial id>.log. Each trial runs as its own `muE trial` process; re-running the\n"
      "  same command resumes (finished trials are skipped).\n"
      "Exit: 0 ok, 1 no usable trial, 2 bad spec, 3 runtime failure.");
  sub->add_option("SPEC", a->spec, "Sweep spec (JSON)")->required();
  sub->add_option("--out", a->out, "Output directory")->required();
  sub->add_option("--jobs", a->jobs, "Trials run at once (0 = one per core)")->check(CLI::NonNegativeNumber);
  sub->add_option("--launcher", a->launcher, "Where trials run (slurm: not built yet)")
      ->check(CLI::IsMember({"local", "slurm"}))
      ->capture_default_str();
  sub->add_flag("--resume", a->resume, "Continue the sweep in DIR (the default behaviour; kept for scripts)");
  sub->add_flag("--dry-run", a->dry_run, "Print the plan (trial count, grid) and exit");
  sub->add_flag("--force-new", a->force_new, "Start over in a DIR that holds another spec");
  return {sub, [a, &g]() -> int { return run_sweep(*a, g); }};
}
}  // namespace mue::cli
