// muE coord-check: are activation and update scales stable across widths?
#include <memory>

#include "cli/commands.h"
#include "util/json.h"

namespace mue::cli {
namespace {
struct CoordArgs {
  std::string spec, out;
};
}  // namespace

Command add_coord_check(CLI::App& app, const GlobalOptions&) {
  auto a = std::make_shared<CoordArgs>();
  auto* sub = app.add_subcommand(
      "coord-check", "Check that activation and update scales stay width-stable (μP sanity)");
  sub->footer(
      "Input: a model spec and a list of widths.\n"
      "Output: per layer and width, the activation and update scale over the first steps,\n"
      "  as a table and a plot. Exit 1 when a scale grows or shrinks with width.");
  sub->add_option("SPEC", a->spec, "Coord-check spec (JSON)")->required();
  sub->add_option("--out", a->out, "Output directory for the table and plot");
  return {sub, [a]() -> int {
            read_json_file(a->spec);
            not_implemented("coord-check");
          }};
}
}  // namespace mue::cli
