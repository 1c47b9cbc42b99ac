// The local launcher: every unit is a `muE trial` worker process, `jobs` at a time.
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/process.hpp>
#include <boost/process/extend.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>
#include <list>
#include <thread>

#include "sweep/launcher.h"
#include "sweep/pruner.h"
#include "util/error.h"
#include "util/json.h"

namespace mue {
namespace {
namespace bp = boost::process;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// One trial process, however it was started.
class Worker {
public:
  virtual ~Worker() = default;
  virtual bool running() = 0;
  virtual void terminate() = 0; // SIGKILL
  virtual void wait() = 0;
  virtual int native_exit_code() = 0; // the wait status
  virtual pid_t id() const = 0;
  // The process was lost with its warm server (which died): nothing is known of the trial.
  virtual bool lost() const { return false; }
};

// A fresh `muE trial` process (exec, loads the trainer library itself).
class ColdWorker : public Worker {
public:
  explicit ColdWorker(bp::child c) : child_(std::move(c)) {}
  bool running() override { return child_.running(); }
  void terminate() override { child_.terminate(); }
  void wait() override { child_.wait(); }
  int native_exit_code() override { return child_.native_exit_code(); }
  pid_t id() const override { return child_.id(); }

private:
  bp::child child_;
};

// The warm trial server (`muE trial --serve`, cli/trial_server.h): loaded once, it forks a
// child per trial. Its replies come on a pipe read without blocking.
class TrialServer {
public:
  template <class Setup>
  TrialServer(const std::string& exe, const bp::environment& env, const std::string& log,
              Setup setup) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0)
      throw RuntimeError(std::string("cannot create the trial server's pipes: ") +
                         std::strerror(errno));
    const int child_in = in[0], child_out = out[1];
    to_ = in[1];
    from_ = out[0];
    child_ = bp::child(
        exe, std::vector<std::string>{"-q", "trial", "--serve"}, bp::std_err > log, env,
        bp::extend::on_exec_setup = [setup, child_in, child_out](auto& e) {
          ::dup2(child_in, STDIN_FILENO); // dup2 clears O_CLOEXEC on the copies
          ::dup2(child_out, STDOUT_FILENO);
          setup(e);
        });
    ::close(child_in);
    ::close(child_out);
    ::fcntl(from_, F_SETFL, ::fcntl(from_, F_GETFL) | O_NONBLOCK);
  }
  ~TrialServer() {
    ::close(to_); // EOF: the server kills what is left and exits
    ::close(from_);
    if (child_.running()) {
      for (int i = 0; i < 100 && child_.running(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      if (child_.running()) child_.terminate();
    }
    std::error_code ec;
    child_.wait(ec);
  }
  TrialServer(const TrialServer&) = delete;
  TrialServer& operator=(const TrialServer&) = delete;

  // Starts `muE ARGS` with its output in `log`; the pid. RuntimeError when the server is gone.
  pid_t start(const std::vector<std::string>& args, const std::string& log) {
    const std::string line = Json{{"log", log}, {"args", args}}.dump() + "\n";
    if (::write(to_, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
      throw RuntimeError("the trial server stopped taking requests");
    for (int waited = 0; waited < 30000; waited += 2) {
      poll();
      if (!started_.empty()) {
        const Json r = started_.front();
        started_.erase(started_.begin());
        if (r.contains("error"))
          throw RuntimeError("the trial server: " + r["error"].get<std::string>());
        return r["started"].get<pid_t>();
      }
      if (!child_.running()) throw RuntimeError("the trial server exited");
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    throw RuntimeError("the trial server did not answer in 60 s");
  }
  // Reads what the server said; true once `pid` has ended (its wait status in `status`).
  // `lost` is set when the server died first and took it along (PDEATHSIG).
  bool ended(pid_t pid, int* status, bool* lost) {
    poll();
    const auto it = exits_.find(pid);
    if (it == exits_.end()) {
      if (!child_.running() && buf_.empty()) {
        if (status) *status = SIGKILL; // WIFSIGNALED, WTERMSIG == SIGKILL
        if (lost) *lost = true;
        return true;
      }
      return false;
    }
    if (status) *status = it->second;
    return true;
  }
  bool alive() { return child_.running(); }

private:
  void poll() {
    char chunk[4096];
    for (ssize_t n; (n = ::read(from_, chunk, sizeof chunk)) > 0;)
      buf_.append(chunk, static_cast<std::size_t>(n));
    for (std::size_t nl; (nl = buf_.find('\n')) != std::string::npos;) {
      Json j = Json::parse(buf_.substr(0, nl), nullptr, false);
      buf_.erase(0, nl + 1);
      if (j.is_discarded()) continue;
      if (j.contains("pid"))
        exits_[j["pid"].get<pid_t>()] = j["status"].get<int>();
      else
        started_.push_back(std::move(j));
    }
  }
  bp::child child_;
  int to_ = -1, from_ = -1;
  std::string buf_;
  std::vector<Json> started_;
  std::map<pid_t, int> exits_;
};

class WarmWorker : public Worker {
public:
  WarmWorker(TrialServer& server, pid_t pid) : server_(server), pid_(pid) {}
  bool running() override { return !server_.ended(pid_, &status_, &lost_); }
  void terminate() override { ::kill(pid_, SIGKILL); }
  void wait() override {
    while (!server_.ended(pid_, &status_, &lost_))
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  int native_exit_code() override { return status_; }
  pid_t id() const override { return pid_; }
  bool lost() const override { return lost_; }

private:
  TrialServer& server_;
  pid_t pid_;
  int status_ = 0;
  bool lost_ = false;
};

struct Running {
  std::vector<std::size_t> indices; // plan indices of the unit's trials
  std::unique_ptr<Worker> child;
  Clock::time_point start;
  Journal::UnitFiles files;
  std::string device;
  std::string progress;          // the pruner's input file ("" without a pruner)
  std::vector<CurvePoint> curve; // the evaluations it reported so far
};

class LocalLauncher : public Launcher {
public:
  LaunchResult run(Batch& b) override {
    const StopSignals signals;
    // A write to a warm server that died must fail with EPIPE, not kill the sweep.
    struct IgnorePipe {
      struct sigaction old {};
      IgnorePipe() {
        struct sigaction ign {};
        ign.sa_handler = SIG_IGN;
        ::sigaction(SIGPIPE, &ign, &old);
      }
      ~IgnorePipe() { ::sigaction(SIGPIPE, &old, nullptr); }
    } ignore_pipe;
    const RunOptions& o = b.options;
    auto env = worker_environment(b.layout);
    const pid_t parent = ::getpid();
    // In the child, before exec: its own process group (a terminal's Ctrl-C reaches only
    // the sweep, which then stops its workers in order) and death with the sweep.
    auto setup = [parent](auto&) {
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
    };
    // Warm workers: one server per run, started at the first launch; a server that cannot
    // start or dies falls back to cold processes (with a warning), so trials still run.
    std::unique_ptr<TrialServer> server;
    bool warm = o.workers == "warm";
    std::list<Running> running;
    std::size_t next = 0;
    const bool prunes = o.pruner.kind != PrunerSpec::Kind::kNone;
    b.recorder.draw(0);
    while (
        ((next < b.units.size() && b.recorder.systematic_failure().empty()) || !running.empty()) &&
        !signals.received()) {
      while (static_cast<int>(running.size()) < b.layout.jobs && next < b.units.size() &&
             !signals.received() && b.recorder.systematic_failure().empty()) {
        const std::string device = least_busy(b.layout.devices, running);
        const Unit u = b.unit(next, device);
        const Journal::UnitFiles f = b.journal.write_unit(u);
        std::string progress;
        if (prunes && !u.pack()) {
          progress = progress_file_for(f.result);
          std::error_code ec;
          std::filesystem::remove(progress, ec); // a killed run's stale progress
        }
        const auto args = worker_args(f.spec, f.result, u.pack(), progress);
        std::unique_ptr<Worker> w;
        if (warm) {
          try {
            if (server && !server->alive())
              throw RuntimeError("the trial server exited (see " +
                                 (b.journal.logs_dir() / "trial-server.log").string() + ")");
            if (!server)
              server = std::make_unique<TrialServer>(
                  o.exe, env, (b.journal.logs_dir() / "trial-server.log").string(), setup);
            w = std::make_unique<WarmWorker>(*server, server->start(args, f.log));
          } catch (const RuntimeError& e) {
            if (!o.quiet)
              std::fprintf(stderr, "muE: warning: warm workers off for this run (%s)\n", e.what());
            warm = false;
          }
        }
        if (!w)
          w = std::make_unique<ColdWorker>(
              bp::child(o.exe, args, (bp::std_out & bp::std_err) > f.log, bp::std_in < bp::null,
                        env, bp::extend::on_exec_setup = setup));
        running.push_back(
            Running{b.units[next++], std::move(w), Clock::now(), f, device, progress, {}});
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (prunes) prune(b, running);
      for (auto it = running.begin(); it != running.end() && !signals.received();) {
        const double limit = o.timeout_s * static_cast<double>(it->indices.size());
        if (it->child->running() && seconds_since(it->start) <= limit) {
          ++it;
          continue;
        }
        std::vector<TrialResult> results;
        if (it->child->running()) {
          it->child->terminate();
          it->child->wait();
          for (std::size_t i : it->indices)
            results.push_back(failure_result(
                b.plan[i].spec.id(), TrialStatus::kTimeout,
                "killed after the trial timeout of " + Json(limit).dump() + " s" +
                    (it->indices.size() > 1 ? " (its pack's: per trial × pack size)" : ""),
                it->files.log));
        } else {
          results = outcome(b, *it);
        }
        record_all(b, *it, results);
        it = running.erase(it);
        b.recorder.draw(running.size());
      }
      b.recorder.draw(running.size());
    }
    b.recorder.end_live_line();
    LaunchResult out;
    if (signals.received()) {
      out.stop_signal = signals.received();
      stop(b, running);
    }
    return out;
  }

private:
  // Reads each running trial's new evaluations and stops (journals as pruned) the ones the
  // pruner gives up on, comparing with every result known and the other running trials.
  static void prune(Batch& b, std::list<Running>& running) {
    bool news = false;
    for (auto& run : running) {
      if (run.progress.empty()) continue;
      std::vector<CurvePoint> c = read_progress(run.progress);
      if (c.size() > run.curve.size()) {
        run.curve = std::move(c);
        news = true;
      }
    }
    if (!news) return;
    std::vector<EvalCurve> finished, known;
    for (const auto& [id, r] : b.recorder.done()) {
      if (r.status == TrialStatus::kOk) finished.push_back(eval_curve(r));
      if (r.status == TrialStatus::kOk || r.status == TrialStatus::kPruned)
        known.push_back(eval_curve(r));
    }
    for (auto it = running.begin(); it != running.end();) {
      if (it->curve.empty() || !it->child->running()) {
        ++it;
        continue;
      }
      std::vector<EvalCurve> others = known;
      for (const auto& other : running)
        if (&other != &*it && !other.curve.empty()) others.push_back(eval_curve(other.curve));
      const EvalCurve mine = eval_curve(it->curve);
      // The last evaluation ends the training: nothing is saved by stopping it there.
      const bool last = mine.back().first >= b.plan[it->indices.front()].spec.config.train.steps;
      const std::string why = last ? "" : prune_reason(b.options.pruner, mine, finished, others);
      if (why.empty()) {
        ++it;
        continue;
      }
      it->child->terminate(); // SIGKILL: its result would be of a trial no longer wanted
      it->child->wait();
      TrialResult r;
      r.id = b.plan[it->indices.front()].spec.id();
      r.status = TrialStatus::kPruned;
      r.error = why;
      r.curve = it->curve;
      r.device = it->device;
      std::vector<TrialResult> results{r};
      record_all(b, *it, results);
      known.push_back(mine);
      it = running.erase(it);
      b.recorder.draw(running.size());
    }
  }

  static std::string least_busy(const std::vector<std::string>& devices,
                                const std::list<Running>& running) {
    std::string device = devices.front();
    std::size_t least = std::numeric_limits<std::size_t>::max();
    for (const auto& dv : devices) {
      const auto busy = static_cast<std::size_t>(std::count_if(
          running.begin(), running.end(), [&](const Running& r) { return r.device == dv; }));
      if (busy < least) least = busy, device = dv;
    }
    return device;
  }

  static void record_all(Batch& b, const Running& run, std::vector<TrialResult>& results) {
    const double wall = seconds_since(run.start);
    for (auto& r : results) {
      if (!(r.wall_s > 0)) r.wall_s = wall;
      r.process_wall_s = wall;
      b.recorder.record(r, wall, run.indices.size());
    }
  }

  // A finished worker's outcome per trial: its result when valid, else a failure record.
  static std::vector<TrialResult> outcome(const Batch& b, Running& run) {
    run.child->wait();
    const int native = run.child->native_exit_code();
    std::map<std::string, TrialResult> got;
    if (WIFEXITED(native) && WEXITSTATUS(native) == 0)
      for (auto& r : read_unit_results(unit_of(b, run), run.files.result))
        got[r.id] = r;
    const std::string why =
        WIFSIGNALED(native)
            ? "the trial process died from signal " + std::to_string(WTERMSIG(native)) + " (" +
                  ::strsignal(WTERMSIG(native)) + ")"
            : "the trial process exited with status " + std::to_string(WEXITSTATUS(native)) +
                  (WEXITSTATUS(native) == 0 ? " but wrote no valid result"
                                            : " without a valid result");
    std::vector<TrialResult> out;
    for (std::size_t i : run.indices) {
      const std::string id = b.plan[i].spec.id();
      if (got.count(id)) {
        out.push_back(got[id]);
        continue;
      }
      if (run.child->lost()) { // says nothing about the trial: it runs again on the next run
        out.push_back(failure_result(
            id, TrialStatus::kFailed,
            "the warm trial server died and took this trial along; it runs again on resume",
            run.files.log));
        out.back().retry = true;
        continue;
      }
      out.push_back(failure_result(id, TrialStatus::kFailed, why, run.files.log));
      out.back().exit_status = WIFEXITED(native) ? WEXITSTATUS(native) : 128 + WTERMSIG(native);
      // It could not write its result (disk full, read-only): runs again on the next run.
      out.back().retry = WIFEXITED(native) && WEXITSTATUS(native) == kWorkerCannotWrite;
    }
    return out;
  }

  static Unit unit_of(const Batch& b, const Running& run) {
    std::vector<TrialSpec> specs;
    for (std::size_t i : run.indices)
      specs.push_back(b.plan[i].spec);
    return make_unit(std::move(specs));
  }

  // TERM every worker, a grace period, then KILL. A worker that still managed to write its
  // result is journaled; the others run again on resume.
  static void stop(Batch& b, std::list<Running>& running) {
    for (auto& run : running)
      ::kill(run.child->id(), SIGTERM);
    const auto t0 = Clock::now();
    for (auto& run : running)
      while (run.child->running() && seconds_since(t0) < 3)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    for (auto& run : running) {
      if (run.child->running()) run.child->terminate();
      run.child->wait();
      const int native = run.child->native_exit_code();
      if (!(WIFEXITED(native) && WEXITSTATUS(native) == 0)) continue;
      std::vector<TrialResult> results = read_unit_results(unit_of(b, run), run.files.result);
      record_all(b, run, results);
    }
    running.clear();
  }
};

} // namespace

std::unique_ptr<Launcher> make_local_launcher() {
  return std::make_unique<LocalLauncher>();
}

} // namespace mue
