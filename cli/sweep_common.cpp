#include "cli/sweep_common.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <regex>
#include <thread>

#include <boost/process.hpp>
#include <chrono>

#include "fused.h"
#include "runtime_info.h"
#include "sweep/report.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/runtime.h"
#include "util/version.h"

namespace mue::cli {
namespace fs = std::filesystem;

std::string self_exe() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) throw RuntimeError("cannot find the muE executable (/proc/self/exe)");
  return std::string(buf, static_cast<std::size_t>(n));
}

Layout choose_layout(const GlobalOptions& g, int jobs, std::size_t pending,
                     const std::string& device) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int wanted = static_cast<int>(std::max<std::size_t>(1, pending));
  Layout l;
  if (device == "cuda") {
    // One trial per visible GPU, each on its own card; the CPU threads split between them.
    const int gpus = std::max(1, torch_backend::runtime_info().cuda_devices);
    for (int i = 0; i < gpus; ++i)
      l.devices.push_back("cuda:" + std::to_string(i));
    l.jobs = jobs > 0 ? jobs : std::min(gpus, wanted);
  } else {
    l.devices = {device};
    l.jobs = jobs > 0 ? jobs : std::max(1, std::min(cores, wanted));
  }
  l.threads = g.threads > 0 ? g.threads : std::max(1, cores / l.jobs);
  return l;
}

Json sweep_environment(const std::string& device, const Layout& layout) {
  const auto info = torch_backend::runtime_info();
  const char* omp = std::getenv("OMP_WAIT_POLICY");
  return Json{{"muE", std::string(version()) + " (git " + git_hash() + ")"},
              {"torch", info.torch_version},
              {"cuda_available", info.cuda_available},
              {"device", device},
              {"host", host_name()},
              {"cpu", cpu_model()},
              {"cores", std::thread::hardware_concurrency()},
              {"jobs", layout.jobs},
              {"devices", layout.devices},
              {"threads_per_trial", layout.threads},
              {"omp_wait_policy", omp ? omp : "PASSIVE (set for the trial processes)"}};
}

int write_sweep_outputs(const SweepSpec& s, const std::string& spec_file,
                        const std::vector<PlannedTrial>& plan,
                        const std::map<std::string, TrialResult>& done, const Json& environment,
                        const std::string& dir, const GlobalOptions& g) {
  const SweepReport rep = build_sweep_report(s, spec_file, plan, done, environment);
  const FitResult& f = rep.fit;
  const std::string report_path = (fs::path(dir) / "sweep.json").string();
  write_file_atomic(report_path, rep.json.dump(1) + "\n");
  std::string x_key = s.axes.front().key;
  for (const auto& ax : s.axes)
    if (ax.key == "lr") x_key = "lr";
  std::string safe;
  for (char c : x_key)
    safe += std::isalnum(static_cast<unsigned char>(c)) || c == '_' ? c : '_';
  fs::create_directories(fs::path(dir) / "plots");
  const std::string plot_path = (fs::path(dir) / "plots" / ("loss_vs_" + safe + ".svg")).string();
  const bool plotted = plot_sweep(s, plan, done, f, plot_path);
  for (std::size_t ax = 0; ax < s.axes.size(); ++ax)
    if (f.axes[ax].at_edge && !g.quiet)
      std::cerr << "muE: warning: " << f.axes[ax].edge_message << "\n";
  if (!g.quiet) {
    std::printf("optimum (%s, R² %.3f, %zu of %zu trials usable):", f.method.c_str(), f.r2,
                rep.json["counts"]["ok"].get<std::size_t>(), plan.size());
    for (std::size_t ax = 0; ax < s.axes.size(); ++ax)
      std::printf(" %s = %.4g [95%% CI %.4g, %.4g]%s", s.axes[ax].key.c_str(), f.axes[ax].value,
                  f.axes[ax].ci_low, f.axes[ax].ci_high, f.axes[ax].at_edge ? " (at edge)" : "");
    std::printf("\nwrote %s\n", report_path.c_str());
    if (plotted)
      std::printf("wrote %s\n", plot_path.c_str());
    else
      std::printf("no plot (gnuplot not found: apt-get install gnuplot-nox)\n");
    std::fflush(stdout);
  }
  return 0;
}

