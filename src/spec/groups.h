#pragma once
// Parameter groups of docs/method.md §4: the keys of the Parameterization table.
#include <array>
#include <string_view>

namespace mue {

inline constexpr std::array<std::string_view, 12> kParamGroups = {
    "embedding",   "attn_qkv",  "attn_out",    "ffn_up", "ffn_down", "expert_up",
    "expert_down", "shared_up", "shared_down", "router", "norm",     "unembedding"};

inline bool is_param_group(std::string_view name) {
  for (auto g : kParamGroups)
    if (g == name) return true;
  return false;
}

} // namespace mue
