// muE: tune a small dense model once, transfer its hyperparameters to MoE targets,
// and verify the transfer. This file wires the subcommands and maps errors to exit codes.
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <vector>

#include "cli/commands.h"
#include "runtime_info.h"
#include "util/error.h"
#include "util/json.h"
#include "util/runtime.h"
#include "util/version.h"

namespace mue::cli {

namespace {

std::string version_text() {
  auto info = torch_backend::runtime_info();
  std::string s = std::string("muE ") + mue::version() + " (git " + mue::git_hash() + ")\n";
  s += "torch " + info.torch_version + ", CUDA " +
       (info.cuda_available ? "available (" + std::to_string(info.cuda_devices) + " device(s))"
                            : std::string("not available"));
  return s;
}

// CLI11 reports "muE nosuch" as a missing subcommand; name the typo instead.
void check_subcommand_name(const CLI::App& app, int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("-", 0) == 0) {
      // Global options that take a value in the next argument.
      if (arg == "--log-level" || arg == "--device" || arg == "--threads") ++i;
      continue;
    }
    std::string names, best;
    std::size_t best_d = 3;
    for (const auto* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
      if (sub->get_name() == arg) return;
      names += (names.empty() ? "" : ", ") + sub->get_name();
      std::size_t d = edit_distance(arg, sub->get_name());
      if (d < best_d) best_d = d, best = sub->get_name();
    }
    throw UsageError("unknown subcommand '" + arg + "'" +
                     (best.empty() ? "" : " (did you mean '" + best + "'?)") +
                     "; one of: " + names);
  }
}

int run(int argc, char** argv) {
  CLI::App app{"muE: tune a small dense model once, transfer its hyperparameters to any "
               "Mixture-of-Experts configuration, and verify that the transfer holds."};
  app.name("muE");
  app.footer(
      "Typical flow:\n"
      "  muE sweep sweeps/tiny-cpu.json --out runs/ref       # dense reference sweep\n"
      "  muE transfer --reference runs/ref/sweep.json --targets sweeps/moe-targets.json \\\n"
      "               --out runs/transfer.json              # bridged hyperparameters\n"
      "  muE verify runs/transfer.json --out runs/verify      # drift gate (exit 1 on drift)\n"
      "Exit codes: 0 ok, 1 check failed, 2 bad input or usage, 3 runtime failure.");
  app.set_version_flag(
      "--version", [] { return version_text(); },
      "Print muE's version, git hash, torch version and CUDA availability");
  app.require_subcommand(1);

  GlobalOptions g;
  app.add_option("--log-level", g.log_level, "Log verbosity")
      ->check(CLI::IsMember({"error", "warn", "info", "debug"}))
      ->capture_default_str();
  app.add_flag("-q,--quiet", g.quiet, "Print only errors");
  app.add_flag("--json", g.json, "Machine-readable output on stdout");
  app.add_option("--device", g.device, "Where to train: auto, cpu, cuda or cuda:N")
      ->capture_default_str();
  app.add_option("--threads", g.threads, "Torch threads per trial (0 = automatic)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();

  const std::vector<Command> commands = {
      add_sweep(app, g),  add_fit(app, g),   add_transfer(app, g),    add_explain(app, g),
      add_verify(app, g), add_train(app, g), add_coord_check(app, g), add_validate(app, g),
      add_trial(app, g),  add_env(app, g),   add_import(app, g)};

  check_subcommand_name(app, argc, argv);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Help and version are successful exits; every other parse error is usage (2).
    int code = app.exit(e);
    return code == 0 ? 0 : static_cast<int>(ExitCode::kBadInput);
  }
  for (const auto& c : commands)
    if (c.sub->parsed()) return c.action();
  return static_cast<int>(ExitCode::kBadInput);
}

} // namespace
} // namespace mue::cli

namespace {
// libgomp reads OMP_WAIT_POLICY once, when it is loaded — before main. Spin-waiting
// threads cost ~3x per training step on small VMs, so the commands that train restart
// themselves once with OMP_WAIT_POLICY=PASSIVE when the user has not set it. The marker
// variable makes a second restart impossible; argv, stdin and the exit code carry over
// (execv keeps the pid and the open descriptors).
void reexec_for_openmp(int argc, char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv(mue::cli::kReexecMarker)) return;
  bool trains = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("-", 0) == 0) {
      if (a == "--log-level" || a == "--device" || a == "--threads") ++i;
      continue;
    }
    trains = a == "train" || a == "trial" || a == "coord-check" || a == "env";
    break;
  }
  if (!trains) return;
  ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  ::setenv(mue::cli::kReexecMarker, "1", 1);
  ::execv("/proc/self/exe", argv);
  // exec failed: carry on with the current (spinning) policy rather than fail.
}
} // namespace

int main(int argc, char** argv) {
  reexec_for_openmp(argc, argv);
  mue::tune_malloc();
  try {
    return mue::cli::run(argc, argv);
  } catch (const mue::Error& e) {
    std::cerr << "muE: error: " << e.what() << "\n";
    return static_cast<int>(e.exit_code());
  } catch (const std::exception& e) {
    std::cerr << "muE: internal error: " << e.what() << "\n";
    return static_cast<int>(mue::ExitCode::kRuntime);
  }
}
