#pragma once
// One function per subcommand: each adds its CLI11 subcommand to the app and
// returns the action main() runs when that subcommand was chosen.
#include <CLI/CLI.hpp>
#include <functional>
#include <string>

namespace mue::cli {

struct GlobalOptions {
  std::string log_level = "info";
  bool quiet = false;
  bool json = false; // machine-readable output on stdout
  std::string device = "auto";
  int threads = 0; // 0 = choose automatically
};

using Action = std::function<int()>;

struct Command {
  CLI::App* sub;
  Action action;
};

Command add_sweep(CLI::App& app, const GlobalOptions& g);
Command add_fit(CLI::App& app, const GlobalOptions& g);
Command add_transfer(CLI::App& app, const GlobalOptions& g);
Command add_explain(CLI::App& app, const GlobalOptions& g);
Command add_verify(CLI::App& app, const GlobalOptions& g);
Command add_train(CLI::App& app, const GlobalOptions& g);
Command add_coord_check(CLI::App& app, const GlobalOptions& g);
Command add_validate(CLI::App& app, const GlobalOptions& g);
Command add_trial(CLI::App& app, const GlobalOptions& g);
Command add_env(CLI::App& app, const GlobalOptions& g);
Command add_import(CLI::App& app, const GlobalOptions& g);
Command add_report(CLI::App& app, const GlobalOptions& g);

// The one-line descriptions of the subcommands that train: the front end lists them in
// --help without loading the trainer library that implements them.
inline constexpr const char* kTrainAbout = "Train one model from a full config";
inline constexpr const char* kTrialAbout =
    "Internal: run one trial (TrialSpec JSON in, TrialResult JSON out)";
inline constexpr const char* kCoordCheckAbout =
    "Check that activation and update scales stay width-stable (μP sanity)";
inline constexpr const char* kEnvAbout =
    "Print the runtime a training run gets here (BLAS, threads, OpenMP, CUDA)";

} // namespace mue::cli
