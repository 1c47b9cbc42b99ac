#include "util/runtime.h"

#include <malloc.h>
#include <unistd.h>

#include <fstream>

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
