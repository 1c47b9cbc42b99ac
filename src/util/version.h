#pragma once
#include <string>

namespace mue {
// Semantic version of muE, e.g. "0.1.0".
const char* version();
// Short git hash of the commit built ("-dirty" when the tree had changes), or "unknown".
const char* git_hash();
} // namespace mue
