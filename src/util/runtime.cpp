#include "util/runtime.h"

#include <malloc.h>

namespace mue {
void tune_malloc() {
  mallopt(M_MMAP_THRESHOLD, 256 * 1024 * 1024);
  mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
}
}  // namespace mue
