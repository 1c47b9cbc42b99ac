#pragma once
// The catalog of rule ids (docs/method.md section ids) that traces may name.
#include <string_view>
#include <vector>

namespace mue {

struct RuleInfo {
  std::string_view id;
  std::string_view section; // docs/method.md section
  std::string_view summary;
};

const std::vector<RuleInfo>& all_rules();
bool is_known_rule(std::string_view id);

} // namespace mue
