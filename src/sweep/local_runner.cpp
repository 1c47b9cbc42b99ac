#include "sweep/local_runner.h"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/process.hpp>
#include <boost/process/extend.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <limits>
#include <list>
#include <thread>

#include "sweep/worker.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/hash.h"

namespace mue {
namespace fs = std::filesystem;
namespace bp = boost::process;

namespace {

std::string tail_of(const std::string& path, std::size_t bytes = 2000) {
  std::string s;
  try {
    s = read_file(path);
  } catch (const Error&) {
    return "";
  }
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

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

struct Running {
  std::vector<std::size_t> indices; // plan indices: one trial, or the trials of a pack
  bp::child child;
  std::chrono::steady_clock::time_point start;
  std::string result_path, log_path;
  std::string device;
};

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

} // namespace

std::vector<std::vector<std::size_t>>
make_units(const std::vector<PlannedTrial>& plan, const std::vector<std::size_t>& pending, int fuse,
           const std::function<std::string(const TrialSpec&)>& key) {
  std::vector<std::vector<std::size_t>> units;
  if (fuse <= 1 || !key) {
    for (std::size_t i : pending)
      units.push_back({i});
    return units;
  }
  std::map<std::string, std::size_t> open; // pack key -> the unit still filling up
  for (std::size_t i : pending) {
    const std::string k = key(plan[i].spec);
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

namespace {
volatile std::sig_atomic_t g_stop_signal = 0;
extern "C" void on_stop_signal(int sig) {
  g_stop_signal = sig;
}
constexpr int kStopSignals[3] = {SIGINT, SIGTERM, SIGHUP};
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

// read_trial_result and read_pack_results: sweep/worker.h.

void open_sweep_dir(const fs::path& dir, const std::string& spec_text, bool force_new,
                    const std::string& spec_file) {
  const fs::path spec_path = dir / "spec.json", journal = dir / "trials.jsonl";
  if (fs::exists(spec_path) && read_file(spec_path.string()) != spec_text) {
    if (!force_new)
      throw InputError(spec_file, "",
                       "the sweep directory " + dir.string() +
                           " holds a different spec; use another --out, or --force-new to "
                           "start over there");
    fs::remove(journal);
    fs::remove_all(dir / "trials");
  }
  fs::create_directories(dir / "logs");
  fs::create_directories(dir / "trials");
  write_file_atomic(spec_path.string(), spec_text);
}

RunSummary run_local(const fs::path& dir, const std::vector<PlannedTrial>& plan,
                     std::map<std::string, TrialResult>& done, const LocalRunOptions& o) {
  const std::string journal = (dir / "trials.jsonl").string();
  RunSummary summary;
  auto trial_file = [&](const std::string& id, const char* what) {
    return (dir / "trials" / (id + what)).string();
  };

  std::error_code ec;
  // Salvage: a result a child wrote just before the sweep was killed, never journaled.
  std::vector<std::size_t> pending;
  for (std::size_t i = 0; i < plan.size(); ++i) {
    const std::string id = plan[i].spec.id();
    if (done.count(id) && !done.at(id).retry) continue;
    if (auto r = read_trial_result(trial_file(id, ".result.json"), id)) {
      append_line_durable(journal, to_json(*r).dump());
      done[id] = *r;
      ++summary.salvaged;
      continue;
    }
    pending.push_back(i);
  }
  // Packs: one result file holds several trials' results.
  for (const auto& entry : fs::directory_iterator(dir / "trials", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("pack-", 0) != 0 || name.size() < 12 ||
        name.substr(name.size() - 12) != ".result.json")
      continue;
    for (const auto& r : read_pack_results(entry.path().string()))
      if (!done.count(r.id) || done.at(r.id).retry) {
        const auto it = std::find_if(pending.begin(), pending.end(),
                                     [&](std::size_t i) { return plan[i].spec.id() == r.id; });
        if (it == pending.end()) continue;
        append_line_durable(journal, to_json(r).dump());
        done[r.id] = r;
        ++summary.salvaged;
        pending.erase(it);
      }
  }
  if (summary.salvaged && !o.quiet)
    std::fprintf(stderr,
                 "muE: journaled %zu finished result(s) an interrupted run had left in %s\n",
                 summary.salvaged, (dir / "trials").c_str());
  if (pending.empty()) return summary;

  const StopSignals signals;
  auto env = boost::this_process::environment();
  if (env.find("OMP_WAIT_POLICY") == env.end())
    env["OMP_WAIT_POLICY"] = "PASSIVE"; // read by libgomp at load
  const pid_t parent = ::getpid();
  // In the child, before exec: its own process group (a terminal's Ctrl-C reaches only
  // the sweep, which then stops its children in order) and death with the sweep.
  auto setup = [parent](auto&) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
  };

  const std::size_t total = plan.size();
  std::size_t finished = total - pending.size(), next = 0;
  double wall_sum = 0;
  std::list<Running> running;
  // " | best 2.3104 at lr=0.002 seed 0 | ETA 1m20s": what a user watching wants to know.
  auto best_and_eta = [&]() {
    const TrialResult* best = nullptr;
    const PlannedTrial* best_t = nullptr;
    for (const auto& t : plan) {
      const auto it = done.find(t.spec.id());
      if (it == done.end()) continue;
      const TrialResult& r = it->second;
      if (r.status == TrialStatus::kOk && r.objective && (!best || *r.objective < *best->objective))
        best = &r, best_t = &t;
    }
    std::string line;
    if (best) {
      char buf[64];
      std::snprintf(buf, sizeof buf, " | best %.4f at ", *best->objective);
      line += buf + (o.describe ? o.describe(*best_t) : best->id);
    }
    const std::size_t left = total - finished;
    const double eta =
        summary.ran ? wall_sum / double(summary.ran) * double(left) / double(o.jobs) : -1;
    return line + " | ETA " + (left == 0 ? "0s" : fmt_duration(eta));
  };
  auto progress_line = [&]() {
    std::size_t unusable = 0;
    for (const auto& t : plan) {
      const auto it = done.find(t.spec.id());
      unusable += it != done.end() && it->second.status != TrialStatus::kOk;
    }
    char buf[128];
    std::snprintf(buf, sizeof buf, "%zu/%zu done, %zu running, %zu unusable", finished, total,
                  running.size(), unusable);
    return buf + best_and_eta();
  };
  auto draw = [&]() {
    if (o.live) std::fprintf(stderr, "\r\033[K%s", progress_line().c_str());
  };
  // `unit_wall`: the process's wall time; a pack's trials share it.
  auto record = [&](std::size_t index, TrialResult r, double unit_wall, std::size_t unit_size) {
    append_line_durable(journal, to_json(r).dump()); // durable before anything else
    done[r.id] = r;
    ++finished;
    ++summary.ran;
    wall_sum += unit_wall / static_cast<double>(unit_size);
    if (r.status != TrialStatus::kOk) ++summary.unusable;
    if (o.quiet) return;
    std::string what = to_string(r.status);
    if (r.objective) {
      char buf[32];
      std::snprintf(buf, sizeof buf, " %.4f", *r.objective);
      what += buf;
    } else if (!r.error.empty()) {
      what += " (" + r.error + ")";
    }
    char wall_text[64];
    if (unit_size > 1)
      std::snprintf(wall_text, sizeof wall_text, "%.1f s (pack of %zu)", unit_wall, unit_size);
    else
      std::snprintf(wall_text, sizeof wall_text, "%.1f s", unit_wall);
    std::fprintf(stderr, "%s[%zu/%zu] %s: %s, %s%s\n", o.live ? "\r\033[K" : "", finished, total,
                 (o.describe ? o.describe(plan[index]) : r.id).c_str(), what.c_str(), wall_text,
                 o.live ? "" : best_and_eta().c_str());
  };
  auto failure = [&](const std::string& id, TrialStatus status, std::string error,
                     const Running& run) {
    TrialResult r;
    r.id = id;
    r.status = status;
    r.error = std::move(error);
    r.log_tail = tail_of(run.log_path);
    return r;
  };
  // A finished child's outcome per trial: its result when valid, else a failure record.
  auto outcome = [&](Running& run) {
    run.child.wait();
    const int native = run.child.native_exit_code();
    std::vector<TrialResult> out;
    std::map<std::string, TrialResult> got;
    if (WIFEXITED(native) && WEXITSTATUS(native) == 0) {
      if (run.indices.size() == 1) {
        if (auto r = read_trial_result(run.result_path, plan[run.indices[0]].spec.id()))
          got[r->id] = *r;
      } else {
        for (auto& r : read_pack_results(run.result_path))
          got[r.id] = r;
      }
    }
    const std::string why =
        WIFSIGNALED(native)
            ? "the trial process died from signal " + std::to_string(WTERMSIG(native)) + " (" +
                  ::strsignal(WTERMSIG(native)) + ")"
            : "the trial process exited with status " + std::to_string(WEXITSTATUS(native)) +
                  (WEXITSTATUS(native) == 0 ? " but wrote no valid result"
                                            : " without a valid result");
    for (std::size_t i : run.indices) {
      const std::string id = plan[i].spec.id();
      if (got.count(id)) {
        out.push_back(got[id]);
      } else {
        out.push_back(failure(id, TrialStatus::kFailed, why, run));
        out.back().exit_status = WIFEXITED(native) ? WEXITSTATUS(native) : 128 + WTERMSIG(native);
      }
    }
    return out;
  };

  const std::vector<std::vector<std::size_t>> units = make_units(plan, pending, o.fuse, o.pack_key);
  auto last_draw = std::chrono::steady_clock::now();
  draw();
  while ((next < units.size() || !running.empty()) && !signals.received()) {
    while (static_cast<int>(running.size()) < o.jobs && next < units.size() &&
           !signals.received()) {
      const std::vector<std::size_t>& unit = units[next++];
      std::string device = o.devices.front();
      std::size_t least = std::numeric_limits<std::size_t>::max();
      for (const auto& dv : o.devices) {
        const auto busy = static_cast<std::size_t>(std::count_if(
            running.begin(), running.end(), [&](const Running& r) { return r.device == dv; }));
        if (busy < least) least = busy, device = dv;
      }
      std::vector<TrialSpec> specs;
      for (std::size_t i : unit) {
        specs.push_back(plan[i].spec);
        specs.back().threads = o.threads;
        specs.back().device = device;
      }
      std::string name = specs.front().id(), spec_text;
      if (unit.size() == 1) {
        spec_text = to_json(specs.front()).dump(1) + "\n";
      } else {
        std::string ids;
        Json trials = Json::array();
        for (const auto& sp : specs) {
          ids += sp.id();
          trials.push_back(to_json(sp));
        }
        name = "pack-" + hash_hex(ids);
        spec_text = Json{{"schema", "mue.pack/1"}, {"trials", trials}}.dump(1) + "\n";
      }
      const std::string spec_file = trial_file(name, ".spec.json"),
                        result_file = trial_file(name, ".result.json");
      const std::string log_file = (dir / "logs" / (name + ".log")).string();
      write_file_atomic(spec_file, spec_text);
      fs::remove(result_file);
      std::vector<std::string> args{"-q", "trial", "--spec", spec_file, "--result", result_file};
      if (unit.size() > 1) args.push_back("--pack");
      running.push_back(
          Running{unit,
                  bp::child(o.exe, args, (bp::std_out & bp::std_err) > log_file,
                            bp::std_in < bp::null, env, bp::extend::on_exec_setup = setup),
                  std::chrono::steady_clock::now(), result_file, log_file, device});
      if (unit.size() > 1) // each trial's log is the pack's (a hard link)
        for (const auto& sp : specs) {
          const fs::path link = dir / "logs" / (sp.id() + ".log");
          fs::remove(link, ec);
          fs::create_hard_link(log_file, link, ec);
        }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    for (auto it = running.begin(); it != running.end() && !signals.received();) {
      const double wall = seconds_since(it->start);
      const double limit = o.timeout_s * static_cast<double>(it->indices.size());
      std::vector<TrialResult> results;
      if (it->child.running()) {
        if (wall <= limit) {
          ++it;
          continue;
        }
        it->child.terminate();
        it->child.wait();
        for (std::size_t i : it->indices)
          results.push_back(
              failure(plan[i].spec.id(), TrialStatus::kTimeout,
                      "killed after the trial timeout of " + Json(limit).dump() + " s" +
                          (it->indices.size() > 1 ? " (its pack's: per trial × pack size)" : ""),
                      *it));
      } else {
        results = outcome(*it);
      }
      for (std::size_t k = 0; k < results.size(); ++k) {
        TrialResult& r = results[k];
        if (!(r.wall_s > 0)) r.wall_s = wall;
        r.process_wall_s = wall;
        record(it->indices[k], r, wall, it->indices.size());
      }
      it = running.erase(it);
      draw();
    }
    if (o.live && seconds_since(last_draw) > 0.5) {
      draw();
      last_draw = std::chrono::steady_clock::now();
    }
  }
  if (o.live) std::fprintf(stderr, "\r\033[K");

  if (signals.received()) {
    summary.stop_signal = signals.received();
    // Stop the children: TERM, a grace period, then KILL. A child that still managed to
    // write its result is journaled; the others run again on resume.
    for (auto& run : running)
      ::kill(run.child.id(), SIGTERM);
    const auto t0 = std::chrono::steady_clock::now();
    for (auto& run : running)
      while (run.child.running() && seconds_since(t0) < 3)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    for (auto& run : running) {
      if (run.child.running()) run.child.terminate();
      run.child.wait();
      const int native = run.child.native_exit_code();
      if (!(WIFEXITED(native) && WEXITSTATUS(native) == 0)) continue;
      const double wall = seconds_since(run.start);
      for (std::size_t i : run.indices) {
        const std::string id = plan[i].spec.id();
        std::optional<TrialResult> r;
        if (run.indices.size() == 1)
          r = read_trial_result(run.result_path, id);
        else
          for (auto& pr : read_pack_results(run.result_path))
            if (pr.id == id) r = pr;
        if (!r) continue;
        r->process_wall_s = wall;
        record(i, *r, wall, run.indices.size());
      }
    }
    running.clear();
  }
  return summary;
}

} // namespace mue
