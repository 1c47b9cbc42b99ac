#pragma once
// Shared by the benchmarks: machine description and robust summaries.
#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "util/runtime.h"

namespace mue::bench {

using mue::cpu_model; // src/util/runtime.h

// Median (upper median for even sizes); the benchmarks report medians, not means.
inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

} // namespace mue::bench
