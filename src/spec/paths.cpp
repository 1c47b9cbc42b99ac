#include "spec/paths.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace mue {
namespace fs = std::filesystem;

std::string document_dir(const Where& where) {
  if (where.as_written || where.file.empty() || where.file[0] == '<') return "";
  return fs::absolute(fs::path(where.file)).parent_path().lexically_normal().string();
}

std::string anchor_path(const std::string& path, const Where& where) {
  if (path.empty() || fs::path(path).is_absolute()) return path;
  const std::string dir = document_dir(where);
  if (dir.empty()) return path;
  std::string out = (fs::path(dir) / path).lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') // "dir/." normalizes to "dir/"
    out.pop_back();
  return out;
}

namespace {
void check_readable(const std::string& path, const std::string& base_dir, const Where& w) {
  const std::string full = fs::path(path).is_absolute() || base_dir.empty()
                               ? path
                               : (fs::path(base_dir) / path).string();
  const int fd = ::open(full.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) w.fail("cannot open data file '" + full + "': " + std::strerror(errno));
  struct stat st {};
  const bool dir = ::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
  ::close(fd);
  if (dir) w.fail("cannot open data file '" + full + "': it is a directory");
}
} // namespace

void check_data_files(const TrainSpec& t, const Where& train, const std::string& base_dir) {
  if (t.data.kind == DataKind::kSynthetic) return;
  const Where d = train.at("data");
  check_readable(t.data.path, base_dir, d.at("path"));
  if (!t.data.val_path.empty()) check_readable(t.data.val_path, base_dir, d.at("val_path"));
}

} // namespace mue
