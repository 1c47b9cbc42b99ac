// muE fit: rebuild a sweep directory's report from its journal alone.
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/run_options.h"
#include "spec/validate.h"
#include "sweep/adaptive.h"
#include "sweep/report.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/run_lock.h"

namespace mue::cli {
Command add_fit(CLI::App& app, const GlobalOptions& g) {
  auto dir = std::make_shared<std::string>();
  auto* sub = app.add_subcommand("fit", "Re-fit the optimum of a sweep directory from its journal");
  sub->footer(
      "Input: DIR written by `muE sweep` (reads DIR/spec.json and DIR/trials.jsonl only).\n"
      "Output: DIR/sweep.json rewritten atomically (every point with its trials, the fitted\n"
      "  optimum — quadratic in log2 space; when its vertex leaves the grid, a local fit around\n"
      "  an interior best point, or the best point with at_edge where it is the smallest or\n"
      "  largest value tried — its bootstrap confidence interval) and DIR/plots/loss_vs_lr.svg.\n"
      "  Trials not in the journal are listed as missing; the fit uses what is there.\n"
      "Exit: 0 ok, 1 no usable trial, 2 DIR is not a sweep directory.");
  sub->add_option("DIR", *dir, "Sweep directory")->required();
  auto wait = std::make_shared<bool>(false);
  sub->add_flag("--wait-lock", *wait,
                "When another muE uses DIR, wait for it instead of exiting 2");
  return {sub, [dir, wait, &g]() -> int {
            const Journal journal = Journal::existing(*dir);
            const RunLock lock(*dir, "muE fit", *wait, g.quiet); // one muE per DIR
            const std::string spec_file = journal.spec_file();
            const SweepSpec s =
                parse_sweep_spec(read_spec(spec_file, SpecKind::kSweepSpec), Where{spec_file, ""});
            bool torn = false;
            const auto done = journal.read(&torn);
            // An adaptive sweep's points are the rounds its journal decides (replayed).
            Json search;
            std::vector<PlannedTrial> plan;
            if (s.search.adaptive) {
              const AdaptiveState st = adaptive_state(s, spec_file, done);
              plan = st.plan;
              search = adaptive_summary(s, st);
            } else {
              plan = plan_sweep(s, spec_file);
            }
            if (torn && !g.quiet)
              std::cerr << "muE: warning: the journal's last line was torn; ignored\n";
            // The environment of the run that produced the trials, kept from the old report.
            Json environment = read_sweep_environment(journal.report_file("sweep.json"));
            environment["refit_by"] = "muE fit";
            print_sweep_outputs(
                write_sweep_outputs(s, spec_file, plan, done, environment, journal, search), g);
            write_page({*dir}, journal.report_file("report.html"), g); // the page, refreshed
            return 0;
          }};
}
} // namespace mue::cli
