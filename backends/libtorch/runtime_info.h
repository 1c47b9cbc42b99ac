#pragma once
// What the torch runtime offers. The header stays torch-free so the CLI can
// include it without paying for torch's headers.
#include <string>

namespace mue::torch_backend {

struct RuntimeInfo {
  std::string torch_version;   // e.g. "2.15.0" (from the headers built against)
  std::string blas;            // torch's BLAS from its build configuration, e.g. "mkl", "open"
  bool cuda_compiled = false;  // libtorch_cuda is linked in (MUE_TORCH_CUDA at build time)
  bool cuda_available = false; // torch sees at least one GPU
  int cuda_devices = 0;
  int threads = 0;           // torch intra-op threads in this process
  std::string parallel_info; // ATen's report: OpenMP/MKL, thread settings
};

RuntimeInfo runtime_info();

// "auto" -> "cuda" when a GPU is visible, else "cpu"; "cpu", "cuda", "cuda:N" are
// checked against what is present. UsageError when the device cannot be had.
std::string resolve_device(const std::string& requested);

} // namespace mue::torch_backend
