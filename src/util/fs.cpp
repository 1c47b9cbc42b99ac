#include "util/fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "util/error.h"

namespace mue {
namespace {

std::string errno_text(const std::string& what, const std::string& path) {
  return what + " '" + path + "': " + std::strerror(errno);
}

// MUE_WRITE_FAULT (tests only, README "Guarantees"): "SUBSTRING[@N],...": from the N-th
// write (default the first) of this process to a path containing SUBSTRING on, the write
// fails as on a full disk (ENOSPC).
bool write_fault(const std::string& path) {
  static const char* env = std::getenv("MUE_WRITE_FAULT");
  if (!env || !*env) return false;
  static std::map<std::string, long> seen;
  std::stringstream items(env);
  std::string item;
  while (std::getline(items, item, ',')) {
    const auto at = item.rfind('@');
    const std::string sub = item.substr(0, at);
    const long from = at == std::string::npos ? 1 : std::atol(item.c_str() + at + 1);
    if (sub.empty() || path.find(sub) == std::string::npos) continue;
    if (++seen[item] >= from) {
      errno = ENOSPC;
      return true;
    }
  }
  return false;
}

void fsync_path(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) throw RuntimeError(errno_text("cannot open for fsync", path));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw RuntimeError(errno_text("fsync failed on", path));
}

} // namespace

void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& writer) {
  namespace fs = std::filesystem;
  fs::path target(path);
  fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  // mkstemp gives a unique name, so two writers never share a temp file.
  std::string tmpl = (dir / ("." + target.filename().string() + ".tmp.XXXXXX")).string();
  int fd = ::mkstemp(tmpl.data());
  if (fd < 0) throw RuntimeError(errno_text("cannot create a temporary file beside", path));
  ::close(fd);
  const std::string tmp = tmpl;
  try {
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      if (!out) throw RuntimeError(errno_text("cannot write", path));
      writer(out);
      out.flush();
      if (!out || write_fault(path)) throw RuntimeError(errno_text("cannot write", path));
    }
    ::chmod(tmp.c_str(), 0644);
    fsync_path(tmp, O_RDONLY);
    if (::rename(tmp.c_str(), path.c_str()) != 0)
      throw RuntimeError(errno_text("cannot rename temporary file onto", path));
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  fsync_path(dir.string(), O_RDONLY | O_DIRECTORY);
}

void write_file_atomic(const std::string& path, const std::string& content) {
  write_file_atomic(path, [&](std::ostream& out) { out << content; });
}

void append_line_durable(const std::string& path, const std::string& line) {
  if (line.find('\n') != std::string::npos)
    throw RuntimeError("journal line for '" + path + "' contains a newline");
  std::string record = line + "\n";
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw RuntimeError(errno_text("cannot open journal", path));
  const char* p = record.data();
  size_t left = record.size();
  while (left > 0) {
    ssize_t n = write_fault(path) ? -1 : ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      int saved = errno;
      ::close(fd);
      errno = saved;
      throw RuntimeError(errno_text("cannot append to journal", path));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw RuntimeError(errno_text("fsync failed on journal", path));
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw RuntimeError(errno_text("cannot read", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw RuntimeError(errno_text("read failed for", path));
  return ss.str();
}

} // namespace mue
