// muE transfer: map the reference optimum onto MoE targets (docs/method.md).
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "report/transfer_report.h"
#include "spec/validate.h"
#include "util/fs.h"

namespace mue::cli {
namespace {
struct TransferArgs {
  std::string reference, targets, out = "transfer.json", emit_configs;
};

int run(const TransferArgs& a, const GlobalOptions& g) {
  LoadedReference ref = load_reference(a.reference);
  TargetsSpec targets =
      parse_targets_spec(read_spec(a.targets, SpecKind::kTargets), Where{a.targets, ""});
  TransferOutput out = run_transfer(ref, targets, a.targets);     // all or nothing
  if (!a.emit_configs.empty()) check_target_data(out, a.targets); // the configs must train
  if (!g.quiet && g.log_level != "error")
    for (const auto& w : out.warnings)
      std::cerr << "muE: warning: " << w << "\n";
  // The report's folder is created, as sweep and verify create their --out.
  if (const auto dir = std::filesystem::path(a.out).parent_path(); !dir.empty())
    std::filesystem::create_directories(dir);
  write_file_atomic(a.out, [&](std::ostream& os) { write_report(os, out); });
  if (!a.emit_configs.empty()) {
    std::filesystem::create_directories(a.emit_configs);
    for (const auto& r : out.results)
      write_file_atomic((std::filesystem::path(a.emit_configs) / (r.spec->name + ".json")).string(),
                        to_json(target_config(out, r)).dump(1) + "\n");
  }
  if (g.json) {
    write_report(std::cout, out);
  } else if (!g.quiet) {
    std::cout << transfer_table(out);
    std::cout << "wrote " << a.out;
    if (!a.emit_configs.empty())
      std::cout << " and " << out.results.size() << " configs in " << a.emit_configs;
    std::cout << "; `muE explain " << a.out << "` shows every factor\n";
  }
  return 0;
}
} // namespace

Command add_transfer(CLI::App& app, const GlobalOptions& g) {
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
      "  names the docs/method.md rule id of every factor. With --emit-configs DIR, one config\n"
      "  per target (DIR/<name>.json) that `muE train` accepts and that reproduces the table;\n"
      "  its data paths are absolute, so it trains from any working directory, and the data\n"
      "  files are checked first (a missing or too small one is bad input).\n"
      "Prints a table: target, H_act, A, R, lr, wd, down-projection init and lr, sigma0 ratio.\n"
      "Exit: 0 ok, 2 bad input (the file, the JSON pointer and why), 3 runtime failure.");
  sub->add_option("--reference", a->reference, "Reference: sweep.json or a config")->required();
  sub->add_option("--targets", a->targets, "Targets file (JSON)")->required();
  sub->add_option("--out", a->out, "Report path")->capture_default_str();
  sub->add_option("--emit-configs", a->emit_configs, "Also write one train config per target here");
  return {sub, [a, &g]() -> int { return run(*a, g); }};
}
} // namespace mue::cli
