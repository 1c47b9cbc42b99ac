// muE train: one training run from a full config.
#include <memory>

#include "cli/commands.h"
#include "spec/validate.h"

namespace mue::cli {
namespace {
struct TrainArgs {
  std::string config, out;
};
}  // namespace

Command add_train(CLI::App& app, const GlobalOptions&) {
  auto a = std::make_shared<TrainArgs>();
  auto* sub = app.add_subcommand("train", "Train one model from a full config");
  sub->footer(
      "Input: a config {model, train, hparams, backend?} (mue.config/1), e.g. one written by\n"
      "  `muE transfer` for a target.\n"
      "Output: a result JSON (mue.result/1: status, losses, loss curve, tokens/s, wall time,\n"
      "  peak memory) on stdout or in --out.");
  sub->add_option("CONFIG", a->config, "Config (JSON)")->required();
  sub->add_option("--out", a->out, "Write the result here instead of stdout");
  return {sub, [a]() -> int {
            validate_file(a->config, SpecKind::kConfig);
            not_implemented("train");
          }};
}
}  // namespace mue::cli
