// The muE command line: the subcommands wired into one CLI11 app, errors mapped to exit
// codes. Built into both the torch-free front end `muE` and the trainer library.
#include "cli/app.h"

#include <iostream>
#include <vector>

#include "cli/backend_runtime.h"
#include "cli/commands.h"
#include "util/error.h"
#include "util/json.h"
#include "util/version.h"

namespace mue::cli {

namespace {

std::string version_text() {
  const BackendRuntime info = backend_runtime();
  std::string s = std::string("muE ") + mue::version() + " (git " + mue::git_hash() + ")\n";
  s += "torch " + info.torch_version + ", CUDA " + cuda_summary(info);
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

} // namespace

int run_cli(int argc, char** argv) {
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
      add_trial(app, g),  add_env(app, g),   add_import(app, g),      add_report(app, g)};

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

int run_cli_guarded(int argc, char** argv) {
  try {
    return run_cli(argc, argv);
  } catch (const Error& e) {
    std::cerr << "muE: error: " << e.what() << "\n";
    return static_cast<int>(e.exit_code());
  } catch (const std::exception& e) {
    std::cerr << "muE: internal error: " << e.what() << "\n";
    return static_cast<int>(ExitCode::kRuntime);
  }
}

} // namespace mue::cli
