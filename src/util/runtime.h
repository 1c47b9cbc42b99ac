#pragma once

namespace mue {
// glibc malloc returns large buffers to the kernel on every free and gets them
// back through page faults; raising the mmap and trim thresholds keeps them in
// the heap (measured: a torch training step 274 -> 161 ms; see bench/). Call
// once, first thing in main.
void tune_malloc();
}  // namespace mue
