#include "sweep/engine.h"

#include <unistd.h>

#include <algorithm>
#include <boost/process.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "sweep/launcher.h"
#include "sweep/slurm_launcher.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/runtime.h"
#include "util/version.h"

namespace mue {
namespace fs = std::filesystem;
namespace bp = boost::process;

// ---- what the launchers share ------------------------------------------------------------

namespace {
volatile std::sig_atomic_t g_stop_signal = 0;
extern "C" void on_stop_signal(int sig) {
  g_stop_signal = sig;
}
constexpr int kStopSignals[3] = {SIGINT, SIGTERM, SIGHUP};

std::string fmt_duration(double s) {
  char buf[32];
  if (!(s >= 0) || s > 1e7) return "?";
  const auto t = static_cast<long>(s + 0.5);
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, t / 60 % 60);
  else if (t >= 60)
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%lds", t);
  return buf;
}

// Hardware threads of this machine (at least 1).
int machine_cores() {
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// OMP_WAIT_POLICY as the user set it; nullptr when unset or set by this muE itself (a CUDA
// build's parent loads torch to count the GPUs, cli/runtime_front.cpp).
const char* user_omp_wait_policy() {
  return std::getenv(kOmpSetMarker) ? nullptr : std::getenv("OMP_WAIT_POLICY");
}
} // namespace

StopSignals::StopSignals() {
  g_stop_signal = 0;
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  for (std::size_t i = 0; i < 3; ++i)
    ::sigaction(kStopSignals[i], &sa, &previous_[i]);
}

StopSignals::~StopSignals() {
  for (std::size_t i = 0; i < 3; ++i)
    ::sigaction(kStopSignals[i], &previous_[i], nullptr);
}

int StopSignals::received() const {
  return g_stop_signal;
}

const char* omp_wait_policy(const Layout& layout, int cores) {
  const bool own_cores = layout.threads > 1 && layout.jobs * layout.threads <= cores;
  return own_cores ? "ACTIVE" : "PASSIVE";
}

bp::environment worker_environment(const Layout& layout) {
  bp::environment env = boost::this_process::environment();
  if (!user_omp_wait_policy()) { // a value the user set wins; otherwise the layout decides
    env["OMP_WAIT_POLICY"] = omp_wait_policy(layout, machine_cores());
    env.erase(kOmpSetMarker);
  }
  return env;
}

TrialResult failure_result(const std::string& id, TrialStatus status, std::string error,
                           const std::string& log_file) {
  TrialResult r;
  r.id = id;
  r.status = status;
  r.error = std::move(error);
  std::string log;
  try {
    log = read_file(log_file);
  } catch (const Error&) {
  }
  r.log_tail = log.size() > 2000 ? log.substr(log.size() - 2000) : log;
  // The worker's own last word (cli/main.cpp prints "muE: error: ..."), so the error line
  // says why and not only that it exited.
  static const std::string kMark = "muE: error: ";
  if (const auto at = log.rfind(kMark);
      at != std::string::npos && (at == 0 || log[at - 1] == '\n')) {
    const auto from = at + kMark.size();
    r.error += ": " + log.substr(from, log.find('\n', from) - from);
  }
  return r;
}

Unit Batch::unit(std::size_t u, const std::string& device) const {
  std::vector<TrialSpec> specs;
  for (std::size_t i : units[u]) {
    specs.push_back(plan[i].spec);
    specs.back().threads = layout.threads;
    specs.back().device = device;
  }
  return make_unit(std::move(specs));
}

std::vector<std::vector<std::size_t>> make_units(const std::vector<PlannedTrial>& plan,
                                                 const std::vector<std::size_t>& pending,
                                                 int fuse) {
  std::vector<std::vector<std::size_t>> units;
  std::map<std::string, std::size_t> open; // pack key -> the unit still filling up
  for (std::size_t i : pending) {
    const std::string k = fuse > 1 ? pack_key(plan[i].spec) : "";
    if (k.empty()) {
      units.push_back({i});
      continue;
    }
    auto it = open.find(k);
    if (it == open.end() || units[it->second].size() >= static_cast<std::size_t>(fuse)) {
      units.push_back({});
      it = open.insert_or_assign(k, units.size() - 1).first;
    }
    units[it->second].push_back(i);
  }
  return units;
}

Recorder::Recorder(const std::vector<PlannedTrial>& plan, const Journal& journal,
                   std::map<std::string, TrialResult>& done, const RunOptions& o, int jobs)
    : plan_(plan), journal_(journal), done_(done), o_(o), jobs_(jobs) {
  for (std::size_t i = 0; i < plan.size(); ++i) {
    index_[plan[i].spec.id()] = i;
    finished_ += finished(plan[i].spec.id());
  }
}

bool Recorder::finished(const std::string& id) const {
  return mue::finished(done_, id);
}

std::string Recorder::describe(const std::string& id) const {
  const auto it = index_.find(id);
  return it != index_.end() && o_.describe ? o_.describe(plan_[it->second]) : id;
}

// " | best 2.3104 at lr=0.002 seed 0 | ETA 1m20s": what a user watching wants to know.
std::string Recorder::best_and_eta() const {
  const TrialResult* best = nullptr;
  for (const auto& t : plan_) {
    const auto it = done_.find(t.spec.id());
    if (it == done_.end()) continue;
    const TrialResult& r = it->second;
    if (r.status == TrialStatus::kOk && r.objective && (!best || *r.objective < *best->objective))
      best = &r;
  }
  std::string line;
  if (best) {
    char buf[64];
    std::snprintf(buf, sizeof buf, " | best %.4f at ", *best->objective);
    line += buf + describe(best->id);
  }
  const std::size_t left = plan_.size() - finished_;
  const double eta =
      wall_sum_ > 0 && ran_ ? wall_sum_ / double(ran_) * double(left) / double(jobs_) : -1;
  return line + " | ETA " + (left == 0 ? "0s" : fmt_duration(eta));
}

namespace {
std::string first_line(const std::string& s) {
  return s.substr(0, s.find('\n'));
}
} // namespace

void Recorder::watch(const TrialResult& r, std::size_t unit_size) {
  if (!watching_) return;
  const bool before_training =
      r.status == TrialStatus::kFailed && !r.retry && r.curve.empty() && !r.error.empty();
  if (!before_training ||
      (!early_failures_.empty() && first_line(r.error) != first_line(early_failures_[0].error))) {
    watching_ = false; // something trained, or the failures differ: no common cause
    early_failures_.clear();
    early_units_ = 0;
    return;
  }
  early_failures_.push_back(r);
  // Units (worker processes), not trials: a crashed pack of K is one failure of K trials.
  early_units_ += 1.0 / static_cast<double>(std::max<std::size_t>(1, unit_size));
  if (early_units_ < static_cast<double>(jobs_) + 1 - 1e-9) return;
  watching_ = false;
  systematic_ = first_line(r.error);
  systematic_input_ = true;
  for (auto f : early_failures_) {
    systematic_input_ = systematic_input_ && f.exit_status && *f.exit_status == 2;
    // Journaled again with retry: the failure says nothing about this trial's values.
    f.retry = true;
    f.error += " [stopped as a systematic failure; runs again on the next run]";
    journal_.append(f);
    done_[f.id] = f;
    --finished_;
  }
  early_failures_.clear();
}

void Recorder::record(const TrialResult& result, double unit_wall, std::size_t unit_size) {
  TrialResult r = result;
  // A unit still running when a systematic failure stopped the launches, failing the same
  // way: journaled to run again, like the ones that revealed the failure.
  if (!systematic_.empty() && r.status == TrialStatus::kFailed && r.curve.empty() &&
      first_line(r.error) == systematic_) {
    r.retry = true;
    r.error += " [stopped as a systematic failure; runs again on the next run]";
  }
  journal_.append(r); // durable before anything else
  done_[r.id] = r;
  if (!r.retry) ++finished_;
  ++ran_;
  if (unit_wall > 0) wall_sum_ += unit_wall / static_cast<double>(unit_size);
  if (r.status != TrialStatus::kOk) ++unusable_;
  if (o_.quiet) {
    watch(r, unit_size);
    return;
  }
  std::string what = to_string(r.status);
  if (r.objective) {
    char buf[32];
    std::snprintf(buf, sizeof buf, " %.4f", *r.objective);
    what += buf;
  } else if (!r.error.empty()) {
    what += " (" + r.error + ")";
  }
  char wall_text[64] = "";
  if (unit_wall > 0 && unit_size > 1)
    std::snprintf(wall_text, sizeof wall_text, ", %.1f s (pack of %zu)", unit_wall, unit_size);
  else if (unit_wall > 0)
    std::snprintf(wall_text, sizeof wall_text, ", %.1f s", unit_wall);
  std::fprintf(stderr, "%s[%zu/%zu] %s: %s%s%s\n", o_.live ? "\r\033[K" : "", finished_,
               plan_.size(), describe(r.id).c_str(), what.c_str(), wall_text,
               o_.live ? "" : best_and_eta().c_str());
  watch(r, unit_size);
}

void Recorder::draw(std::size_t running) {
  if (!o_.live) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(500) && running != 0) return;
  last_draw_ = now;
  std::size_t unusable = 0;
  for (const auto& t : plan_) {
    const auto it = done_.find(t.spec.id());
    unusable += it != done_.end() && it->second.status != TrialStatus::kOk;
  }
  std::fprintf(stderr, "\r\033[K%zu/%zu done, %zu running, %zu unusable%s", finished_, plan_.size(),
               running, unusable, best_and_eta().c_str());
}

