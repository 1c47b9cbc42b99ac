// muE sweep: the dense reference sweep (DESIGN.md "Sweep engine").
#include <memory>

#include "cli/commands.h"
#include "spec/validate.h"

namespace mue::cli {
namespace {
struct SweepArgs {
  std::string spec, out;
  int jobs = 0;
  std::string launcher = "local";
  bool resume = false, dry_run = false, force_new = false;
};
}  // namespace

Command add_sweep(CLI::App& app, const GlobalOptions&) {
  auto a = std::make_shared<SweepArgs>();
  auto* sub = app.add_subcommand(
      "sweep", "Train a small dense reference over a grid of (lr, wd, init_std) and fit the optimum");
  sub->footer(
      "Input: a sweep spec (see sweeps/tiny-cpu.json): base model, train and hparams, the axes\n"
      "  to sweep (explicit lists or {\"log2_grid\": [lo, hi, step]}), seeds, objective.\n"
      "Output in DIR: trials.jsonl (one result per finished trial, appended and fsync'd),\n"
      "  spec.json, sweep.json (fitted optimum with confidence interval, schema mue.sweep/1),\n"
      "  plots/, logs/<trial id>.log. Re-running on the same DIR resumes.\n"
      "Exit: 0 ok, 1 no usable trial, 2 bad spec, 3 runtime failure.");
  sub->add_option("SPEC", a->spec, "Sweep spec (JSON)")->required();
  sub->add_option("--out", a->out, "Output directory")->required();
  sub->add_option("--jobs", a->jobs, "Trials run at once (0 = one per core)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--launcher", a->launcher, "Where trials run")
      ->check(CLI::IsMember({"local", "slurm"}))
      ->capture_default_str();
  sub->add_flag("--resume", a->resume, "Continue the sweep in DIR, skipping finished trials");
  sub->add_flag("--dry-run", a->dry_run, "Print the plan (trial count, grid) and exit");
  sub->add_flag("--force-new", a->force_new, "Start over in a DIR that holds another spec");
  return {sub, [a]() -> int {
            validate_file(a->spec, SpecKind::kSweepSpec);
            not_implemented("sweep");
          }};
}
}  // namespace mue::cli
