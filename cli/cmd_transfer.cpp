// muE transfer: map the reference optimum onto MoE targets (THEORY.md).
#include <memory>

#include "cli/commands.h"
#include "spec/validate.h"

namespace mue::cli {
namespace {
struct TransferArgs {
  std::string reference, targets, out = "transfer.json", configs_dir;
};
}  // namespace

Command add_transfer(CLI::App& app, const GlobalOptions&) {
  auto a = std::make_shared<TransferArgs>();
  auto* sub = app.add_subcommand(
      "transfer", "Map the reference optimum onto a list of MoE targets, rule by rule");
  sub->footer(
      "Inputs: --reference: a sweep report (mue.sweep/1, its fitted optimum) or a config\n"
      "  {model, train, hparams}; --targets: {options?, targets: [{name, model?, train?,\n"
      "  options?}]} where absent fields inherit from the reference.\n"
      "Output: transfer.json (mue.transfer/1): per target a per-parameter-group table\n"
      "  (init_std, lr, wd, multiplier, eps), optimizer, block scalars (A, R, residual and\n"
      "  output multipliers), the sigma0 diagnostic of Bridge II, and a derivation trace that\n"
      "  names the THEORY.md rule id of every factor; plus one config per target for `muE train`.");
  sub->add_option("--reference", a->reference, "Reference: sweep.json or a config")->required();
  sub->add_option("--targets", a->targets, "Targets file (JSON)")->required();
  sub->add_option("--out", a->out, "Report path")->capture_default_str();
  sub->add_option("--configs-dir", a->configs_dir,
                  "Where to write one train config per target (default: beside --out)");
  return {sub, [a]() -> int {
            validate_file(a->reference, SpecKind::kConfig);
            validate_file(a->targets, SpecKind::kTargets);
            not_implemented("transfer");
          }};
}
}  // namespace mue::cli