void Recorder::end_live_line() {
  if (o_.live) std::fprintf(stderr, "\r\033[K");
}

// ---- layout and fusing ---------------------------------------------------------------------

Layout choose_layout(int jobs, int threads, std::size_t pending, const std::string& device,
                     int cuda_devices, int cores) {
  cores = std::max(1, cores);
  const int wanted = static_cast<int>(std::max<std::size_t>(1, pending));
  Layout l;
  if (device == "cuda") {
    // One trial per visible GPU, each on its own card; the CPU threads split between them.
    const int gpus = std::max(1, cuda_devices);
    for (int i = 0; i < gpus; ++i)
      l.devices.push_back("cuda:" + std::to_string(i));
    l.jobs = jobs > 0 ? jobs : std::min(gpus, wanted);
  } else {
    l.devices = {device};
    l.jobs = jobs > 0 ? jobs : std::max(1, std::min(cores, wanted));
  }
  l.threads = threads > 0 ? threads : std::max(1, cores / l.jobs);
  return l;
}

void check_fuse_flag(const std::string& flag) {
  if (flag == "off" || flag == "auto") return;
  if (flag.empty() || flag.find_first_not_of("0123456789") != std::string::npos ||
      flag.size() > 3 || std::stoi(flag) < 1 || std::stoi(flag) > 64)
    throw UsageError("--fuse " + flag + ": expected off, auto or a pack size K in [1, 64]");
}

