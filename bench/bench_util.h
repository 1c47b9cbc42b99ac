#pragma once
// Shared by the benchmarks: machine description and robust summaries.
#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

namespace mue::bench {

inline std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

// Median (upper median for even sizes); the benchmarks report medians, not means.
inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace mue::bench
