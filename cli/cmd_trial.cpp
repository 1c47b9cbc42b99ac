// muE trial: internal worker of `muE sweep`; one TrialSpec in, one TrialResult out.
#include <iostream>
#include <iterator>
#include <memory>

#include "cli/commands.h"
#include "spec/trial.h"
#include "spec/validate.h"

namespace mue::cli {
namespace {
struct TrialArgs {
  std::string spec, result;
};
}  // namespace

Command add_trial(CLI::App& app, const GlobalOptions&) {
  auto a = std::make_shared<TrialArgs>();
  auto* sub = app.add_subcommand(
      "trial", "Internal: run one trial (TrialSpec JSON in, TrialResult JSON out)");
  sub->footer(
      "Used by `muE sweep` for isolation: each trial is its own process.\n"
      "Input: a TrialSpec (mue.trial/1) on stdin or in --spec.\n"
      "Output: a TrialResult (mue.result/1) on stdout or written atomically to --result.");
  sub->add_option("--spec", a->spec, "Read the TrialSpec from this file instead of stdin");
  sub->add_option("--result", a->result, "Write the TrialResult to this file instead of stdout");
  return {sub, [a]() -> int {
            if (a->spec.empty()) {
              std::string text{std::istreambuf_iterator<char>(std::cin), {}};
              parse_trial_spec(parse_json_strict(text, "<stdin>"), Where{"<stdin>", ""});
            } else {
              validate_file(a->spec, SpecKind::kTrial);
            }
            not_implemented("trial");
          }};
}
}  // namespace mue::cli
