// Precompiled header for the torch translation units: torch/torch.h alone takes
// most of a TU's compile time.
#pragma once
#include <torch/torch.h>
