#include "sweep/slurm_runner.h"

#include <boost/process.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>
#include <thread>

#include "util/error.h"
#include "util/fs.h"
#include "util/hash.h"

namespace mue {
namespace fs = std::filesystem;
namespace bp = boost::process;

namespace {

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

std::string field(const std::string& text,
                  const std::string& key) { // "Key=value" in scontrol output
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

} // namespace

SlurmVerdict slurm_state_verdict(const std::string& state, const std::string& reason) {
  const std::string why = reason.empty() || reason == "None" ? "" : " (" + reason + ")";
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
            "Slurm no longer knows the task (cancelled before it started?) and it left no result; "
            "resubmitted on resume",
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

SlurmSummary run_slurm(const fs::path& dir, const std::string& job_name,
                       const std::vector<PlannedTrial>& plan,
                       std::map<std::string, TrialResult>& done, const SlurmOptions& o) {
  SlurmSummary out;
  const std::string journal = (dir / "trials.jsonl").string();
  for (const char* sub : {"specs", "results", "logs", "slurm"})
    fs::create_directories(dir / sub);
  std::map<std::string, std::size_t> index_of; // trial id -> plan index
  for (std::size_t i = 0; i < plan.size(); ++i)
    index_of[plan[i].spec.id()] = i;
  std::size_t total = plan.size(), finished = 0;
  auto finished_ok = [&](const std::string& id) { return done.count(id) && !done.at(id).retry; };
  for (const auto& t : plan)
    finished += finished_ok(t.spec.id());
  auto record = [&](TrialResult r) {
    append_line_durable(journal, to_json(r).dump());
    done[r.id] = r;
    ++finished;
    ++out.run.ran;
    if (r.status != TrialStatus::kOk) ++out.run.unusable;
    if (o.base.quiet) return;
    std::string what = to_string(r.status);
    if (r.objective)
      what += " " + std::to_string(*r.objective).substr(0, 6);
    else if (!r.error.empty())
      what += " (" + r.error + ")";
    std::fprintf(stderr, "[%zu/%zu] %s: %s\n", finished, total,
                 (o.base.describe ? o.base.describe(plan[index_of[r.id]]) : r.id).c_str(),
                 what.c_str());
  };
  // Results on disk that the journal lacks (a detached job, a killed sweep).
  auto collect = [&](const std::string& name) {
    const std::string path = (dir / "results" / (name + ".json")).string();
    std::vector<TrialResult> rs;
    if (name.rfind("pack-", 0) == 0)
      rs = read_pack_results(path);
    else if (index_of.count(name)) {
      if (auto r = read_trial_result(path, name)) rs.push_back(*r);
    }
    bool any = false;
    for (auto& r : rs)
      if (index_of.count(r.id) && !finished_ok(r.id)) {
        record(r);
        any = true;
      }
    return any || !rs.empty();
  };

  // A job from an earlier (detached or interrupted) run of this DIR: collect and, while it
  // is still in the queue, follow it instead of submitting again.
  const fs::path job_file = dir / "slurm" / "job.json";
  Json job;
  if (fs::exists(job_file)) job = Json::parse(read_file(job_file.string()));
  bool follow = false;
  if (!job.is_null()) {
    for (const auto& t : job["tasks"])
      collect(t["name"].get<std::string>());
    const std::string q =
        slurm("squeue", {"-h", "-j", job["job_id"].get<std::string>(), "-o", "%i"}, true);
    follow = q.find_first_not_of(" \n") != std::string::npos;
  }
  if (!follow) {
    std::vector<std::size_t> pending;
    for (std::size_t i = 0; i < plan.size(); ++i)
      if (!finished_ok(plan[i].spec.id())) pending.push_back(i);
    if (pending.empty()) return out;
    const auto units = make_units(plan, pending, o.base.fuse, o.base.pack_key);
    Json tasks = Json::array();
    std::string task_lines;
    double max_unit = 1;
    for (const auto& unit : units) {
      std::vector<TrialSpec> specs;
      std::string ids;
      Json trials = Json::array();
      for (std::size_t i : unit) {
        specs.push_back(plan[i].spec);
        specs.back().threads = o.base.threads;
        specs.back().device = o.base.devices.front();
        ids += specs.back().id();
        trials.push_back(to_json(specs.back()));
      }
      const bool pack = unit.size() > 1;
      const std::string name = pack ? "pack-" + hash_hex(ids) : specs.front().id();
      write_file_atomic(
          (dir / "specs" / (name + ".json")).string(),
          (pack ? Json{{"schema", "mue.pack/1"}, {"trials", trials}} : trials[0]).dump(1) + "\n");
      fs::remove(dir / "results" / (name + ".json"));
      Json idj = Json::array();
      for (const auto& sp : specs)
        idj.push_back(sp.id());
      tasks.push_back(Json{{"name", name}, {"ids", idj}, {"pack", pack}});
      task_lines += name + (pack ? " --pack" : "") + "\n";
      max_unit = std::max(max_unit, static_cast<double>(unit.size()));
    }
    const int n = static_cast<int>(units.size());
    const std::string stamp =
        std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
    const fs::path tasks_file = dir / "slurm" / ("tasks-" + stamp + ".txt");
    write_file_atomic(tasks_file.string(), task_lines);
    const long minutes =
        std::max(1L, static_cast<long>(std::ceil(o.base.timeout_s * max_unit / 60.0)));
    const std::string time = o.time.empty() ? std::to_string(minutes) : o.time;
    const std::string array =
        "0-" + std::to_string(n - 1) + "%" + std::to_string(std::max(1, o.base.jobs));
    const fs::path abs = fs::absolute(dir);
    std::ostringstream script;
    script << "#!/bin/bash\n"
           << sbatch_header(o, job_name, array, (abs / "logs" / "slurm-%A_%a.log").string(),
                            o.cpus > 0 ? o.cpus : o.base.threads, time)
           << "# Written by muE sweep: task i runs line i+1 of the tasks file.\n"
           << "set -eu\nline=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" '"
           << fs::absolute(tasks_file).string() << "')\n"
           << "set -- $line\nexport OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}\n"
           << "exec '" << o.base.exe << "' -q trial --spec '" << (abs / "specs").string()
           << "/'\"$1\".json --result '" << (abs / "results").string() << "/'\"$1\".json ${2:-} > '"
           << (abs / "logs").string() << "/'\"$1\".log 2>&1\n";
    const fs::path script_file = dir / "slurm" / ("array-" + stamp + ".sbatch");
    write_file_atomic(script_file.string(), script.str());
    std::string id = slurm("sbatch", {"--parsable", script_file.string()});
    id = id.substr(0, id.find_first_of(";\n"));
    job = Json{{"job_id", id}, {"script", script_file.string()}, {"tasks", tasks}};
    write_file_atomic(job_file.string(), job.dump(1) + "\n");
    if (!o.base.quiet)
      std::fprintf(stderr,
                   "muE: submitted Slurm array job %s: %d task(s), at most %d at once (%s)\n",
                   id.c_str(), n, std::max(1, o.base.jobs), script_file.c_str());
  }
  out.job_id = job["job_id"].get<std::string>();
  if (o.detach) {
    out.detached = true;
    return out;
  }

  // Poll: results folder first (cheap), then the queue, then scontrol for tasks that left it.
  const StopSignals signals;
  double wait = 1;
  std::map<std::size_t, int>
      gone_polls; // task index -> polls since it left the queue without a result
  std::set<std::size_t> settled;
  const std::size_t n = job["tasks"].size();
  while (settled.size() < n && !signals.received()) {
    bool progress = false;
    std::map<std::size_t, std::string> active;
    const std::string q = slurm("squeue", {"-h", "-r", "-j", out.job_id, "-o", "%K %T"}, true);
    std::istringstream qs(q);
    std::string k, st;
    while (qs >> k >> st)
      if (k.find_first_not_of("0123456789") == std::string::npos) active[std::stoul(k)] = st;
    for (std::size_t t = 0; t < n; ++t) {
      if (settled.count(t)) continue;
      const Json& task = job["tasks"][t];
      bool all_done = true;
      for (const auto& id : task["ids"])
        all_done = all_done && finished_ok(id.get<std::string>());
      if (all_done || collect(task["name"].get<std::string>())) {
        settled.insert(t);
        progress = true;
        continue;
      }
      if (active.count(t)) continue;
      // Left the queue without a result: give the shared file system one more poll.
      if (++gone_polls[t] < 2) continue;
      const std::string info =
          slurm("scontrol", {"show", "job", out.job_id + "_" + std::to_string(t)}, true);
      const SlurmVerdict v = slurm_state_verdict(field(info, "JobState"), field(info, "Reason"));
      settled.insert(t);
      progress = true;
      for (const auto& id : task["ids"]) {
        TrialResult r;
        r.id = id.get<std::string>();
        r.status = v.status;
        r.error = v.error;
        r.retry = v.resubmit; // journaled with its reason; the next run submits it again
        std::string log;
        try {
          log = read_file((dir / "logs" / (task["name"].get<std::string>() + ".log")).string());
        } catch (const Error&) {
        }
        r.log_tail = log.size() > 2000 ? log.substr(log.size() - 2000) : log;
        if (!finished_ok(r.id)) record(r);
      }
    }
    wait = progress ? 1 : std::min(10.0, wait * 1.5);
    for (double slept = 0; slept < wait && !signals.received(); slept += 0.1)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (signals.received()) {
    out.run.stop_signal = signals.received();
    slurm("scancel", {out.job_id}, true);
  }
  return out;
}

} // namespace mue
