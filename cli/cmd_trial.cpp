// muE trial: internal worker of `muE sweep` (the protocol: src/sweep/worker.h).
#include <iostream>
#include <iterator>
#include <memory>

#include "cli/commands.h"
#include "cli/trial_server.h"
#include "run_trial.h"
#include "spec/validate.h"
#include "sweep/worker.h"
#include "util/error.h"
#include "util/fs.h"

namespace mue::cli {
namespace {
struct TrialArgs {
  std::string spec, result, progress;
  bool pack = false, calibrate = false, all_packs = false, serve = false;
};
} // namespace

Command add_trial(CLI::App& app, const GlobalOptions&) {
  auto a = std::make_shared<TrialArgs>();
  auto* sub = app.add_subcommand("trial", kTrialAbout);
  sub->footer(
      "Used by `muE sweep` for isolation: each trial is its own process.\n"
      "Input: a TrialSpec (mue.trial/1) on stdin or in --spec; its device and threads are used.\n"
      "Output: a TrialResult (mue.result/1) on stdout or written atomically to --result.\n"
      "Test hook: MUE_FAULT=\"crash:ID,hang:ID,nan:ID,garbage:ID\" makes the trial whose id\n"
      "  starts with ID abort, hang, go NaN, or write garbage (for the sweep engine's tests).\n"
      "Exit: 0 when a result was written (ok or diverged), 2 bad spec, 3 runtime failure.");
  sub->add_flag(
      "--pack", a->pack,
      "The input is a pack (mue.pack/1: {\"trials\": [TrialSpec...]}) trained fused; the output is "
      "{\"results\": [TrialResult...]} in the same order");
  sub->add_flag(
      "--calibrate", a->calibrate,
      "Time a few steps of the TrialSpec alone and fused in packs of 2, 4 and 8; print JSON");
  sub->add_flag("--all-packs", a->all_packs,
                "With --calibrate: time every pack size (no early stop)");
  sub->add_flag("--serve", a->serve,
                "Warm worker: read trial requests on stdin and fork a child per trial "
                "(the protocol: cli/trial_server.h); used by `muE sweep`");
  sub->add_option("--spec", a->spec, "Read the TrialSpec from this file instead of stdin");
  sub->add_option("--result", a->result, "Write the TrialResult to this file instead of stdout");
  sub->add_option(
      "--progress", a->progress,
      "Append \"STEP TRAIN_LOSS VAL_LOSS LR\" per evaluation to this file while training (the "
      "sweep's pruner reads it)");
  return {sub, [a]() -> int {
            if (a->serve) return serve_trials();
            const std::string file = a->spec.empty() ? "<stdin>" : a->spec;
            const Json j =
                a->spec.empty()
                    ? parse_json_strict(std::string{std::istreambuf_iterator<char>(std::cin), {}},
                                        file)
                : a->pack ? read_json_file(a->spec)
                          : read_spec(a->spec, SpecKind::kTrial);
            const Where w{file, ""};
            std::string text;
            if (a->pack)
              text = worker_output(parse_trial_pack(j, w), file);
            else if (a->calibrate)
              text = to_json(calibrate(parse_trial_spec(j, w), file, a->all_packs)).dump() + "\n";
            else
              text = worker_output(parse_trial_spec(j, w), file, a->result, a->progress);
            if (a->result.empty()) {
              std::cout << text;
              return 0;
            }
            try {
              write_file_atomic(a->result, text);
            } catch (const RuntimeError& e) {
              // A full or read-only disk says nothing about the trial: the launcher journals
              // it to run again (kWorkerCannotWrite).
              std::cerr << "muE: error: " << e.what() << "\n";
              return kWorkerCannotWrite;
            }
            return 0;
          }};
}
} // namespace mue::cli
