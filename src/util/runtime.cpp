#include "util/runtime.h"

#include <malloc.h>
#include <unistd.h>

#include <fstream>

#include "util/error.h"

namespace mue {
void tune_malloc() {
  mallopt(M_MMAP_THRESHOLD, 256 * 1024 * 1024);
  mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
}
} // namespace mue

namespace mue {
std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos)
      return line.substr(line.find(':') + 2);
  return "unknown";
}

std::string host_name() {
  char buf[256] = {};
  return ::gethostname(buf, sizeof buf - 1) == 0 ? std::string(buf) : "unknown";
}

std::string resolve_device(const std::string& requested, bool cuda_compiled, int cuda_devices,
                           const std::string& torch_version) {
  const bool gpu = cuda_compiled && cuda_devices > 0;
  if (requested == "auto") return gpu ? "cuda" : "cpu";
  if (requested == "cpu") return requested;
  if (requested == "cuda" || requested.rfind("cuda:", 0) == 0) {
    if (!cuda_compiled)
      throw UsageError("--device " + requested + ": this muE's torch " + torch_version +
                       " was built without CUDA; use --device cpu or auto");
    if (!gpu)
      throw UsageError("--device " + requested + ": no CUDA device (torch " + torch_version +
                       " has CUDA compiled in and sees 0 GPUs); use --device cpu or auto");
    if (requested.size() > 5) {
      const std::string index = requested.substr(5);
      if (index.empty() || index.size() > 6 ||
          index.find_first_not_of("0123456789") != std::string::npos)
        throw UsageError("--device " + requested + ": expected cuda:N with N a GPU index");
      if (std::stol(index) >= cuda_devices)
        throw UsageError("--device " + requested + ": only " + std::to_string(cuda_devices) +
                         " GPU(s) visible");
    }
    return requested;
  }
  throw UsageError("--device " + requested + ": expected auto, cpu, cuda or cuda:N");
}

namespace {
std::string& kept_command_line() {
  static std::string s;
  return s;
}
} // namespace

void keep_command_line(int argc, char** argv) {
  std::string s = "muE";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool plain = !a.empty() && a.find_first_of(" \t\n'\"\\$`;&|<>*?") == std::string::npos;
    std::string q;
    if (!plain) {
      q = "'";
      for (char c : a)
        q += c == '\'' ? std::string("'\\''") : std::string(1, c);
      q += "'";
    }
    s += " " + (plain ? a : q);
  }
  kept_command_line() = s;
}

const std::string& command_line() {
  return kept_command_line();
}
} // namespace mue
