#include "spec/paths.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
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
// The file's size in bytes after checking it opens and is not a directory.
std::uintmax_t check_readable(const std::string& path, const std::string& base_dir,
                              const Where& w) {
  const std::string full = fs::path(path).is_absolute() || base_dir.empty()
                               ? path
                               : (fs::path(base_dir) / path).string();
  const int fd = ::open(full.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) w.fail("cannot open data file '" + full + "': " + std::strerror(errno));
  struct stat st {};
  const bool dir = ::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
  ::close(fd);
  if (dir) w.fail("cannot open data file '" + full + "': it is a directory");
  return static_cast<std::uintmax_t>(st.st_size);
}

// A split of `tokens` tokens must hold one training window: seq_len + 2 tokens (the
// backend's own check, made before any trial starts).
void check_split(std::uintmax_t tokens, int seq_len, const char* what, const Where& w) {
  if (seq_len > 0 && tokens < static_cast<std::uintmax_t>(seq_len) + 2)
    w.fail("the " + std::string(what) + " split of this data file has " + std::to_string(tokens) +
           " tokens, fewer than seq_len + 2 = " + std::to_string(seq_len + 2));
}
} // namespace

void check_data_files(const TrainSpec& t, const Where& train, const std::string& base_dir,
                      int seq_len) {
  if (t.data.kind == DataKind::kSynthetic) return;
  const Where d = train.at("data");
  const std::uintmax_t width = t.data.kind == DataKind::kText ? 1 : 2; // bytes per token
  const std::uintmax_t n = check_readable(t.data.path, base_dir, d.at("path")) / width;
  if (!t.data.val_path.empty()) {
    check_split(n, seq_len, "training", d.at("path"));
    const std::uintmax_t nv = check_readable(t.data.val_path, base_dir, d.at("val_path")) / width;
    check_split(nv, seq_len, "validation", d.at("val_path"));
  } else { // the same split as the backend: the tail val_fraction is held out
    const auto split =
        static_cast<std::uintmax_t>(static_cast<double>(n) * (1 - t.data.val_fraction));
    check_split(split, seq_len, "training", d.at("path"));
    check_split(n - split, seq_len, "validation", d.at("path"));
  }
}

} // namespace mue
