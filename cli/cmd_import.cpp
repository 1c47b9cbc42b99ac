// muE import: a released model's config.json → a mue.targets/1 target (or a CPU proxy).
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <vector>

#include "cli/commands.h"
#include "import/hf_config.h"
#include "util/error.h"
#include "util/fs.h"

namespace mue::cli {

Command add_import(CLI::App& app, const GlobalOptions& g) {
  struct Args {
    std::vector<std::string> files, names;
    std::string out, proxy;
    bool approximate = false;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand(
      "import", "Turn released models' config.json into muE targets (or CPU-sized proxies)");
  sub->footer(
      "Input: Hugging Face config.json files of the families muE reads (model_type mixtral,\n"
      "  qwen2_moe, qwen3_moe, deepseek_v2, deepseek_v3, olmoe, granitemoe, dbrx, llama4,\n"
      "  llama4_text). Each becomes one target with the real shapes: d_model, blocks, heads,\n"
      "  KV heads, head dim, experts, active, expert and shared widths, gate kind, layer\n"
      "  layout, tying, QK-norm, router constants. seq_len and the training batch/tokens are\n"
      "  left to the reference (set `train` in the target for the real run).\n"
      "A part muE cannot represent (MLA, sliding-window or chunked attention, gated shared\n"
      "  experts, clip_qkv, ...) is exit 2 naming the field; with --approximate it is replaced\n"
      "  (the change is written into the target's description and printed as a warning).\n"
      "--proxy d_model=64,n_layers=2[,d_head=16][,vocab=256]: the target is instead a proxy\n"
      "  that keeps the pattern (gate, N, a, shared, GQA group, attention-width ratio, layout,\n"
      "  tying, QK-norm) at CPU widths, for `muE verify`.\n"
      "Output: the targets file at --out (atomic), else on stdout.\n"
      "Exit: 0 written, 2 bad input or a part that needs --approximate.");
  sub->add_option("CONFIG", a->files, "config.json files")->required();
  sub->add_option("--out", a->out, "Write the targets file here (default: stdout)");
  sub->add_option("--name", a->names, "Target name per file (default: the file's name)");
  sub->add_flag("--approximate", a->approximate,
                "Replace parts muE cannot represent, recording each change");
  auto* proxy_opt = sub->add_option("--proxy", a->proxy, "Proxy shape, e.g. d_model=64,n_layers=2");
  return {sub, [a, proxy_opt, &g] {
            std::optional<ProxyShape> proxy;
            if (proxy_opt->count() > 0) proxy = parse_proxy(a->proxy);
            std::vector<std::string> warnings;
            const Json doc = import_targets(a->files, a->names, a->approximate, proxy, &warnings);
            for (const auto& w : warnings)
              std::cerr << "muE: warning: " << w << " (approximated)\n";
            const std::string text = doc.dump(1) + "\n";
            if (a->out.empty()) {
              std::cout << text;
            } else {
              if (const auto dir = std::filesystem::path(a->out).parent_path(); !dir.empty())
                std::filesystem::create_directories(dir);
              write_file_atomic(a->out, text);
              if (!g.quiet)
                std::cerr << "wrote " << a->out << " (" << doc["targets"].size()
                          << " target(s)); next: muE transfer --reference REF --targets " << a->out
                          << "\n";
            }
            return 0;
          }};
}

} // namespace mue::cli
