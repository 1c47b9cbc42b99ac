#include "cli/backend_runtime.h"

#include "util/runtime.h"

namespace mue::cli {

std::string cuda_summary(const BackendRuntime& rt) {
  if (!rt.cuda_compiled) return "not compiled in";
  return "compiled in, " + std::to_string(rt.cuda_devices) + " device(s)";
}

std::string resolve_device(const std::string& requested, const BackendRuntime& rt) {
  return mue::resolve_device(requested, rt.cuda_compiled, rt.cuda_devices, rt.torch_version);
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
