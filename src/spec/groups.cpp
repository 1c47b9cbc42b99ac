#include "spec/groups.h"

#include <algorithm>
#include <cstring>

namespace mue {

const char* to_string(ParamGroup g) {
  switch (g) {
  case ParamGroup::kEmbedding:
    return "embedding";
  case ParamGroup::kAttnQkv:
    return "attn_qkv";
  case ParamGroup::kAttnOut:
    return "attn_out";
  case ParamGroup::kFfnUp:
    return "ffn_up";
  case ParamGroup::kFfnDown:
    return "ffn_down";
  case ParamGroup::kExpertUp:
    return "expert_up";
  case ParamGroup::kExpertDown:
    return "expert_down";
  case ParamGroup::kSharedUp:
    return "shared_up";
  case ParamGroup::kSharedDown:
    return "shared_down";
  case ParamGroup::kRouter:
    return "router";
  case ParamGroup::kNorm:
    return "norm";
  case ParamGroup::kFinalNorm:
    return "final_norm";
  case ParamGroup::kUnembedding:
    return "unembedding";
  }
  return "?";
}

std::optional<ParamGroup> parse_param_group(std::string_view name) {
  for (ParamGroup g : kParamGroups)
    if (name == to_string(g)) return g;
  return std::nullopt;
}

const std::array<ParamGroup, kParamGroups.size()>& param_groups_by_name() {
  static const std::array<ParamGroup, kParamGroups.size()> sorted = [] {
    std::array<ParamGroup, kParamGroups.size()> a = kParamGroups;
    std::sort(a.begin(), a.end(), [](ParamGroup x, ParamGroup y) {
      return std::strcmp(to_string(x), to_string(y)) < 0;
    });
    return a;
  }();
  return sorted;
}

std::string param_group_list() {
  std::string s;
  for (ParamGroup g : kParamGroups)
    s += (s.empty() ? "" : ", ") + std::string(to_string(g));
  return s;
}

} // namespace mue