namespace {

// `auto` times a few steps of one pending trial alone and in packs (a `muE trial
// --calibrate` worker, on this hardware, with the layout's threads) and fuses only when a
// pack is >= 5% cheaper per trial.
FuseDecision decide_fuse(const std::vector<PlannedTrial>& plan,
                         const std::vector<std::size_t>& pending, const Layout& layout,
                         const Journal& journal, const RunOptions& o) {
  FuseDecision d;
  if (o.fuse == "off") {
    d.record = Json{{"mode", "off"}, {"k", 1}};
    return d;
  }
  if (o.pruner.kind != PrunerSpec::Kind::kNone && o.launcher == "local") {
    // A pack trains its trials in lockstep: the pruner stops trials one by one.
    d.record = Json{{"mode", "off"}, {"k", 1}, {"why", "the pruner stops trials one by one"}};
    return d;
  }
  if (o.fuse != "auto") {
    d.k = std::stoi(o.fuse);
    d.record = Json{{"mode", "fixed"}, {"k", d.k}};
    return d;
  }
  // The largest group of pending trials that could share packs.
  std::map<std::string, std::vector<std::size_t>> buckets;
  for (std::size_t i : pending) {
    TrialSpec s = plan[i].spec;
    s.device = layout.devices.front();
    const std::string key = pack_key(s);
    if (!key.empty()) buckets[key].push_back(i);
  }
  const std::vector<std::size_t>* biggest = nullptr;
  for (const auto& [k, v] : buckets)
    if (!biggest || v.size() > biggest->size()) biggest = &v;
  if (!biggest || biggest->size() < 2) {
    d.record = Json{{"mode", "auto"},
                    {"k", 1},
                    {"reason", "no two pending trials share shapes, data and schedule"}};
    return d;
  }
  TrialSpec probe = plan[biggest->front()].spec;
  probe.threads = layout.threads;
  probe.device = layout.devices.front();
  const std::string spec_file = journal.calibration_spec_file();
  write_file_atomic(spec_file, to_json(probe).dump(1) + "\n");
  const auto t0 = std::chrono::steady_clock::now();
  bp::ipstream out;
  bp::child c(o.exe, calibrate_args(spec_file), bp::std_out > out, bp::std_err > bp::null,
              bp::std_in < bp::null, worker_environment(layout));
  std::string text((std::istreambuf_iterator<char>(out)), std::istreambuf_iterator<char>());
  c.wait();
  const double cost = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  Calibration cal;
  try {
    if (c.exit_code() != 0) throw std::runtime_error("exit " + std::to_string(c.exit_code()));
    cal = parse_calibration(Json::parse(text), Where{"muE trial --calibrate", ""});
  } catch (const std::exception& e) {
    d.record = Json{
        {"mode", "auto"}, {"k", 1}, {"reason", std::string("calibration failed: ") + e.what()}};
    return d;
  }
  double best = cal.single_step_s;
  for (const auto& [k, step_s] : cal.pack_step_s) {
    const double per_trial = step_s / k;
    if (static_cast<std::size_t>(k) <= biggest->size() && per_trial < 0.95 * best)
      best = per_trial, d.k = k;
  }
  char why[200];
  std::snprintf(why, sizeof why, "per trial and step: alone %.4g s, %s", cal.single_step_s,
                d.k > 1 ? ("fused in packs of " + std::to_string(d.k) + " " +
                           std::to_string(best).substr(0, 8) + " s")
                              .c_str()
                        : "no pack size >= 5% cheaper");
  Json cal_json = to_json(cal);
  cal_json.erase("schema");
  d.record = Json{{"mode", "auto"},
                  {"k", d.k},
                  {"reason", why},
                  {"calibration", cal_json},
                  {"calibration_s", cost}};
  if (!o.quiet)
    std::fprintf(stderr, "muE: --fuse auto: %s (calibration %.1f s)\n",
                 d.k > 1 ? ("packs of " + std::to_string(d.k) + " (" + why + ")").c_str()
                         : ("no fusion (" + std::string(why) + ")").c_str(),
                 cost);
  return d;
}

Json environment(const RunOptions& o, const Layout& layout, const FuseDecision& fuse) {
  const char* omp = user_omp_wait_policy();
  Json e{{"muE", std::string(version()) + " (git " + git_hash() + ")"},
         {"device", o.device},
         {"host", host_name()},
         {"cpu", cpu_model()},
         {"cores", std::thread::hardware_concurrency()},
         {"jobs", layout.jobs},
         {"devices", layout.devices},
         {"threads_per_trial", layout.threads},
         {"omp_wait_policy", omp ? std::string(omp)
                                 : omp_wait_policy(layout, machine_cores()) +
                                       std::string(" (set for the trial processes)")}};
  for (const auto& [k, v] : o.backend_environment.items())
    e[k] = v;
  e["fuse"] = fuse.record;
  if (!command_line().empty()) e["command"] = command_line();
  e["workers"] = o.launcher == "local" ? o.workers : "slurm tasks";
  if (o.pruner.kind != PrunerSpec::Kind::kNone) {
    e["pruner"] = to_json(o.pruner);
    if (o.launcher != "local") e["pruner"]["applied"] = false; // Slurm tasks run to the end
  }
  return e;
}

} // namespace

