#include "cli/sweep_common.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>

#include "runtime_info.h"
#include "sweep/report.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/runtime.h"
#include "util/version.h"

namespace mue::cli {
namespace fs = std::filesystem;

std::string self_exe() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) throw RuntimeError("cannot find the muE executable (/proc/self/exe)");
  return std::string(buf, static_cast<std::size_t>(n));
}

Layout choose_layout(const GlobalOptions& g, int jobs, std::size_t pending) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  Layout l;
  l.jobs = jobs > 0 ? jobs : std::max(1, std::min<int>(cores, static_cast<int>(std::max<std::size_t>(1, pending))));
  l.threads = g.threads > 0 ? g.threads : std::max(1, cores / l.jobs);
  return l;
}

Json sweep_environment(const std::string& device, const Layout& layout) {
  const auto info = torch_backend::runtime_info();
  const char* omp = std::getenv("OMP_WAIT_POLICY");
  return Json{{"muE", std::string(version()) + " (git " + git_hash() + ")"},
              {"torch", info.torch_version},
              {"cuda_available", info.cuda_available},
              {"device", device},
              {"host", host_name()},
              {"cpu", cpu_model()},
              {"cores", std::thread::hardware_concurrency()},
              {"jobs", layout.jobs},
              {"threads_per_trial", layout.threads},
              {"omp_wait_policy", omp ? omp : "PASSIVE (set for the trial processes)"}};
}

int write_sweep_outputs(const SweepSpec& s, const std::string& spec_file, const std::vector<PlannedTrial>& plan,
                        const std::map<std::string, TrialResult>& done, const Json& environment,
                        const std::string& dir, const GlobalOptions& g) {
  const SweepReport rep = build_sweep_report(s, spec_file, plan, done, environment);
  const FitResult& f = rep.fit;
  const std::string report_path = (fs::path(dir) / "sweep.json").string();
  write_file_atomic(report_path, rep.json.dump(1) + "\n");
  std::string x_key = s.axes.front().key;
  for (const auto& ax : s.axes)
    if (ax.key == "lr") x_key = "lr";
  std::string safe;
  for (char c : x_key) safe += std::isalnum(static_cast<unsigned char>(c)) || c == '_' ? c : '_';
  fs::create_directories(fs::path(dir) / "plots");
  const std::string plot_path = (fs::path(dir) / "plots" / ("loss_vs_" + safe + ".svg")).string();
  const bool plotted = plot_sweep(s, plan, done, f, plot_path);
  for (std::size_t ax = 0; ax < s.axes.size(); ++ax)
    if (f.axes[ax].at_edge && !g.quiet) std::cerr << "muE: warning: " << f.axes[ax].edge_message << "\n";
  if (!g.quiet) {
    std::printf("optimum (%s, R² %.3f, %zu of %zu trials usable):", f.method.c_str(), f.r2,
                rep.json["counts"]["ok"].get<std::size_t>(), plan.size());
    for (std::size_t ax = 0; ax < s.axes.size(); ++ax)
      std::printf(" %s = %.4g [95%% CI %.4g, %.4g]%s", s.axes[ax].key.c_str(), f.axes[ax].value, f.axes[ax].ci_low,
                  f.axes[ax].ci_high, f.axes[ax].at_edge ? " (at edge)" : "");
    std::printf("\nwrote %s\n", report_path.c_str());
    if (plotted) std::printf("wrote %s\n", plot_path.c_str());
    else std::printf("no plot (gnuplot not found: apt-get install gnuplot-nox)\n");
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace mue::cli
