// The Slurm launcher: the pending units become ONE sbatch array job whose task i runs the
// worker on unit i (worker_args). The parent polls the units' result files, squeue and
// scontrol (no sacct: a Slurm without slurmdbd has none), journals each result as it
// appears, maps Slurm states to trial statuses, and on Ctrl-C cancels its job. DIR must be
// on a file system the submit host and the nodes share.
#include "sweep/slurm_launcher.h"

#include <boost/process.hpp>
#include <chrono>
#include <cmath>
#include <cstring>
#include <set>
#include <sstream>
#include <thread>

#include "sweep/launcher.h"
#include "util/error.h"
#include "util/fs.h"

namespace mue {
namespace {
namespace fs = std::filesystem;
namespace bp = boost::process;

// Runs a Slurm client command; its stdout, or throws RuntimeError with stderr.
std::string slurm(const std::string& program, const std::vector<std::string>& args,
                  bool allow_fail = false) {
  const auto path = bp::search_path(program);
  if (path.empty())
    throw RuntimeError("--launcher slurm: '" + program + "' is not on PATH (is Slurm installed?)");
  bp::ipstream out, err;
  bp::child c(path, args, bp::std_out > out, bp::std_err > err, bp::std_in < bp::null);
  std::string o((std::istreambuf_iterator<char>(out)), std::istreambuf_iterator<char>());
  std::string e((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
  c.wait();
  if (c.exit_code() != 0 && !allow_fail)
    throw RuntimeError(program + " failed (exit " + std::to_string(c.exit_code()) + "): " + e);
  return o;
}

std::string field(const std::string& text, const std::string& key) { // "Key=value" (scontrol)
  const auto at = text.find(key + "=");
  if (at == std::string::npos) return "";
  const auto start = at + key.size() + 1;
  return text.substr(start, text.find_first_of(" \n", start) - start);
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (auto at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

// Single-quoted for bash.
std::string quoted(const std::string& s) {
  return "'" + replace_all(s, "'", "'\\''") + "'";
}

class SlurmLauncher : public Launcher {
public:
  LaunchResult run(Batch& b) override {
    const fs::path job_file = b.journal.slurm_dir() / "job.json";
    Json job;
    if (fs::exists(job_file)) job = Json::parse(read_file(job_file.string()));
    // A job of an earlier (detached or interrupted) run of this DIR still in the queue is
    // followed instead of submitting again.
    bool follow = false;
    if (!job.is_null()) {
      const std::string q =
          slurm("squeue", {"-h", "-j", job["job_id"].get<std::string>(), "-o", "%i"}, true);
      follow = q.find_first_not_of(" \n") != std::string::npos;
    }
    if (!follow) {
      job = submit(b);
      write_file_atomic(job_file.string(), job.dump(1) + "\n");
    }
    LaunchResult out;
    out.job_id = job["job_id"].get<std::string>();
    if (b.options.slurm.detach) {
      out.detached = true;
      return out;
    }
    out.stop_signal = poll(b, job);
    // A stop signal, or a systematic failure (the first trials all failed alike before
    // training): the tasks not yet settled are cancelled.
    if (out.stop_signal || !b.recorder.systematic_failure().empty())
      slurm("scancel", {out.job_id}, true);
    return out;
  }

private:
  // Writes the units and the array script, submits it; the job record (id, tasks).
  static Json submit(Batch& b) {
    const RunOptions& o = b.options;
    const fs::path slurm_dir = b.journal.slurm_dir();
    Json tasks = Json::array();
    std::string task_lines;
    double max_unit = 1;
    for (std::size_t u = 0; u < b.units.size(); ++u) {
      const Unit unit = b.unit(u, b.layout.devices.front());
      const Journal::UnitFiles f = b.journal.write_unit(unit);
      Json ids = Json::array();
      for (const auto& t : unit.trials)
        ids.push_back(t.id());
      tasks.push_back(Json{{"name", unit.name}, {"ids", ids}, {"pack", unit.pack()}});
      // One line per task: the worker's arguments after the executable, quoted, and its log.
      std::string line;
      for (const auto& a :
           worker_args(fs::absolute(f.spec).string(), fs::absolute(f.result).string(), unit.pack()))
        line += quoted(a) + " ";
      task_lines += line + "> " + quoted(fs::absolute(f.log).string()) + " 2>&1\n";
      max_unit = std::max(max_unit, static_cast<double>(unit.trials.size()));
    }
    const int n = static_cast<int>(b.units.size());
    const std::string stamp =
        std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
    const fs::path tasks_file = slurm_dir / ("tasks-" + stamp + ".txt");
    write_file_atomic(tasks_file.string(), task_lines);
    const long minutes = std::max(1L, static_cast<long>(std::ceil(o.timeout_s * max_unit / 60.0)));
    const std::string time = o.slurm.time.empty() ? std::to_string(minutes) : o.slurm.time;
    const std::string array =
        "0-" + std::to_string(n - 1) + "%" + std::to_string(std::max(1, b.layout.jobs));
    const std::string exe = o.slurm.exe.empty() ? o.exe : o.slurm.exe;
    std::ostringstream script;
    script << "#!/bin/bash\n"
           << sbatch_header(o.slurm, o.job_name, array,
                            (fs::absolute(b.journal.logs_dir()) / "slurm-%A_%a.log").string(),
                            o.slurm.cpus > 0 ? o.slurm.cpus : b.layout.threads, time)
           << "# Written by muE: task i runs the worker of line i+1 of the tasks file.\n"
           << "set -eu\nline=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" "
           << quoted(fs::absolute(tasks_file).string()) << ")\n"
           << "export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}\n"
           << "eval \"exec " << quoted(exe) << " $line\"\n";
    const fs::path script_file = slurm_dir / ("array-" + stamp + ".sbatch");
    write_file_atomic(script_file.string(), script.str());
    std::string id = slurm("sbatch", {"--parsable", script_file.string()});
    id = id.substr(0, id.find_first_of(";\n"));
    if (!o.quiet)
      std::fprintf(stderr,
                   "muE: submitted Slurm array job %s: %d task(s), at most %d at once (%s)\n",
                   id.c_str(), n, std::max(1, b.layout.jobs), script_file.c_str());
    return Json{{"job_id", id}, {"script", script_file.string()}, {"tasks", tasks}};
  }

  // Results folder first (cheap), then the queue, then scontrol for tasks that left it.
  // Returns the stop signal that ended the poll early, or 0.
  static int poll(Batch& b, const Json& job) {
    const StopSignals signals;
    const std::string job_id = job["job_id"].get<std::string>();
    double wait = 1;
    std::map<std::size_t, int> gone_polls; // task -> polls since it left the queue, no result
    std::set<std::size_t> settled;
    const std::size_t n = job["tasks"].size();
    while (settled.size() < n && !signals.received() && b.recorder.systematic_failure().empty()) {
      bool progress = false;
      std::map<std::size_t, std::string> active;
      const std::string q = slurm("squeue", {"-h", "-r", "-j", job_id, "-o", "%K %T"}, true);
      std::istringstream qs(q);
      std::string k, st;
      while (qs >> k >> st)
        if (k.find_first_not_of("0123456789") == std::string::npos) active[std::stoul(k)] = st;
      for (std::size_t t = 0; t < n; ++t) {
        if (settled.count(t)) continue;
        const Json& task = job["tasks"][t];
        const std::string name = task["name"].get<std::string>();
        if (collect(b, task) || all_finished(b, task)) {
          settled.insert(t);
          progress = true;
          continue;
        }
        if (active.count(t)) continue;
        // Left the queue without a result: give the shared file system one more poll.
        if (++gone_polls[t] < 2) continue;
        const std::string info =
            slurm("scontrol", {"show", "job", job_id + "_" + std::to_string(t)}, true);
        const SlurmVerdict v = slurm_state_verdict(field(info, "JobState"), field(info, "Reason"),
                                                   field(info, "ExitCode"));
        settled.insert(t);
        progress = true;
        for (const auto& id : task["ids"]) {
          if (b.recorder.finished(id.get<std::string>())) continue;
          TrialResult r = failure_result(id.get<std::string>(), v.status, v.error,
                                         b.journal.unit_files(name).log);
          r.retry = v.resubmit; // journaled with its reason; the next run submits it again
          b.recorder.record(r, -1, task["ids"].size());
        }
      }
      wait = progress ? 1 : std::min(10.0, wait * 1.5);
      for (double slept = 0; slept < wait && !signals.received(); slept += 0.1)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return signals.received();
  }

  static bool all_finished(const Batch& b, const Json& task) {
    for (const auto& id : task["ids"])
      if (!b.recorder.finished(id.get<std::string>())) return false;
    return true;
  }

  // Journals the task's results once its result file is there; true when it was.
  static bool collect(Batch& b, const Json& task) {
    const std::string name = task["name"].get<std::string>();
    const std::string path = b.journal.unit_files(name).result;
    std::vector<TrialResult> results;
    if (task["pack"].get<bool>())
      results = read_pack_results(path);
    else if (auto r = read_trial_result(path, name))
      results.push_back(*r);
    for (const auto& r : results)
      if (!b.recorder.finished(r.id)) b.recorder.record(r, -1, results.size());
    return !results.empty();
  }
};

} // namespace

SlurmVerdict slurm_state_verdict(const std::string& state, const std::string& reason,
                                 const std::string& exit_code) {
  std::string why = reason.empty() || reason == "None" ? "" : " (" + reason + ")";
  // "STATUS:SIGNAL": name what ended the task's process, as the local launcher does.
  int status = 0, sig = 0;
  char colon = 0;
  std::istringstream ec(exit_code);
  if (state == "FAILED" && (ec >> status >> colon >> sig) && colon == ':') {
    if (sig > 0)
      why += ": the trial process died from signal " + std::to_string(sig) + " (" +
             ::strsignal(sig) + ")";
    else if (status > 0)
      why += ": the trial process exited with status " + std::to_string(status);
  }
  if (state == "TIMEOUT" || state == "DEADLINE")
    return {TrialStatus::kTimeout, "Slurm: " + state + why, false};
  if (state == "OUT_OF_MEMORY") return {TrialStatus::kFailed, "Slurm: OUT_OF_MEMORY" + why, false};
  if (state == "NODE_FAIL" || state == "BOOT_FAIL" || state == "PREEMPTED" || state == "REQUEUED")
    return {TrialStatus::kFailed, "Slurm: " + state + why + "; resubmitted on resume", true};
  if (state == "CANCELLED")
    return {TrialStatus::kFailed, "Slurm: CANCELLED" + why + "; resubmitted on resume", true};
  if (state == "COMPLETED")
    return {TrialStatus::kFailed, "Slurm: COMPLETED but the task wrote no result", false};
  // A pending task cancelled before it started leaves no record (and without accounting
  // there is no history): nothing is known about the trial, so it runs again on resume.
  if (state.empty())
    return {TrialStatus::kFailed,
            "Slurm no longer knows the task (cancelled before it started?) and it left no "
            "result; resubmitted on resume",
            true};
  return {TrialStatus::kFailed, "Slurm: " + state + why, false};
}

std::string sbatch_header(const SlurmOptions& o, const std::string& job_name,
                          const std::string& array, const std::string& log, int cpus,
                          const std::string& time) {
  if (!o.template_file.empty()) {
    std::string t = read_file(o.template_file);
    for (const auto& [k, v] : std::map<std::string, std::string>{{"{job_name}", job_name},
                                                                 {"{array}", array},
                                                                 {"{log}", log},
                                                                 {"{cpus}", std::to_string(cpus)},
                                                                 {"{time}", time}})
      t = replace_all(t, k, v);
    return t + (t.empty() || t.back() == '\n' ? "" : "\n");
  }
  std::ostringstream h;
  h << "#SBATCH --job-name=" << job_name << "\n#SBATCH --array=" << array
    << "\n#SBATCH --output=" << log << "\n#SBATCH --cpus-per-task=" << cpus
    << "\n#SBATCH --time=" << time << "\n";
  if (!o.partition.empty()) h << "#SBATCH --partition=" << o.partition << "\n";
  if (!o.gres.empty()) h << "#SBATCH --gres=" << o.gres << "\n";
  if (!o.mem.empty()) h << "#SBATCH --mem=" << o.mem << "\n";
  for (const auto& e : o.extra)
    h << "#SBATCH " << e << "\n";
  return h.str();
}

void require_slurm_clients() {
  for (const char* p : {"sbatch", "squeue", "scontrol", "scancel"})
    if (bp::search_path(p).empty())
      throw UsageError(std::string("--launcher slurm: '") + p +
                       "' is not on PATH. Install Slurm's clients (Debian: apt-get install "
                       "slurm-wlm, or scripts/install-deps), point SLURM_CONF at your cluster or "
                       "start a local one with scripts/local-slurm start, or use --launcher local");
}

std::unique_ptr<Launcher> make_slurm_launcher() {
  return std::make_unique<SlurmLauncher>();
}

} // namespace mue
