// muE, the front end: every subcommand that does not train (sweep, verify, fit, transfer,
// explain, validate, import) runs here without loading torch; train, trial, coord-check,
// env and --version run in the trainer library, loaded on demand (cli/runtime_front.cpp).
#include "cli/app.h"
#include "cli/backend_runtime.h"
#include "cli/trainer_loader.h"
#include "util/runtime.h"

int main(int argc, char** argv) {
  mue::tune_malloc();
  mue::cli::remember_argv(argc, argv);
  mue::keep_command_line(argc, argv);
  bool version = false;
  const std::string sub = mue::cli::subcommand_in(argc, argv, &version);
  if (mue::cli::needs_trainer(sub) || (version && sub.empty()))
    return mue::cli::run_in_trainer(argc, argv);
  return mue::cli::run_cli_guarded(argc, argv);
}
