#pragma once
// Parameter groups of docs/method.md §4: the keys of the Parameterization table.
// Inside muE a group is a ParamGroup; its name is used only at the JSON edge (the table,
// hparams overrides, the transfer report, `muE explain --group`).
#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace mue {

enum class ParamGroup {
  kEmbedding,
  kAttnQkv,
  kAttnOut,
  kFfnUp,
  kFfnDown,
  kExpertUp,
  kExpertDown,
  kSharedUp,
  kSharedDown,
  kRouter,
  kNorm,      // norm gains; every gain, or only the blocks' when kFinalNorm is in the table
  kFinalNorm, // the final norm's gain: its own group only under eps_rule completep (§9 row 6)
  kUnembedding
};

// Every group, in declaration order.
inline constexpr std::array<ParamGroup, 13> kParamGroups = {
    ParamGroup::kEmbedding,  ParamGroup::kAttnQkv,  ParamGroup::kAttnOut,    ParamGroup::kFfnUp,
    ParamGroup::kFfnDown,    ParamGroup::kExpertUp, ParamGroup::kExpertDown, ParamGroup::kSharedUp,
    ParamGroup::kSharedDown, ParamGroup::kRouter,   ParamGroup::kNorm,       ParamGroup::kFinalNorm,
    ParamGroup::kUnembedding};

// A group of norm gains (vectors that start at exactly 1): `norm` and `final_norm`.
inline constexpr bool is_norm_gain(ParamGroup g) {
  return g == ParamGroup::kNorm || g == ParamGroup::kFinalNorm;
}

// The JSON name: "embedding", "attn_qkv", ..., "unembedding".
const char* to_string(ParamGroup g);
// The group named `name`, or nullopt for any other string (exact, case-sensitive).
std::optional<ParamGroup> parse_param_group(std::string_view name);
// Every group sorted by name: the order of each JSON object keyed by group (what a
// std::map<std::string> gave before groups were an enum), so the output does not change.
const std::array<ParamGroup, kParamGroups.size()>& param_groups_by_name();
// "embedding, attn_qkv, ..., unembedding" (declaration order), for error messages.
std::string param_group_list();

} // namespace mue
