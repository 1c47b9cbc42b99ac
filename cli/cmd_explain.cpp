// muE explain: a transfer report as a human table, factor by factor.
#include <memory>

#include "cli/commands.h"
#include "util/json.h"

namespace mue::cli {
namespace {
struct ExplainArgs {
  std::string report, target, group;
};
}  // namespace

Command add_explain(CLI::App& app, const GlobalOptions&) {
  auto a = std::make_shared<ExplainArgs>();
  auto* sub = app.add_subcommand(
      "explain", "Show how each transferred value was derived: every factor and its rule");
  sub->footer(
      "Input: transfer.json written by `muE transfer`.\n"
      "Output (terminal): for each target and parameter group, the chain of factors from the\n"
      "  reference value to the target value, each with its THEORY.md rule id and reason.");
  sub->add_option("REPORT", a->report, "transfer.json")->required();
  sub->add_option("--target", a->target, "Only this target");
  sub->add_option("--group", a->group, "Only this parameter group (e.g. expert_down)");
  return {sub, [a]() -> int {
            read_json_file(a->report);
            not_implemented("explain");
          }};
}
}  // namespace mue::cli
