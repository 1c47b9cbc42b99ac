#include "cli/backend_runtime.h"

#include "util/error.h"

namespace mue::cli {

std::string resolve_device(const std::string& requested, const BackendRuntime& rt) {
  if (requested == "auto") return rt.cuda_available ? "cuda" : "cpu";
  if (requested == "cpu") return requested;
  if (requested == "cuda" || requested.rfind("cuda:", 0) == 0) {
    if (!rt.cuda_available)
      throw UsageError("--device " + requested + ": CUDA is not available on this machine (torch " +
                       rt.torch_version + " sees no GPU); use --device cpu or auto");
    if (requested.size() > 5) {
      const std::string index = requested.substr(5);
      if (index.empty() || index.size() > 6 ||
          index.find_first_not_of("0123456789") != std::string::npos)
        throw UsageError("--device " + requested + ": expected cuda:N with N a GPU index");
      if (std::stol(index) >= rt.cuda_devices)
        throw UsageError("--device " + requested + ": only " + std::to_string(rt.cuda_devices) +
                         " GPU(s) visible");
    }
    return requested;
  }
  throw UsageError("--device " + requested + ": expected auto, cpu, cuda or cuda:N");
}

std::string subcommand_in(int argc, char** argv, bool* version) {
  if (version) *version = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("-", 0) == 0) {
      // Global options that take a value in the next argument.
      if (a == "--log-level" || a == "--device" || a == "--threads") ++i;
      if (a == "--version" && version) *version = true;
      continue;
    }
    return a;
  }
  return "";
}

bool needs_trainer(const std::string& subcommand) {
  return subcommand == "train" || subcommand == "trial" || subcommand == "coord-check" ||
         subcommand == "env";
}

} // namespace mue::cli
