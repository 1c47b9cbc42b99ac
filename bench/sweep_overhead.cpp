// bench/sweep_overhead: how much of a sweep's time is not training. Runs `muE sweep` on
// the tiny spec (one trial at a time, so nothing overlaps) with cold and with warm workers
// and splits its wall time into the trials' training loops, the rest of each trial process
// (spawn or fork, libtorch load when cold, model and data setup, spec/result I/O), and the
// launcher itself (journal fsync, polling, fit, plot, its own start); and times the start
// of `muE --version` (loads libtorch), `muE validate` and `muE transfer` (they do not). Usage:
// bench_sweep_overhead [REPO_ROOT] [MUE_BIN] [SPEC]
#include <unistd.h>

#include <boost/process.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include "bench_util.h"
#include "sweep/journal.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/version.h"

namespace bp = boost::process;
namespace fs = std::filesystem;
using namespace mue;

namespace {
double run_timed(const std::vector<std::string>& args) {
  const auto t0 = std::chrono::steady_clock::now();
  const int rc = bp::system(args, bp::std_out > bp::null, bp::std_err > bp::null);
  if (rc != 0) throw std::runtime_error("command failed: " + args[0] + " " + args[1]);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
} // namespace

int main(int argc, char** argv) {
  const std::string root = argc > 1 ? argv[1] : ".";
  const std::string mue = argc > 2 ? argv[2] : root + "/build/muE";
  const std::string spec = argc > 3 ? argv[3] : root + "/sweeps/tiny-cpu.json";
  const fs::path dir =
      fs::temp_directory_path() / ("mue-bench-overhead-" + std::to_string(::getpid()));

  // Start-up: `muE --version` loads the trainer library (libtorch); `validate` and
  // `transfer` run in the torch-free front end. Medians of 5.
  auto median_of = [&](const std::vector<std::string>& args) {
    std::vector<double> t;
    for (int i = 0; i < 5; ++i)
      t.push_back(run_timed(args));
    return bench::median(t);
  };
  const std::string ref = root + "/tests/fixtures/verify/reference.json";
  const std::string targets = root + "/tests/fixtures/verify/targets.json";
  const Json startup{
      {"version_with_torch_s", median_of({mue, "--version"})},
      {"validate_s", median_of({mue, "validate", spec})},
      {"transfer_s",
       median_of({mue, "-q", "transfer", "--reference", ref, "--targets", targets, "--out",
                  (fs::temp_directory_path() / "mue-bench-t.json").string()})},
      {"goal_s", 0.05}};

  // The same sweep with cold workers (exec + load libtorch per trial) and warm ones (a
  // server forks each trial), alternating, two rounds each.
  Json modes = Json::object();
  for (int round = 0; round < 2; ++round)
    for (const std::string workers : {"cold", "warm"}) {
      const double total = run_timed({mue, "--threads", "1", "sweep", spec, "--out", dir.string(),
                                      "--jobs", "1", "--fuse", "off", "--workers", workers});
      const auto done = Journal::existing(dir).read();
      double train = 0, process = 0;
      for (const auto& [id, r] : done) {
        train += r.wall_s;
        process += r.process_wall_s;
      }
      const double n = static_cast<double>(done.size());
      fs::remove_all(dir);
      const double outside = total - train;
      Json m{{"trials", done.size()},
             {"sweep_wall_s", total},
             {"per_trial_s",
              {{"training", train / n},
               {"in_process_outside_training", (process - train) / n},
               {"launcher", (total - process) / n},
               {"overhead_total", outside / n}}},
             {"overhead_fraction", outside / total}};
      // Keep the round with less overhead (the other one saw more noise from this VM).
      if (!modes.contains(workers) ||
          modes[workers]["overhead_fraction"].get<double>() > outside / total)
        modes[workers] = m;
    }
  Json result{
      {"bench", "sweep_overhead"},
      {"what", "muE sweep " + fs::path(spec).filename().string() +
                   " with --jobs 1 --threads 1 --fuse off, --workers cold vs warm (best of 2 "
                   "alternating rounds each): wall time not spent in training loops, per trial; "
                   "start-up of commands with and without libtorch"},
      {"machine",
       {{"cores", std::thread::hardware_concurrency()},
        {"cpu", bench::cpu_model()},
        {"gpu", nullptr}}},
      {"versions", {{"muE", std::string(version()) + " (git " + git_hash() + ")"}}},
      {"startup_median_s", startup},
      {"workers", modes},
      {"goal_overhead_fraction", 0.02}};
  std::cout << result.dump() << "\n";
  write_file_atomic(root + "/bench/results/sweep_overhead.json", result.dump(2) + "\n");
  return 0;
}
