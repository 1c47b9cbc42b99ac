#include "runtime_info.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include "util/runtime.h"

namespace mue::torch_backend {

RuntimeInfo runtime_info() {
  RuntimeInfo info;
  info.torch_version = TORCH_VERSION;
  info.cuda_available = torch::cuda::is_available();
  info.cuda_devices = info.cuda_available ? static_cast<int>(torch::cuda::device_count()) : 0;
  info.threads = at::get_num_threads();
  info.parallel_info = at::get_parallel_info();
  return info;
}

std::string resolve_device(const std::string& requested) {
  const bool cuda = torch::cuda::is_available();
  return mue::resolve_device(
      requested, cuda, cuda ? static_cast<int>(torch::cuda::device_count()) : 0, TORCH_VERSION);
}

} // namespace mue::torch_backend
