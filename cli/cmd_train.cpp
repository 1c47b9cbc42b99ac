// muE train: one training run from a full config.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <thread>

#include "cli/commands.h"
#include "run_trial.h"
#include "spec/paths.h"
#include "spec/validate.h"
#include "util/fs.h"

namespace mue::cli {
namespace {
struct TrainArgs {
  std::string config, out;
};

// One run uses every core unless --threads says otherwise (torch defaults to 1 here).
int default_threads(const GlobalOptions& g) {
  if (g.threads > 0) return g.threads;
  const unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}
} // namespace

Command add_train(CLI::App& app, const GlobalOptions& g) {
  auto a = std::make_shared<TrainArgs>();
  auto* sub = app.add_subcommand("train", kTrainAbout);
  sub->footer(
      "Input: a config {model, train, hparams, options?, reference?} (mue.config/1), e.g. one\n"
      "  written by `muE transfer --emit-configs` for a target. It trains with the table\n"
      "  transfer gives it (every init std, lr, wd and multiplier).\n"
      "Output: a result (mue.result/1: status, objective, final val loss, loss curve, tokens/s,\n"
      "  wall time, peak RSS, device, expert load) on stdout, or written atomically to --out.\n"
      "A progress line (step, loss, tokens/s, ETA) goes to stderr when it is a terminal.\n"
      "Exit: 0 when the run finished (also when it diverged: the result says so), 2 bad\n"
      "  config, 3 runtime failure.");
  sub->add_option("CONFIG", a->config, "Config (JSON)")->required();
  sub->add_option("--out", a->out, "Write the result here instead of stdout");
  return {
      sub, [a, &g]() -> int {
        TrialSpec spec;
        spec.config = parse_config(read_spec(a->config, SpecKind::kConfig), Where{a->config, ""});
        check_data_files(spec.config.train, Where{a->config, "/train"}, "",
                         spec.config.model.seq_len);
        // The degenerate-gate warning of validate and transfer (docs/method.md §11.5).
        const std::string frozen = spec.config.model.ffn.degenerate_gate(
            spec.config.options.routing_normalization == RoutingNormalization::kPerGroup);
        if (!frozen.empty() && !g.quiet)
          std::cerr << "muE: warning: " << a->config << ": /model/ffn: " << frozen << "\n";
        spec.device = g.device;
        spec.threads = default_threads(g);
        const bool tty = ::isatty(STDERR_FILENO) && !g.quiet;
        RunTrialOptions o;
        o.result_file = a->out;
        o.check_command = true;
        o.on_step = [tty](const torch_backend::Progress& p) {
          if (!tty) return;
          std::fprintf(stderr, "\rstep %lld/%lld  loss %.4f  %.0f tok/s  ETA %.0f s   ",
                       static_cast<long long>(p.step), static_cast<long long>(p.steps),
                       p.train_loss, p.tokens_per_s, p.eta_s);
          if (p.step == p.steps) std::fprintf(stderr, "\n");
        };
        const TrialResult r = run_trial(spec, a->config, o);
        const std::string text = to_json(r).dump(1) + "\n";
        if (a->out.empty())
          std::cout << text;
        else
          write_file_atomic(a->out, text);
        if (g.quiet) return 0;
        if (r.status != TrialStatus::kOk) {
          std::cerr << "muE: run " << to_string(r.status) << ": " << r.error << "\n";
        } else {
          std::fprintf(stderr,
                       "%s: ok, objective %.4f, final val loss %.4f, %lld steps in %.1f s (%.0f "
                       "tok/s, %s)%s%s\n",
                       a->config.c_str(), *r.objective, *r.final_val_loss,
                       static_cast<long long>(r.curve.back().step), r.wall_s, r.tokens_per_s,
                       r.device.c_str(), a->out.empty() ? "" : " -> ", a->out.c_str());
        }
        return 0;
      }};
}
} // namespace mue::cli
