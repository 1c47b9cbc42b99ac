#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace mue {
// 64-bit FNV-1a: stable across runs, platforms and builds (unlike std::hash).
std::uint64_t fnv1a64(std::string_view data);
// 16 lowercase hex digits of fnv1a64.
std::string hash_hex(std::string_view data);
} // namespace mue
