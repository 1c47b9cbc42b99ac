// muE trial: internal worker of `muE sweep`; one TrialSpec in, one TrialResult out.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>
#include <thread>

#include "cli/commands.h"
#include "command/command.h"
#include "fused.h"
#include "spec/trial.h"
#include "spec/validate.h"
#include "trainer.h"
#include "util/error.h"
#include "util/fs.h"

namespace mue::cli {
namespace {
struct TrialArgs {
  std::string spec, result;
  bool pack = false, calibrate = false, all_packs = false;
};

// Test hook: MUE_FAULT="crash:ID,hang:ID,nan:ID,garbage:ID" (ID: a trial id or a prefix
// of one). The matching trial aborts, hangs, goes NaN at its second step, or writes an
// unparsable result — how the tests drive the sweep engine's failure paths.
std::string fault_for(const std::string& id) {
  const char* env = std::getenv("MUE_FAULT");
  if (!env || !*env) return "";
  std::stringstream items(env);
  std::string item;
  while (std::getline(items, item, ',')) {
    const auto colon = item.find(':');
    const std::string kind = item.substr(0, colon);
    if (colon == std::string::npos || colon + 1 == item.size() ||
        !(kind == "crash" || kind == "hang" || kind == "nan" || kind == "garbage"))
      throw UsageError("MUE_FAULT: '" + item +
                       "' is not KIND:TRIAL_ID with KIND crash, hang, nan or garbage");
    if (id.rfind(item.substr(colon + 1), 0) == 0) return kind;
  }
  return "";
}
} // namespace

Command add_trial(CLI::App& app, const GlobalOptions&) {
  auto a = std::make_shared<TrialArgs>();
  auto* sub = app.add_subcommand(
      "trial", "Internal: run one trial (TrialSpec JSON in, TrialResult JSON out)");
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
  sub->add_option("--spec", a->spec, "Read the TrialSpec from this file instead of stdin");
  sub->add_option("--result", a->result, "Write the TrialResult to this file instead of stdout");
  return {
      sub, [a]() -> int {
        const std::string file = a->spec.empty() ? "<stdin>" : a->spec;
        Json j =
            a->spec.empty()
                ? parse_json_strict(std::string{std::istreambuf_iterator<char>(std::cin), {}}, file)
            : a->pack ? read_json_file(a->spec)
                      : read_spec(a->spec, SpecKind::kTrial);
        std::string text;
        if (a->pack) {
          const Where w{file, ""};
          if (!j.is_object() || !j.contains("trials") || !j["trials"].is_array() ||
              j["trials"].empty())
            w.at("trials").fail("a pack needs a non-empty array of trial specs");
          std::vector<TrialSpec> specs;
          std::vector<bool> nan;
          for (std::size_t i = 0; i < j["trials"].size(); ++i) {
            specs.push_back(parse_trial_spec(j["trials"][i], w.at("trials").at(i)));
            const std::string fault = fault_for(specs.back().id());
            if (!fault.empty())
              std::cerr << "muE trial " << specs.back().id() << ": MUE_FAULT " << fault << "\n";
            if (fault == "crash") std::abort();
            if (fault == "hang")
              for (;;)
                std::this_thread::sleep_for(std::chrono::seconds(60));
            if (fault == "garbage") text = "{\"results\": [\n";
            nan.push_back(fault == "nan");
          }
          if (text.empty()) {
            Json results = Json::array();
            for (const auto& r : torch_backend::train_pack(specs, file, nan))
              results.push_back(to_json(r));
            text = Json{{"schema", "mue.pack_result/1"}, {"results", results}}.dump() + "\n";
          }
        } else {
          TrialSpec spec = parse_trial_spec(j, Where{file, ""});
          if (a->calibrate) {
            const auto t = torch_backend::time_packs(spec, {2, 4, 8}, 4, file, !a->all_packs);
            Json packs = Json::array();
            for (const auto& [k, sec] : t.pack_step_s)
              packs.push_back(Json{{"k", k}, {"step_s", sec}});
            text = Json{{"single_step_s", t.single_step_s}, {"packs", packs}}.dump() + "\n";
          } else {
            const std::string fault = fault_for(spec.id());
            if (!fault.empty())
              std::cerr << "muE trial " << spec.id() << ": MUE_FAULT " << fault << "\n";
            if (fault == "crash") std::abort();
            if (fault == "hang")
              for (;;)
                std::this_thread::sleep_for(std::chrono::seconds(60));
            if (fault == "garbage") {
              text = "{\"schema\": \"mue.result/1\", \"status\": \n";
            } else if (spec.config.backend.kind == BackendKind::kCommand) {
              // The external trainer's files go next to our result (or a temp dir).
              const std::filesystem::path work =
                  a->result.empty()
                      ? std::filesystem::temp_directory_path() / ("mue-" + spec.id())
                      : std::filesystem::absolute(a->result).parent_path() / (spec.id() + ".cmd");
              text = to_json(run_command_trial(spec, file, work.string())).dump() + "\n";
            } else {
              text = to_json(torch_backend::train(spec, file, {}, fault == "nan")).dump() + "\n";
            }
          }
        }
        if (a->result.empty())
          std::cout << text;
        else
          write_file_atomic(a->result, text);
        return 0;
      }};
}
} // namespace mue::cli
