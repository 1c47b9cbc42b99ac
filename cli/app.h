#pragma once
// The muE command line (cli/app.cpp), shared by the front end and the trainer library.
namespace mue::cli {

// Parses argv and runs the chosen subcommand; its exit code (0 ok, 1 check failed, 2 bad
// input or usage, 3 runtime failure). Throws mue::Error for what it cannot handle.
int run_cli(int argc, char** argv);

// run_cli with mue::Error and other exceptions printed as "muE: error: ..." and mapped to
// their exit codes.
int run_cli_guarded(int argc, char** argv);

} // namespace mue::cli
