// muE explain: a transfer report as a human table, factor by factor.
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "report/transfer_report.h"
#include "util/error.h"

namespace mue::cli {
namespace {
struct ExplainArgs {
  std::string report, target, group;
  bool rules = false;
};
} // namespace

Command add_explain(CLI::App& app, const GlobalOptions&) {
  auto a = std::make_shared<ExplainArgs>();
  auto* sub = app.add_subcommand(
      "explain", "Show how each transferred value was derived: every factor and its rule");
  sub->footer(
      "Input: transfer.json written by `muE transfer`.\n"
      "Output (terminal): for each target, its route and ratios, then for every parameter\n"
      "  group, the optimizer and the block scalars: each value as its base times a chain of\n"
      "  factors, each with its docs/method.md rule id and reason.\n"
      "--rules lists every rule id with one line each (no report needed).");
  sub->add_option("REPORT", a->report, "transfer.json");
  sub->add_option("--target", a->target, "Only this target");
  sub->add_option("--group", a->group,
                  "Only this parameter group (e.g. expert_down), or 'optimizer', 'scalars'");
  sub->add_flag("--rules", a->rules, "List the rule ids and what each does");
  return {sub, [a]() -> int {
            if (a->rules) {
              std::cout << rules_text();
              return 0;
            }
            if (a->report.empty())
              throw UsageError("muE explain: give REPORT (a transfer.json) or --rules");
            std::cout << explain(read_json_file(a->report), a->report, a->target, a->group);
            return 0;
          }};
}
} // namespace mue::cli
