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
// The BLAS and OpenMP libraries this process mapped (paths containing one of `needles`).
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
      "Shows: muE and torch versions, torch's BLAS and the BLAS and OpenMP libraries loaded,\n"
      "  OMP_WAIT_POLICY (when unset, muE sets PASSIVE before it loads torch here and in a\n"
      "  trial run by hand; train and coord-check keep libgomp's default; a sweep sets its\n"
      "  workers' from the layout), torch's default thread count, cores, CUDA (compiled in,\n"
      "  devices seen).\n"
      "With the global --json: one JSON object on stdout.");
  return {sub, [&g]() -> int {
            const auto info = torch_backend::runtime_info();
            const BackendRuntime rt{info.torch_version, info.cuda_compiled, info.cuda_devices};
            // Debian's libtorch calls whichever libblas.so.3 alternative is selected; the
            // PyPI wheel carries its own BLAS (MKL on x86), so the alternative is only news
            // when a libblas.so.3 is mapped.
            std::string blas_real;
            {
              char buf[4096];
              const ssize_t n = ::readlink("/etc/alternatives/libblas.so.3-x86_64-linux-gnu", buf,
                                           sizeof buf - 1);
              if (n > 0) blas_real = std::string(buf, static_cast<std::size_t>(n));
            }
            const auto blas_loaded = mapped_libraries({"libblas", "libopenblas", "libmkl"});
            const bool uses_alternative = !blas_loaded.empty() && !blas_real.empty();
            const char* omp = std::getenv("OMP_WAIT_POLICY");
            const bool reexec = std::getenv(kOmpSetMarker) != nullptr;
            Json j{{"muE", std::string(version()) + " (git " + git_hash() + ")"},
                   {"torch", info.torch_version},
                   {"torch_blas", info.blas.empty() ? Json(nullptr) : Json(info.blas)},
                   {"blas_alternative", uses_alternative ? Json(blas_real) : Json(nullptr)},
                   {"blas_loaded", blas_loaded},
                   {"openmp_loaded", mapped_libraries({"libgomp", "libomp", "libiomp"})},
                   {"omp_wait_policy", omp ? Json(omp) : Json(nullptr)},
                   {"omp_wait_policy_set_by_muE", reexec},
                   {"torch_threads_default", info.threads},
                   {"cores", std::thread::hardware_concurrency()},
                   {"cuda_compiled", info.cuda_compiled},
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
                      << "BLAS         " << (info.blas.empty() ? "(torch does not say)" : info.blas)
                      << (uses_alternative ? " via " + blas_real : std::string()) << "\n";
            for (const auto& l : j["blas_loaded"])
              std::cout << "  loaded     " << l.get<std::string>() << "\n";
            std::cout << "OpenMP       ";
            bool first = true;
            for (const auto& l : j["openmp_loaded"]) {
              std::cout << (first ? "" : ", ") << l.get<std::string>();
              first = false;
            }
            std::cout << (first ? "(none loaded)" : "") << "\n"
                      << "OpenMP wait  " << (omp ? omp : "(unset: spin-waiting)")
                      << (reexec ? " (set by muE before torch loaded)" : "") << "\n"
                      << "threads      torch default " << info.threads
                      << "; muE sets one per trial unless --threads says otherwise\n"
                      << "CUDA         " << cuda_summary(rt) << "\n";
            return 0;
          }};
}
} // namespace mue::cli
