#include "command/command.h"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/process.hpp>
#include <boost/process/extend.hpp>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <thread>

#include "transfer/transfer.h"
#include "util/error.h"
#include "util/fs.h"

namespace mue {
namespace fs = std::filesystem;
namespace bp = boost::process;

namespace {

std::string base_of(const TrialSpec& spec, const std::string& file) {
  if (!spec.base_dir.empty()) return spec.base_dir;
  if (file.empty() || file[0] == '<') return fs::current_path().string();
  return fs::absolute(fs::path(file)).parent_path().string();
}

std::string resolve_program(const std::string& program, const std::string& base_dir) {
  if (program.find('/') != std::string::npos) {
    const fs::path p =
        fs::path(program).is_absolute() ? fs::path(program) : fs::path(base_dir) / program;
    return ::access(p.c_str(), X_OK) == 0 ? p.lexically_normal().string() : "";
  }
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':'))
    if (!dir.empty() && ::access((fs::path(dir) / program).c_str(), X_OK) == 0)
      return (fs::path(dir) / program).string();
  return "";
}

std::string number(double v) {
  std::ostringstream o;
  o.precision(17);
  o << v;
  return o.str();
}

std::string substitute(std::string s, const std::map<std::string, std::string>& values) {
  for (const auto& [k, v] : values) {
    const std::string key = "{" + k + "}";
    for (std::size_t at = s.find(key); at != std::string::npos; at = s.find(key, at + v.size()))
      s.replace(at, key.size(), v);
  }
  return s;
}

TrialResult failure(const TrialSpec& spec, TrialStatus status, std::string why) {
  TrialResult r;
  r.id = spec.id();
  r.status = status;
  r.error = std::move(why);
  return r;
}

} // namespace

void check_command(const BackendSpec& b, const std::string& base_dir, const Where& where) {
  if (b.kind != BackendKind::kCommand) return;
  if (resolve_program(b.argv.front(), base_dir).empty())
    where.at("backend")
        .at("argv")
        .at(std::size_t{0})
        .fail("command '" + b.argv.front() + "' not found" +
              (b.argv.front().find('/') == std::string::npos
                   ? " on PATH"
                   : " (or not executable) in " + base_dir));
}

TrialResult run_command_trial(const TrialSpec& spec, const std::string& file,
                              const std::string& work_dir) {
  const BackendSpec& b = spec.config.backend;
  const std::string base = base_of(spec, file);
  const std::string program = resolve_program(b.argv.front(), base);
  if (program.empty())
    return failure(spec, TrialStatus::kFailed, "command '" + b.argv.front() + "' not found");
  fs::create_directories(work_dir);
  const std::string dir = fs::absolute(work_dir).lexically_normal().string();
  const std::string trial_json = dir + "/trial.json", result_json = dir + "/result.json";
  Json trial = to_json(spec);
  trial["table"] = to_json(table_for(spec.config, file));
  trial["result_json"] = result_json;
  trial["out_dir"] = dir;
  write_file_atomic(trial_json, trial.dump(1) + "\n");
  fs::remove(result_json);

  const RunConfig& c = spec.config;
  const std::map<std::string, std::string> values{{"trial_json", trial_json},
                                                  {"result_json", result_json},
                                                  {"trial_id", spec.id()},
                                                  {"out_dir", dir},
                                                  {"lr", number(c.hparams.lr)},
                                                  {"wd", number(c.hparams.wd)},
                                                  {"init_std", number(c.hparams.init_std)},
                                                  {"seed", std::to_string(c.train.seed)},
                                                  {"steps", std::to_string(c.train.steps)}};
  std::vector<std::string> args;
  for (std::size_t i = 1; i < b.argv.size(); ++i)
    args.push_back(substitute(b.argv[i], values));
  auto env = boost::this_process::environment();
  for (const auto& [k, v] : b.env)
    env[k] = substitute(v, values);
  const fs::path cwd = b.cwd.empty()                   ? fs::path(base)
                       : fs::path(b.cwd).is_absolute() ? fs::path(b.cwd)
                                                       : fs::path(base) / b.cwd;
  const auto start = std::chrono::steady_clock::now();
  const pid_t parent = ::getpid();
  int native = 0;
  bool timed_out = false;
  try {
    bp::child child(
        program, args, env, bp::start_dir(cwd.string()), bp::std_in < bp::null,
        bp::extend::on_exec_setup = [parent](auto&) {
          ::prctl(PR_SET_PDEATHSIG, SIGKILL); // dies with this trial process
          if (::getppid() != parent) ::_exit(127);
        });
    while (child.running()) {
      const double wall =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (b.timeout_s > 0 && wall > b.timeout_s) {
        child.terminate();
        timed_out = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    child.wait();
    native = child.native_exit_code();
  } catch (const std::exception& e) {
    return failure(spec, TrialStatus::kFailed, "cannot run '" + program + "': " + e.what());
  }
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  TrialResult r;
  if (timed_out) {
    r = failure(spec, TrialStatus::kTimeout,
                "the command ran past backend.timeout_s = " + number(b.timeout_s) +
                    " s and was killed");
  } else if (!WIFEXITED(native) || WEXITSTATUS(native) != 0) {
    r = failure(spec, TrialStatus::kFailed,
                WIFSIGNALED(native)
                    ? "the command died from signal " + std::to_string(WTERMSIG(native))
                    : "the command exited with status " + std::to_string(WEXITSTATUS(native)));
    r.exit_status = WIFEXITED(native) ? WEXITSTATUS(native) : 128 + WTERMSIG(native);
  } else if (!fs::exists(result_json)) {
    r = failure(spec, TrialStatus::kFailed,
                "the command exited 0 but wrote no result at " + result_json);
  } else {
    try {
      Json j = Json::parse(read_file(result_json));
      if (!j.is_object()) throw std::runtime_error("not a JSON object");
      if (!j.contains("id")) j["id"] = spec.id();
      r = parse_trial_result(j, Where{result_json, ""});
      if (r.id != spec.id())
        r = failure(spec, TrialStatus::kFailed,
                    "the result is for trial '" + r.id + "', not this one");
    } catch (const InputError& e) {
      r = failure(spec, TrialStatus::kFailed, std::string("invalid result: ") + e.what());
    } catch (const std::exception& e) {
      r = failure(spec, TrialStatus::kFailed,
                  "the result is not valid JSON: " + std::string(e.what()));
    }
  }
  if (!(r.wall_s > 0)) r.wall_s = wall;
  r.device = r.device.empty() ? "command" : r.device;
  return r;
}

} // namespace mue
