#pragma once
#include <string>

namespace mue {
// glibc malloc returns large buffers to the kernel on every free and gets them
// back through page faults; raising the mmap and trim thresholds keeps them in
// the heap (measured: a torch training step 274 -> 161 ms; see bench/). Call
// once, first thing in main.
void tune_malloc();

// The CPU's model name from /proc/cpuinfo ("unknown" elsewhere).
std::string cpu_model();
// This host's name ("unknown" when it cannot be read).
std::string host_name();

// --device: "auto" -> "cuda" when a GPU is visible, else "cpu"; "cpu", "cuda", "cuda:N" are
// checked against what the backend has: `cuda_compiled` (the libtorch has CUDA built in) and
// `cuda_devices` (GPUs it sees; 0 without CUDA); `torch_version` names it in the message.
// UsageError (exit 2) when the device cannot be had: "no CUDA device" when CUDA is compiled in
// but no GPU is visible, "built without CUDA" when it is not compiled in.
std::string resolve_device(const std::string& requested, bool cuda_compiled, int cuda_devices,
                           const std::string& torch_version);

// The environment variable the front end sets beside OMP_WAIT_POLICY=PASSIVE when it set that
// itself before loading torch (cli/runtime_front.cpp): such a value is muE's, not the user's
// (`muE env` reports it; a sweep's launcher replaces it with the layout's policy).
inline constexpr const char* kOmpSetMarker = "MUE_OMP_SET_BY_MUE";

// The command line of this process, kept by main for the reports' environment ("muE sweep
// s.json --out runs/x"; arguments with spaces or quotes single-quoted). Empty until kept.
void keep_command_line(int argc, char** argv);
const std::string& command_line();
} // namespace mue
