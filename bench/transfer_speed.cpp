// Benchmark: `muE transfer` on 10,000 generated targets, in process (no torch
// start-up): read + parse the targets file, transfer every target, write the
// report atomically. Median of repetitions; phases timed separately.
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <thread>

#include "bench_util.h"
#include "report/transfer_report.h"
#include "spec/validate.h"
#include "util/fs.h"
#include "util/runtime.h"
#include "util/version.h"

using namespace mue;
using mue::bench::cpu_model;
using mue::bench::median;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Varied valid targets: width, depth, batch, duration and every MoE shape.
Json generate_targets(int n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto pick = [&](std::initializer_list<int> xs) {
    return *(xs.begin() + std::uniform_int_distribution<std::size_t>(0, xs.size() - 1)(rng));
  };
  Json list = Json::array();
  for (int i = 0; i < n; ++i) {
    int d = 64 * pick({1, 2, 4, 8, 16});
    int g = pick({1, 1, 2, 4});
    int a = g * pick({1, 2, 4});
    int experts = a * pick({1, 2, 4, 8, 16});
    Json ffn = pick({0, 1, 1, 1}) == 0 ? Json{{"kind", "dense"}, {"d_ff", d * pick({1, 2, 4})}}
                                       : Json{{"kind", "moe"},
                                              {"n_experts", experts},
                                              {"active", a},
                                              {"d_expert", pick({16, 32, 64, 128})},
                                              {"shared", pick({0, 0, 1})},
                                              {"groups", g}};
    Json t{{"name", "t" + std::to_string(i)},
           {"model", {{"d_model", d}, {"n_layers", pick({2, 4, 8})}, {"ffn", ffn}}},
           {"train", {{"batch_size", 16 * pick({1, 2})}, {"steps", 200 * pick({1, 2, 4})}}}};
    list.push_back(t);
  }
  return Json{{"schema", kTargetsSchema}, {"targets", list}};
}

} // namespace

int main(int argc, char** argv) {
  tune_malloc(); // as muE's main does
  const std::string root = argc > 1 ? argv[1] : ".";
  const int n_targets = 10000, reps = 7;
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("mue-bench-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string targets_path = (dir / "targets.json").string();
  const std::string report_path = (dir / "transfer.json").string();
  write_file_atomic(targets_path, generate_targets(n_targets, 42).dump(1));
  const std::string ref_path = root + "/sweeps/tiny-reference.json";

  std::vector<double> total, parse, compute, write;
  std::size_t report_bytes = 0;
  for (int r = 0; r < reps; ++r) {
    auto t0 = Clock::now();
    LoadedReference ref = load_reference(ref_path);
    TargetsSpec targets =
        parse_targets_spec(read_spec(targets_path, SpecKind::kTargets), Where{targets_path, ""});
    double t_parse = seconds_since(t0);
    auto t1 = Clock::now();
    TransferOutput out = run_transfer(ref, targets, targets_path);
    double t_compute = seconds_since(t1);
    auto t2 = Clock::now();
    write_file_atomic(report_path, [&](std::ostream& os) { write_report(os, out); });
    double t_write = seconds_since(t2);
    total.push_back(seconds_since(t0));
    parse.push_back(t_parse);
    compute.push_back(t_compute);
    write.push_back(t_write);
    report_bytes = std::filesystem::file_size(report_path);
  }
  fs::remove_all(dir);
  utsname u{};
  ::uname(&u);
  Json result{
      {"bench", "transfer_speed"},
      {"what", "read+parse 10,000 targets, transfer each, write mue.transfer/1 atomically (fsync); "
               "one core (taskset), in process as muE runs it (malloc tuned as in main)"},
      {"machine",
       {{"cores", std::thread::hardware_concurrency()},
        {"cpu", cpu_model()},
        {"kernel", u.release},
        {"gpu", nullptr}}},
      {"versions",
       {{"muE", std::string(version()) + " (git " + git_hash() + ")"}, {"compiler", __VERSION__}}},
      {"targets", n_targets},
      {"repetitions", reps},
      {"median_s",
       {{"total", median(total)},
        {"read_parse", median(parse)},
        {"transfer", median(compute)},
        {"serialize_write_fsync", median(write)}}},
      {"all_total_s", total},
      {"report_bytes", report_bytes},
      {"goal_s", 0.5},
      {"meets_goal", median(total) < 0.5}};
  std::cout << result.dump() << "\n";
  write_file_atomic(root + "/bench/results/transfer_speed.json", result.dump(2) + "\n");
  return 0;
}
