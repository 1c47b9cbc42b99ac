#include "util/run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>

#include "util/error.h"

namespace mue {
namespace fs = std::filesystem;

namespace {

std::string holder_of(int fd) {
  char buf[512] = {};
  const ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
  std::string s = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
    s.pop_back();
  return s.empty() ? "another muE process" : s;
}

std::string now_utc() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

} // namespace

std::string RunLock::file_in(const std::string& dir) {
  return (fs::path(dir) / ".muE.lock").string();
}

RunLock::RunLock(const std::string& dir, const std::string& command, bool wait, bool quiet) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
    throw UsageError(dir + " is a file, not a run directory; choose another --out");
  fs::create_directories(dir, ec);
  if (ec) throw UsageError("cannot create the run directory " + dir + ": " + ec.message());
  const std::string path = file_in(dir);
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw UsageError("cannot write in the run directory " + dir + ": " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err != EWOULDBLOCK) {
      ::close(fd_);
      throw RuntimeError("cannot lock " + path + ": " + std::strerror(err));
    }
    const std::string holder = holder_of(fd_);
    if (!wait) {
      ::close(fd_);
      throw UsageError(dir + " is in use by " + holder +
                       "; wait for it to end, or pass --wait-lock to wait here");
    }
    if (!quiet) std::cerr << "muE: waiting for " << dir << ", in use by " << holder << "\n";
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) {
        const int e = errno;
        ::close(fd_);
        throw RuntimeError("cannot lock " + path + ": " + std::strerror(e));
      }
    }
  }
  // Who holds it, for the message another process prints.
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  const std::string who = "muE pid " + std::to_string(::getpid()) + " on " + host + " since " +
                          now_utc() + " (" + command + ")\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, who.data(), who.size(), 0) < 0) {
    // The lock holds without the note; only the message of a second process is poorer.
  }
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_); // closing the last descriptor releases the flock
}

} // namespace mue
