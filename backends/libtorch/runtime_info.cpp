#include "runtime_info.h"

#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include "util/runtime.h"

#ifndef MUE_TORCH_CUDA
#error "MUE_TORCH_CUDA must be defined by the build (1 when libtorch_cuda is linked)"
#endif

namespace mue::torch_backend {

RuntimeInfo runtime_info() {
  RuntimeInfo info;
  info.torch_version = TORCH_VERSION;
  info.cuda_compiled = MUE_TORCH_CUDA != 0;
  info.cuda_available = torch::cuda::is_available();
  info.cuda_devices = info.cuda_available ? static_cast<int>(torch::cuda::device_count()) : 0;
  info.threads = at::get_num_threads();
  info.parallel_info = at::get_parallel_info();
  // show_config() lists the build's settings: "... BLAS_INFO=mkl, ..." (torch 1.13 and 2.x).
  const std::string config = at::show_config();
  const auto at_blas = config.find("BLAS_INFO=");
  if (at_blas != std::string::npos) {
    const auto begin = at_blas + 10;
    info.blas = config.substr(begin, config.find_first_of(", \n", begin) - begin);
  }
  return info;
}

std::string resolve_device(const std::string& requested) {
  const bool cuda = torch::cuda::is_available();
  return mue::resolve_device(requested, MUE_TORCH_CUDA != 0,
                             cuda ? static_cast<int>(torch::cuda::device_count()) : 0,
                             TORCH_VERSION);
}

} // namespace mue::torch_backend
