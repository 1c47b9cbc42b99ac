#include "cli/trial_server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "cli/app.h"
#include "util/json.h"

namespace mue::cli {
namespace {

// One line to stdout in one write (the launcher reads whole lines).
void reply(const Json& j) {
  const std::string line = j.dump() + "\n";
  std::size_t off = 0;
  while (off < line.size()) {
    const ssize_t n = ::write(STDOUT_FILENO, line.data() + off, line.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return; // the launcher is gone; EOF on stdin ends us next
    off += static_cast<std::size_t>(n);
  }
}

// In the forked child: become the trial process `muE ARGS...` with its log, then exit.
[[noreturn]] void run_child(pid_t server, const std::string& log, std::vector<std::string> args) {
  ::setpgid(0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != server) ::_exit(127); // the server died before prctl took effect
  std::signal(SIGPIPE, SIG_DFL);
  std::signal(SIGCHLD, SIG_DFL);
  const int in = ::open("/dev/null", O_RDONLY);
  const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (in < 0 || out < 0) ::_exit(126);
  ::dup2(in, STDIN_FILENO);
  ::dup2(out, STDOUT_FILENO);
  ::dup2(out, STDERR_FILENO);
  ::close(in);
  ::close(out);
  args.insert(args.begin(), "muE");
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  const int rc = run_cli_guarded(static_cast<int>(args.size()), argv.data());
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  ::_exit(rc);
}

} // namespace

int serve_trials() {
  std::signal(SIGPIPE, SIG_IGN);
  const pid_t self = ::getpid();
  std::set<pid_t> children;
  std::string buf;
  bool open = true;
  while (open || !children.empty()) {
    if (open) {
      pollfd p{STDIN_FILENO, POLLIN, 0};
      if (::poll(&p, 1, 20) > 0) {
        char chunk[65536];
        const ssize_t n = ::read(STDIN_FILENO, chunk, sizeof chunk);
        if (n > 0) {
          buf.append(chunk, static_cast<std::size_t>(n));
        } else if (n == 0 || errno != EINTR) {
          open = false; // the launcher is done (or gone): stop every trial still running
          for (pid_t c : children)
            ::kill(c, SIGKILL);
        }
      }
      for (std::size_t nl; (nl = buf.find('\n')) != std::string::npos;) {
        const std::string line = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        Json req;
        std::vector<std::string> args;
        std::string log;
        try {
          req = Json::parse(line);
          log = req.at("log").get<std::string>();
          args = req.at("args").get<std::vector<std::string>>();
        } catch (const std::exception& e) {
          reply(Json{{"error", std::string("bad request: ") + e.what()}});
          continue;
        }
        const pid_t pid = ::fork();
        if (pid == 0) run_child(self, log, std::move(args));
        if (pid < 0) {
          reply(Json{{"error", std::string("fork failed: ") + std::strerror(errno)}});
          continue;
        }
        children.insert(pid);
        reply(Json{{"started", pid}});
      }
    } else {
      ::usleep(5000);
    }
    int status = 0;
    for (pid_t pid; (pid = ::waitpid(-1, &status, WNOHANG)) > 0;) {
      children.erase(pid);
      reply(Json{{"pid", pid}, {"status", status}});
    }
  }
  return 0;
}

} // namespace mue::cli
