// The trainer library's side of the backend boundary (cli/backend_runtime.h): the runtime
// asked of torch, and the two C entry points the front end finds with dlsym.
#include <cstring>

#include "cli/app.h"
#include "cli/backend_runtime.h"
#include "runtime_info.h"

namespace mue::cli {

BackendRuntime backend_runtime() {
  const auto info = torch_backend::runtime_info();
  return {info.torch_version, info.cuda_compiled, info.cuda_devices};
}

} // namespace mue::cli

// The whole command line, run in this library (the front end calls it for train, trial,
// coord-check, env and --version); the exit code.
extern "C" __attribute__((visibility("default"))) int mue_trainer_main(int argc, char** argv) {
  return mue::cli::run_cli_guarded(argc, argv);
}

// torch's version (into `version`, NUL-terminated, at most `size` bytes), whether CUDA is
// compiled in and how many GPUs it sees: for a CUDA build's front end, which cannot count GPUs.
extern "C" __attribute__((visibility("default"))) void
mue_trainer_runtime(char* version, int size, int* cuda, int* devices) {
  const auto info = mue::torch_backend::runtime_info();
  std::strncpy(version, info.torch_version.c_str(), static_cast<std::size_t>(size) - 1);
  *cuda = info.cuda_compiled ? 1 : 0;
  *devices = info.cuda_devices;
}
