// The torch-free front end's side of the backend boundary (cli/backend_runtime.h): the
// runtime answered from what the build knows, the trainer library loaded with dlopen only
// when a command trains (or, for a CUDA build, when the GPUs must be counted), and the
// training subcommands listed in --help as entries that hand the command line to it.
#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>

#include "cli/app.h"
#include "cli/backend_runtime.h"
#include "cli/commands.h"
#include "cli/trainer_loader.h"
#include "util/error.h"

#ifndef MUE_TORCH_VERSION
#error "MUE_TORCH_VERSION must be defined by the build (the libtorch version)"
#endif
#ifndef MUE_TORCH_CUDA
#error "MUE_TORCH_CUDA must be defined by the build (1 when libtorch has CUDA)"
#endif

namespace mue::cli {
namespace {

using TrainerMain = int (*)(int, char**);
using TrainerRuntime = void (*)(char*, int, int*, int*);

int g_argc = 0;
char** g_argv = nullptr;

std::string exe_dir() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) throw RuntimeError("cannot find the muE executable (/proc/self/exe)");
  std::string p(buf, static_cast<std::size_t>(n));
  return p.substr(0, p.rfind('/'));
}

// The trainer library's handle, loaded once; RuntimeError naming the path and dlerror().
void* trainer() {
  static void* handle = nullptr;
  if (handle) return handle;
  // `train` and `coord-check` are one process on the cores they ask for: libgomp's default
  // (spin a while, then sleep) is as fast as ACTIVE there, and PASSIVE cost 1.26x (d_model
  // 128) to 2.6x (d_model 64) per step with 2 threads (torch 2.15, 2 cores). Everything else
  // that loads torch shares the cores: a sweep's trial workers (whose launcher sets the policy
  // itself, src/sweep/engine.h omp_wait_policy), env (which shows what a trial gets), and the
  // parent of a CUDA build that only counts the GPUs.
  const std::string sub = subcommand_in(g_argc, g_argv);
  if (!std::getenv("OMP_WAIT_POLICY") && sub != "train" && sub != "coord-check") {
    ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    ::setenv(kOmpSetMarker, "1", 1);
  }
  const std::string path = exe_dir() + "/libmuE-trainer.so";
  handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle)
    throw RuntimeError("cannot load the training backend '" + path + "': " + ::dlerror() +
                       " (it is built beside muE; rebuild, or copy it with the executable)");
  return handle;
}

template <class F> F symbol(const char* name) {
  void* s = ::dlsym(trainer(), name);
  if (!s) throw RuntimeError(std::string("the training backend lacks ") + name);
  return reinterpret_cast<F>(s);
}

Command hand_over(CLI::App& app, const char* name, const char* about) {
  auto* sub = app.add_subcommand(name, about);
  sub->allow_extras();
  return {sub, [] { return run_in_trainer(g_argc, g_argv); }};
}

} // namespace

int run_in_trainer(int argc, char** argv) {
  try {
    return symbol<TrainerMain>("mue_trainer_main")(argc, argv);
  } catch (const Error& e) {
    std::cerr << "muE: error: " << e.what() << "\n";
    return static_cast<int>(e.exit_code());
  }
}

BackendRuntime backend_runtime() {
  BackendRuntime rt;
  rt.torch_version = MUE_TORCH_VERSION;
  if (MUE_TORCH_CUDA) { // only torch can count the GPUs
    char version[64] = {0};
    int cuda = 0, devices = 0;
    symbol<TrainerRuntime>("mue_trainer_runtime")(version, sizeof version, &cuda, &devices);
    rt.torch_version = version;
    rt.cuda_compiled = cuda != 0;
    rt.cuda_devices = devices;
  }
  return rt;
}

// Listed in --help; main() hands these to the trainer before parsing, so the actions run only
// if that check is bypassed.
Command add_train(CLI::App& app, const GlobalOptions&) {
  return hand_over(app, "train", kTrainAbout);
}
Command add_trial(CLI::App& app, const GlobalOptions&) {
  return hand_over(app, "trial", kTrialAbout);
}
Command add_coord_check(CLI::App& app, const GlobalOptions&) {
  return hand_over(app, "coord-check", kCoordCheckAbout);
}
Command add_env(CLI::App& app, const GlobalOptions&) {
  return hand_over(app, "env", kEnvAbout);
}

void remember_argv(int argc, char** argv) {
  g_argc = argc;
  g_argv = argv;
}

} // namespace mue::cli
