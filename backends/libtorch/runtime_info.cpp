#include "runtime_info.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include "util/error.h"

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
  if (requested == "auto") return cuda ? "cuda" : "cpu";
  if (requested == "cpu") return requested;
  if (requested == "cuda" || requested.rfind("cuda:", 0) == 0) {
    if (!cuda)
      throw UsageError("--device " + requested +
                       ": CUDA is not available on this machine "
                       "(torch " TORCH_VERSION " sees no GPU); use --device cpu or auto");
    if (requested.size() > 5) {
      const std::string index = requested.substr(5);
      if (index.empty() || index.find_first_not_of("0123456789") != std::string::npos)
        throw UsageError("--device " + requested + ": expected cuda:N with N a GPU index");
      const long n = std::stol(index);
      const long count = static_cast<long>(torch::cuda::device_count());
      if (n >= count)
        throw UsageError("--device " + requested + ": only " + std::to_string(count) +
                         " GPU(s) visible");
    }
    return requested;
  }
  throw UsageError("--device " + requested + ": expected auto, cpu, cuda or cuda:N");
}

} // namespace mue::torch_backend