void add_slurm_options(CLI::App* sub, SlurmOptions& o, std::string& mue_path) {
  auto form = [](const char* pattern, const char* what) {
    return CLI::Validator(
        [re = std::regex(pattern), w = std::string(what)](std::string& v) {
          return std::regex_match(v, re) ? std::string() : "'" + v + "' is not " + w;
        },
        what);
  };
  sub->add_option("--slurm-partition", o.partition, "Slurm: partition (sbatch --partition)")
      ->check(form("[A-Za-z0-9_.,-]+", "a partition name"));
  sub->add_option("--slurm-time", o.time,
                  "Slurm: time limit per task (default: trial timeout × pack size)")
      ->check(form("([0-9]+-)?[0-9]+(:[0-9]{1,2}){0,2}",
                   "a Slurm time: MIN, MIN:SS, H:MM:SS, D-H[:MM[:SS]]"));
  sub->add_option("--slurm-gres", o.gres, "Slurm: generic resources per task, e.g. gpu:1")
      ->check(form("[A-Za-z0-9_]+(:[A-Za-z0-9_.-]+)?(:[0-9]+)?(,[A-Za-z0-9_]+(:[A-Za-z0-9_.-]+)?(:["
                   "0-9]+)?)*",
                   "a gres list such as gpu:1 or gpu:a100:2"));
  sub->add_option("--slurm-cpus", o.cpus, "Slurm: CPUs per task (default: --threads)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--slurm-mem", o.mem, "Slurm: memory per task, e.g. 8G")
      ->check(form("[0-9]+[KMGT]?", "a memory size such as 8G or 16000M"));
  sub->add_option("--slurm-extra", o.extra,
                  "Slurm: a raw sbatch flag (repeatable), e.g. --account=ml")
      ->check(form("--?[A-Za-z].*", "an sbatch flag starting with - or --"));
  sub->add_option(
         "--slurm-template", o.template_file,
         "Slurm: a file replacing the #SBATCH header ({job_name} {array} {log} {cpus} {time})")
      ->check(CLI::ExistingFile);
  sub->add_option("--slurm-muE", mue_path, "Slurm: the muE path the nodes run (default: this one)");
  sub->add_flag("--detach", o.detach, "Slurm: submit and exit; re-run the same command to collect");
}

LocalRunOptions local_run_options(const Layout& layout, const FuseDecision& fuse, double timeout_s,
                                  const GlobalOptions& g,
                                  std::function<std::string(const PlannedTrial&)> describe) {
  LocalRunOptions o;
  o.exe = self_exe();
  o.jobs = layout.jobs;
  o.threads = layout.threads;
  o.devices = layout.devices;
  o.timeout_s = timeout_s;
  o.quiet = g.quiet;
  o.live = !g.quiet && ::isatty(STDERR_FILENO);
  o.describe = std::move(describe);
  o.fuse = fuse.k;
  o.pack_key = [](const TrialSpec& t) { return mue::pack_key(t); };
  return o;
}

