// muE trial: internal worker of `muE sweep`; one TrialSpec in, one TrialResult out.
#include <iostream>
#include <iterator>
#include <memory>

#include "cli/commands.h"
#include "spec/trial.h"
#include "spec/validate.h"
#include "trainer.h"
#include "util/fs.h"

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
      "Input: a TrialSpec (mue.trial/1) on stdin or in --spec; its device and threads are used.\n"
      "Output: a TrialResult (mue.result/1) on stdout or written atomically to --result.\n"
      "Exit: 0 when a result was written (ok or diverged), 2 bad spec, 3 runtime failure.");
  sub->add_option("--spec", a->spec, "Read the TrialSpec from this file instead of stdin");
  sub->add_option("--result", a->result, "Write the TrialResult to this file instead of stdout");
  return {sub, [a]() -> int {
            const std::string file = a->spec.empty() ? "<stdin>" : a->spec;
            Json j = a->spec.empty()
                         ? parse_json_strict(std::string{std::istreambuf_iterator<char>(std::cin), {}}, file)
                         : read_spec(a->spec, SpecKind::kTrial);
            TrialSpec spec = parse_trial_spec(j, Where{file, ""});
            TrialResult r = torch_backend::train(spec, file);
            const std::string text = to_json(r).dump() + "\n";
            if (a->result.empty())
              std::cout << text;
            else
              write_file_atomic(a->result, text);
            return 0;
          }};
}
}  // namespace mue::cli
