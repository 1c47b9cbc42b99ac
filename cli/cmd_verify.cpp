// muE verify: small sweeps at the targets; fails (exit 1) when the bridged optimum drifts.
#include <memory>
#include <vector>

#include "cli/commands.h"
#include "util/json.h"

namespace mue::cli {
namespace {
struct VerifyArgs {
  std::string report, out, junit;
  std::vector<std::string> targets, axes;
  double tolerance = 1.0, step = 0.5;
  int points = 5, seeds = 1, jobs = 0;
  std::string launcher = "local";
};
}  // namespace

Command add_verify(CLI::App& app, const GlobalOptions&) {
  auto a = std::make_shared<VerifyArgs>();
  auto* sub = app.add_subcommand(
      "verify", "Sweep around the bridged values at each target and gate on drift (for CI)");
  sub->footer(
      "Input: transfer.json written by `muE transfer`.\n"
      "For each target and axis: a small sweep of --points values spaced --step in log2\n"
      "  around the bridged value (others bridged), the empirical optimum with its CI,\n"
      "  drift = log2(empirical / bridged) and the loss gap at the bridged value.\n"
      "Output in DIR: verify.json (mue.verify/1), plots/<target>.svg, the trial journals;\n"
      "  with --junit FILE a JUnit XML file for CI systems.\n"
      "Exit: 0 all pass, 1 any target drifts past --tolerance, 2 bad input, 3 runtime.");
  sub->add_option("REPORT", a->report, "transfer.json")->required();
  sub->add_option("--out", a->out, "Output directory")->required();
  sub->add_option("--targets", a->targets, "Only these targets (comma-separated)")->delimiter(',');
  sub->add_option("--axis", a->axes, "Axes to check: lr, wd, init_std (default lr)")
      ->check(CLI::IsMember({"lr", "wd", "init_std"}));
  sub->add_option("--points", a->points, "Values per axis")->check(CLI::Range(3, 99))
      ->capture_default_str();
  sub->add_option("--step", a->step, "Spacing in log2 units")->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--seeds", a->seeds, "Seeds per value")->check(CLI::Range(1, 100))
      ->capture_default_str();
  sub->add_option("--tolerance", a->tolerance, "Allowed |drift| in log2 units")
      ->check(CLI::PositiveNumber)->capture_default_str();
  sub->add_option("--jobs", a->jobs, "Trials run at once (0 = one per core)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--launcher", a->launcher, "Where trials run")
      ->check(CLI::IsMember({"local", "slurm"}))->capture_default_str();
  sub->add_option("--junit", a->junit, "Also write a JUnit XML report");
  return {sub, [a]() -> int {
            read_json_file(a->report);
            not_implemented("verify");
          }};
}
}  // namespace mue::cli
