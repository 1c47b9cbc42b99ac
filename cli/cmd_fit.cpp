// muE fit: re-fit a sweep directory's optimum from its journal.
#include <filesystem>
#include <memory>

#include "cli/commands.h"
#include "util/error.h"

namespace mue::cli {
Command add_fit(CLI::App& app, const GlobalOptions&) {
  auto dir = std::make_shared<std::string>();
  auto* sub = app.add_subcommand("fit", "Re-fit the optimum of a sweep directory from its journal");
  sub->footer(
      "Input: DIR written by `muE sweep` (reads DIR/trials.jsonl and DIR/spec.json).\n"
      "Output: DIR/sweep.json rewritten atomically: per grid point the objective over seeds,\n"
      "  the fitted optimum (quadratic in log2 space; best point with at_edge when the\n"
      "  vertex falls outside the grid) and its bootstrap confidence interval.");
  sub->add_option("DIR", *dir, "Sweep directory")->required();
  return {sub, [dir]() -> int {
            if (!std::filesystem::is_directory(*dir))
              throw InputError(*dir, "", "not a directory (expected the --out DIR of muE sweep)");
            not_implemented("fit");
          }};
}
}  // namespace mue::cli
