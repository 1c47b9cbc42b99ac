// muE coord-check: are activation and update scales stable across widths?
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "coord_check.h"
#include "spec/paths.h"
#include "spec/validate.h"
#include "util/error.h"
#include "util/fs.h"

namespace mue::cli {
namespace {
struct CoordArgs {
  std::string spec, out = "coord-check";
  std::vector<int> widths{64, 128, 256, 512};
  int steps = 10;
  std::string parameterization = "table";
  double tolerance = 0.5;
};

// Two log-log panels (RMS at init, RMS of the change) drawn by gnuplot into an SVG.
bool plot(const Json& report, const std::string& path) {
  const std::string tmp = path + ".tmp.svg";
  FILE* gp = ::popen("gnuplot 2>/dev/null", "w");
  if (!gp) return false;
  std::fprintf(gp, "set terminal svg size 1000,420 dynamic noenhanced\nset output '%s'\n",
               tmp.c_str());
  std::fprintf(gp, "set multiplot layout 1,2 title 'coord-check: %s, %d steps'\n",
               report["parameterization"].get<std::string>().c_str(), report["steps"].get<int>());
  std::fprintf(gp, "set logscale xy\nset xlabel 'd_model'\nset key left top\n");
  for (const char* metric : {"init_rms", "delta_rms"}) {
    std::fprintf(gp, "set title '%s'\nplot ",
                 metric[0] == 'i' ? "activation RMS at init" : "RMS of the change after training");
    const Json& first = report["widths"][0][metric];
    bool comma = false;
    for (const auto& [k, v] : first.items()) {
      (void)v;
      std::fprintf(gp, "%s'-' using 1:2 with linespoints title '%s'", comma ? ", " : "", k.c_str());
      comma = true;
    }
    std::fprintf(gp, "\n");
    for (const auto& [k, v] : first.items()) {
      (void)v;
      for (const auto& w : report["widths"])
        std::fprintf(gp, "%d %.9g\n", w["d_model"].get<int>(), w[metric][k].get<double>());
      std::fprintf(gp, "e\n");
    }
  }
  std::fprintf(gp, "unset multiplot\n");
  const bool ok = ::pclose(gp) == 0 && std::filesystem::exists(tmp);
  if (ok)
    std::filesystem::rename(tmp, path);
  else
    std::filesystem::remove(tmp);
  return ok;
}
} // namespace

Command add_coord_check(CLI::App& app, const GlobalOptions& g) {
  auto a = std::make_shared<CoordArgs>();
  auto* sub = app.add_subcommand("coord-check", kCoordCheckAbout);
  sub->footer(
      "Input: a config (model, train, hparams); its shape is the base shape. Each width in\n"
      "  --widths gets d_model = width (d_head kept, FFN widths scaled with it) and trains\n"
      "  --steps steps on a fixed probe batch's activations: embedding, attention and FFN branch\n"
      "  outputs (mean over layers) and logits.\n"
      "Output: per group, the RMS at init and the RMS of its change after training, per width,\n"
      "  with the log-log slope against width; DIR/coord_check.json and DIR/coord_check.svg.\n"
      "  Under the table (μP) the slopes are ~0; --parameterization standard (every width its\n"
      "  own reference: same init and lr everywhere) shows the growth μP prevents.\n"
      "Exit: 0 width-stable, 1 a slope past --tolerance (logits at init are exempt: μP's\n"
      "  output multiplier shrinks them by design), 2 bad input, 3 runtime failure.");
  sub->add_option("SPEC", a->spec, "Config (JSON) at the base width")->required();
  sub->add_option("--widths", a->widths, "d_model values")->delimiter(',')->capture_default_str();
  sub->add_option("--steps", a->steps, "Training steps per width")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  sub->add_option("--parameterization", a->parameterization, "table (μP from transfer) or standard")
      ->check(CLI::IsMember({"table", "standard"}))
      ->capture_default_str();
  sub->add_option("--tolerance", a->tolerance, "Allowed |log-log slope|")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--out", a->out, "Output directory")->capture_default_str();
  return {
      sub, [a, &g]() -> int {
        RunConfig c = parse_config(read_spec(a->spec, SpecKind::kConfig), Where{a->spec, ""});
        check_data_files(c.train, Where{a->spec, "/train"}, "", c.model.seq_len);
        torch_backend::CoordCheckOptions o;
        o.widths = a->widths;
        o.steps = a->steps;
        o.standard = a->parameterization == "standard";
        o.tolerance = a->tolerance;
        o.threads = g.threads > 0 ? g.threads : 1;
        auto r = torch_backend::coord_check(c, a->spec, o);
        std::filesystem::create_directories(a->out);
        const std::string json_path = (std::filesystem::path(a->out) / "coord_check.json").string();
        write_file_atomic(json_path, r.report.dump(1) + "\n");
        const std::string svg = (std::filesystem::path(a->out) / "coord_check.svg").string();
        const bool plotted = plot(r.report, svg);
        if (!g.quiet) {
          std::printf("%-10s %-6s", "group", "metric");
          for (int w : a->widths)
            std::printf(" %11d", w);
          std::printf("   slope\n");
          for (const char* metric : {"init_rms", "delta_rms"})
            for (const auto& [k, v] : r.report["slopes"][metric].items()) {
              std::printf("%-10s %-6s", k.c_str(), metric[0] == 'i' ? "init" : "change");
              for (const auto& w : r.report["widths"])
                std::printf(" %11.4g", w[metric][k].get<double>());
              std::printf("   %+.3f\n", v.get<double>());
            }
          std::printf("%s; wrote %s%s\n", r.stable ? "width-stable" : "NOT width-stable",
                      json_path.c_str(),
                      plotted ? (" and " + svg).c_str() : " (no plot: gnuplot not found)");
          const double logit_slope = r.report["slopes"]["delta_rms"].value("logits", 0.0);
          if (!o.standard && c.options.head_rule == HeadRule::kBlog && logit_slope < -o.tolerance)
            std::printf(
                "hint: head_rule=blog gives the head lr/ρ_d, init ρ_d^-1/2 and logits ×1/ρ_d, so "
                "logit updates shrink about as 1/ρ_d; head_rule=mup keeps them width-stable "
                "(docs/method.md §9 row 1)\n");
        }
        return r.stable ? 0 : static_cast<int>(ExitCode::kCheckFailed);
      }};
}
} // namespace mue::cli
