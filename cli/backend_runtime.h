#pragma once
// What the training backend offers this process, asked without loading torch where that can
// be avoided (docs/design.md "The front end and the trainer"). Two implementations: the
// torch-free front end `muE` (runtime_front.cpp) answers from what the build knows and loads
// the trainer only for a CUDA build; the trainer library (runtime_trainer.cpp) asks torch.
#include <string>

#include "util/runtime.h"

namespace mue::cli {

struct BackendRuntime {
  std::string torch_version;  // the libtorch muE was built against, e.g. "1.13.1"
  bool cuda_compiled = false; // libtorch has CUDA built in (libtorch_cuda.so linked)
  int cuda_devices = 0;       // GPUs torch sees; 0 without CUDA or without a GPU
  bool cuda_available() const { return cuda_compiled && cuda_devices > 0; }
};

// "compiled in, N device(s)" or "not compiled in": CUDA in --version and muE env.
std::string cuda_summary(const BackendRuntime& rt);

BackendRuntime backend_runtime();

// "auto" -> "cuda" when a GPU is visible, else "cpu"; "cpu", "cuda", "cuda:N" are checked
// against `rt`. UsageError (exit 2) when the device cannot be had.
std::string resolve_device(const std::string& requested, const BackendRuntime& rt);

// The name of the subcommand in argv (skipping the global options and their values), or ""
// when there is none; `version` is set when --version comes before it.
std::string subcommand_in(int argc, char** argv, bool* version = nullptr);

// True for the subcommands that train (train, trial, coord-check, env): the front end hands
// them, and --version, to the trainer library.
bool needs_trainer(const std::string& subcommand);

using mue::kOmpSetMarker; // src/util/runtime.h

} // namespace mue::cli
