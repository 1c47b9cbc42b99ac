// muE env: what this machine gives a training run (BLAS, threads, OpenMP policy, CUDA).
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>
#include <thread>

#include "cli/backend_runtime.h"
#include "cli/commands.h"
#include "runtime_info.h"
#include "util/json.h"
#include "util/runtime.h"
#include "util/version.h"

namespace mue::cli {
namespace {
// The BLAS and OpenMP libraries this process mapped (Debian's libtorch calls whichever
// libblas.so.3 alternative is selected: reference BLAS is ~5x slower than OpenBLAS).
std::vector<std::string> mapped_libraries(const std::vector<std::string>& needles) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  std::set<std::string> found;
  while (std::getline(maps, line)) {
    const auto slash = line.find('/');
    if (slash == std::string::npos) continue;
    const std::string path = line.substr(slash);
    for (const auto& n : needles)
      if (path.find(n) != std::string::npos) found.insert(path);
  }
  return {found.begin(), found.end()};
}
} // namespace

Command add_env(CLI::App& app, const GlobalOptions& g) {
  auto* sub = app.add_subcommand("env", kEnvAbout);
  sub->footer(
      "Shows: muE and torch versions, the BLAS and OpenMP libraries loaded, OMP_WAIT_POLICY\n"
      "  (muE sets PASSIVE before it loads torch when it is unset: spin-waiting\n"
      "  OpenMP threads cost ~3x on small VMs), torch's default thread count, cores, CUDA.\n"
      "With the global --json: one JSON object on stdout.");
  return {sub, [&g]() -> int {
            const auto info = torch_backend::runtime_info();
            std::string blas_real;
            {
              char buf[4096];
              const ssize_t n = ::readlink("/etc/alternatives/libblas.so.3-x86_64-linux-gnu", buf,
                                           sizeof buf - 1);
              if (n > 0) blas_real = std::string(buf, static_cast<std::size_t>(n));
            }
            const char* omp = std::getenv("OMP_WAIT_POLICY");
            const bool reexec = std::getenv(kOmpSetMarker) != nullptr;
            Json j{{"muE", std::string(version()) + " (git " + git_hash() + ")"},
                   {"torch", info.torch_version},
                   {"blas_alternative", blas_real.empty() ? Json(nullptr) : Json(blas_real)},
                   {"blas_loaded", mapped_libraries({"blas", "openblas"})},
                   {"openmp_loaded", mapped_libraries({"libgomp", "libomp", "libiomp"})},
                   {"omp_wait_policy", omp ? Json(omp) : Json(nullptr)},
                   {"omp_wait_policy_set_by_muE", reexec},
                   {"torch_threads_default", info.threads},
                   {"cores", std::thread::hardware_concurrency()},
                   {"cuda_available", info.cuda_available},
                   {"cuda_devices", info.cuda_devices},
                   {"cpu", cpu_model()},
                   {"parallel_info", info.parallel_info}};
            if (g.json) {
              std::cout << j.dump() << "\n";
              return 0;
            }
            std::cout << "muE          " << j["muE"].get<std::string>() << "\n"
                      << "torch        " << info.torch_version << "\n"
                      << "cpu          " << cpu_model() << ", "
                      << std::thread::hardware_concurrency() << " cores\n"
                      << "BLAS         "
                      << (blas_real.empty() ? "(no Debian alternative found)" : blas_real) << "\n";
            for (const auto& l : j["blas_loaded"])
              std::cout << "  loaded     " << l.get<std::string>() << "\n";
            std::cout << "OpenMP wait  " << (omp ? omp : "(unset: spin-waiting)")
                      << (reexec ? " (set by muE before torch loaded)" : "") << "\n"
                      << "threads      torch default " << info.threads
                      << "; muE sets one per trial unless --threads says otherwise\n"
                      << "CUDA         "
                      << (info.cuda_available
                              ? "available, " + std::to_string(info.cuda_devices) + " device(s)"
                              : std::string("not available"))
                      << "\n";
            return 0;
          }};
}
} // namespace mue::cli
