#pragma once
// The front end's door to the trainer library (libmuE-trainer.so beside the muE executable),
// which holds libtorch and the subcommands that train.

namespace mue::cli {

// Sets OMP_WAIT_POLICY=PASSIVE when the user has not set it and the command shares the cores
// (trial, env; not train or coord-check: cli/runtime_front.cpp says why; libgomp reads it once,
// when torch loads it), loads the trainer library and runs the whole command line there; its
// exit code. Exit 3 with the loader's
// message when the library cannot be loaded.
int run_in_trainer(int argc, char** argv);

// Keeps argv for the --help entries of the training subcommands (they hand it over).
void remember_argv(int argc, char** argv);

} // namespace mue::cli
