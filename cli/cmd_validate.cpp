// muE validate: check muE files without running anything.
#include <iostream>
#include <memory>
#include <vector>

#include "cli/commands.h"
#include "spec/validate.h"
#include "util/error.h"

namespace mue::cli {

Command add_validate(CLI::App& app, const GlobalOptions& g) {
  auto files = std::make_shared<std::vector<std::string>>();
  auto* sub = app.add_subcommand("validate", "Check muE spec files; print ok or the first error");
  sub->footer(
      "Recognizes configs, sweep specs, targets files, trial specs and trial results (by\n"
      "  their \"schema\" field, else by shape) and checks them strictly: unknown or duplicate\n"
      "  keys, wrong types, out-of-range values and impossible shapes are errors naming the\n"
      "  file, the JSON pointer of the field and the reason.\n"
      "Exit: 0 when every file is valid, 2 otherwise.");
  sub->add_option("FILE", *files, "Files to check")->required();
  return {
      sub, [files, &g] {
        int bad = 0;
        Json report = Json::array();
        for (const auto& f : *files) {
          try {
            std::vector<std::string> warnings;
            SpecKind k = validate_file(f, std::nullopt, &warnings);
            for (const auto& w : warnings)
              std::cerr << "muE: warning: " << w << "\n";
            if (g.json)
              report.push_back(Json{{"file", f}, {"ok", true}, {"kind", to_string(k)}});
            else if (!g.quiet)
              std::cout << f << ": ok (" << to_string(k) << ")\n";
          } catch (const InputError& e) {
            ++bad;
            if (g.json)
              report.push_back(Json{
                  {"file", f}, {"ok", false}, {"pointer", e.pointer()}, {"reason", e.reason()}});
            std::cerr << "muE: error: " << e.what() << "\n";
          }
        }
        if (g.json) std::cout << report.dump(2) << "\n";
        return bad ? static_cast<int>(ExitCode::kBadInput) : 0;
      }};
}

} // namespace mue::cli