FuseDecision decide_fuse(const std::string& flag, const std::vector<PlannedTrial>& plan,
                         const std::map<std::string, TrialResult>& done, const Layout& layout,
                         const std::string& device, const std::string& dir, bool quiet) {
  FuseDecision d;
  if (flag == "off") {
    d.record = Json{{"mode", "off"}, {"k", 1}};
    return d;
  }
  if (flag != "auto") {
    if (flag.empty() || flag.find_first_not_of("0123456789") != std::string::npos ||
        flag.size() > 3 || std::stoi(flag) < 1 || std::stoi(flag) > 64)
      throw UsageError("--fuse " + flag + ": expected off, auto or a pack size K in [1, 64]");
    d.k = std::stoi(flag);
    d.record = Json{{"mode", "fixed"}, {"k", d.k}};
    return d;
  }
  // The largest group of pending trials that could share packs.
  std::map<std::string, std::vector<const PlannedTrial*>> buckets;
  for (const auto& t : plan) {
    if (done.count(t.spec.id())) continue;
    TrialSpec s = t.spec;
    s.device = device;
    const std::string key = mue::pack_key(s);
    if (!key.empty()) buckets[key].push_back(&t);
  }
  const std::vector<const PlannedTrial*>* biggest = nullptr;
  for (const auto& [k, v] : buckets)
    if (!biggest || v.size() > biggest->size()) biggest = &v;
  if (!biggest || biggest->size() < 2) {
    d.record = Json{{"mode", "auto"},
                    {"k", 1},
                    {"reason", "no two pending trials share shapes, data and schedule"}};
    return d;
  }
  TrialSpec probe = biggest->front()->spec;
  probe.threads = layout.threads;
  probe.device = device;
  const std::string spec_file = (fs::path(dir) / "trials" / "calibrate.spec.json").string();
  write_file_atomic(spec_file, to_json(probe).dump(1) + "\n");
  namespace bp = boost::process;
  const auto t0 = std::chrono::steady_clock::now();
  bp::ipstream out;
  auto env = boost::this_process::environment();
  if (env.find("OMP_WAIT_POLICY") == env.end()) env["OMP_WAIT_POLICY"] = "PASSIVE";
  bp::child c(self_exe(), "-q", "trial", "--calibrate", "--spec", spec_file, bp::std_out > out,
              bp::std_err > bp::null, bp::std_in < bp::null, env);
  std::string text((std::istreambuf_iterator<char>(out)), std::istreambuf_iterator<char>());
  c.wait();
  const double cost = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  Json cal;
  try {
    if (c.exit_code() != 0) throw std::runtime_error("exit " + std::to_string(c.exit_code()));
    cal = Json::parse(text);
  } catch (const std::exception& e) {
    d.record = Json{
        {"mode", "auto"}, {"k", 1}, {"reason", std::string("calibration failed: ") + e.what()}};
    return d;
  }
  const double single = cal["single_step_s"].get<double>();
  double best = single;
  for (const auto& p : cal["packs"]) {
    const int k = p["k"].get<int>();
    const double per_trial = p["step_s"].get<double>() / k;
    if (static_cast<std::size_t>(k) <= biggest->size() && per_trial < 0.95 * best)
      best = per_trial, d.k = k;
  }
  char why[200];
  std::snprintf(why, sizeof why, "per trial and step: alone %.4g s, %s", single,
                d.k > 1 ? ("fused in packs of " + std::to_string(d.k) + " " +
                           std::to_string(best).substr(0, 8) + " s")
                              .c_str()
                        : "no pack size >= 5% cheaper");
  d.record = Json{
      {"mode", "auto"}, {"k", d.k}, {"reason", why}, {"calibration", cal}, {"calibration_s", cost}};
  if (!quiet)
    std::fprintf(stderr, "muE: --fuse auto: %s (calibration %.1f s)\n",
                 d.k > 1 ? ("packs of " + std::to_string(d.k) + " (" + why + ")").c_str()
                         : ("no fusion (" + std::string(why) + ")").c_str(),
                 cost);
  return d;
}

} // namespace mue::cli

namespace mue::cli {
void require_slurm_clients() {
  for (const char* p : {"sbatch", "squeue", "scontrol", "scancel"})
    if (boost::process::search_path(p).empty())
      throw UsageError(
          std::string("--launcher slurm: '") + p +
          "' is not on PATH. Install Slurm's clients (Debian: apt-get install slurm-wlm, or "
          "scripts/install-deps), point SLURM_CONF at your cluster or start a local one with "
          "scripts/local-slurm start, or use --launcher local");
}
} // namespace mue::cli

namespace mue::cli {
std::optional<RunSummary> launch(const std::string& launcher, const SlurmOptions& slurm,
                                 const std::string& slurm_mue, const LocalRunOptions& o,
                                 const std::filesystem::path& dir, const std::string& job_name,
                                 const std::vector<PlannedTrial>& plan,
                                 std::map<std::string, TrialResult>& done,
                                 const std::string& to_do) {
  if (launcher != "slurm") return run_local(dir, plan, done, o);
  SlurmOptions so = slurm;
  so.base = o;
  if (!slurm_mue.empty()) so.base.exe = slurm_mue;
  const SlurmSummary ss = run_slurm(dir, job_name, plan, done, so);
  if (!ss.detached) return ss.run;
  std::cout << "submitted Slurm job " << ss.job_id << " for " << dir.string()
            << "; run the same command again to collect the results and " << to_do << "\n";
  return std::nullopt;
}
} // namespace mue::cli
