// muE report: one self-contained HTML page from sweep directories, transfer reports and
// verify directories (src/report/html_report.h).
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "report/html_report.h"
#include "util/fs.h"

namespace mue::cli {

Command add_report(CLI::App& app, const GlobalOptions& g) {
  struct Args {
    std::vector<std::string> inputs;
    std::string out = "report.html";
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand(
      "report", "Write one HTML page from sweep, transfer and verify outputs (plots inline)");
  sub->footer(
      "Input: any mix of a sweep directory (sweep.json), a transfer report (transfer.json) and\n"
      "  a verify directory (verify.json), in the order given.\n"
      "Output: a self-contained HTML file (inline CSS, plots as data: images, no script, no\n"
      "  network): per sweep the counts, the optimum with its 95% CI and the loss plot; per\n"
      "  transfer target the table of every group with each value's derivation trace folded;\n"
      "  per verify the drift chart against the tolerance band, the cases and their plots.\n"
      "  Open it in any browser. Strings from your files are escaped.\n"
      "Exit: 0 written, 2 an input that is none of the three (nothing written).");
  sub->add_option("INPUT", a->inputs, "Sweep directory, transfer.json or verify directory")
      ->required();
  sub->add_option("--out", a->out, "The HTML file to write")->capture_default_str();
  return {sub, [a, &g]() -> int {
            std::vector<ReportInput> in;
            for (const auto& p : a->inputs)
              in.push_back({p});
            const std::string html = render_html_report(in); // InputError before any write
            write_file_atomic(a->out, html);
            if (!g.quiet) std::cout << "wrote " << a->out << "\n";
            return 0;
          }};
}

} // namespace mue::cli