// ---- one run -------------------------------------------------------------------------------

int RunOutcome::early_exit() const {
  if (stop_signal) return 128 + stop_signal;
  if (!systematic_failure.empty())
    return static_cast<int>(systematic_input ? ExitCode::kBadInput : ExitCode::kRuntime);
  if (detached) return 0;
  return -1;
}

void check_run_options(const RunOptions& o) {
  check_fuse_flag(o.fuse);
  if (o.launcher != "local" && o.launcher != "slurm")
    throw UsageError("--launcher " + o.launcher + ": expected local or slurm");
  if (o.launcher == "slurm") require_slurm_clients();
}

RunOutcome run_trials(const std::vector<PlannedTrial>& plan, const RunDir& dir,
                      const RunOptions& o) {
  check_run_options(o); // usage errors before anything is written

  const Journal journal = dir.spec_text.empty() ? Journal(dir.path)
                                                : Journal::for_spec(dir.path, dir.spec_text,
                                                                    dir.force_new, dir.spec_file);
  RunOutcome out;
  bool torn = false;
  out.done = journal.read(&torn);
  if (torn) journal.drop_torn_tail(); // the next append must start a line of its own
  if (torn && !o.quiet)
    std::cerr << "muE: warning: the journal's last line was torn (killed mid-write); ignored\n";
  out.planned = plan.size();
  for (const auto& t : plan)
    out.reused += finished(out.done, t.spec.id());

  out.salvaged = journal.salvage(plan, out.done);
  if (out.salvaged && !o.quiet)
    std::fprintf(stderr,
                 "muE: journaled %zu finished result(s) an interrupted run had left in %s\n",
                 out.salvaged, journal.trials_dir().c_str());
  std::vector<std::size_t> pending;
  for (std::size_t i = 0; i < plan.size(); ++i)
    if (!finished(out.done, plan[i].spec.id())) pending.push_back(i);

  out.layout = choose_layout(o.jobs, o.threads, plan.size() - out.reused, o.device, o.cuda_devices,
                             machine_cores());
  if (!o.quiet)
    std::cerr << o.title << ": " << plan.size() << " trials, " << out.reused
              << " already in the journal; " << out.layout.jobs << " at a time × "
              << out.layout.threads << " thread(s) on " << o.device << "\n";
  const FuseDecision fuse = decide_fuse(plan, pending, out.layout, journal, o);
  out.environment = environment(o, out.layout, fuse);
  if (pending.empty()) return out;

  Recorder recorder(plan, journal, out.done, o, out.layout.jobs);
  Batch batch{plan, make_units(plan, pending, fuse.k), journal, o, out.layout, fuse.k, recorder};
  const auto launcher = o.launcher == "slurm" ? make_slurm_launcher() : make_local_launcher();
  const LaunchResult launched = launcher->run(batch);
  out.ran += recorder.ran();
  out.unusable += recorder.unusable();
  out.stop_signal = launched.stop_signal;
  out.detached = launched.detached;
  out.job_id = launched.job_id;
  out.systematic_failure = recorder.systematic_failure();
  out.systematic_input = recorder.systematic_input();
  if (!out.systematic_failure.empty() && !out.stop_signal) {
    std::size_t started = 0;
    for (const auto& t : plan)
      started += out.done.count(t.spec.id());
    std::cerr << "muE: error: " << o.title << ": the first " << out.layout.jobs + 1
              << " trial processes failed the same way before training a step, so no more were "
                 "started ("
              << plan.size() - started << " of " << plan.size()
              << " not run): " << out.systematic_failure
              << "\nmuE: fix the cause and run the same command again: the failed trials are "
                 "journaled to run again, finished ones are kept\n";
  } else if (out.detached) {
    std::cout << "submitted Slurm job " << out.job_id << " for " << journal.dir().string()
              << "; run the same command again to collect the results and " << o.collect_then
              << "\n";
  } else if (out.stop_signal) {
    std::size_t journaled = 0;
    for (const auto& t : plan)
      journaled += out.done.count(t.spec.id());
    std::cerr << o.title << ": stopped by " << ::strsignal(out.stop_signal) << "; " << journaled
              << " of " << plan.size() << " trials are in " << journal.journal_file()
              << ". Run the same command again to resume.\n";
  }
  return out;
}

} // namespace mue
