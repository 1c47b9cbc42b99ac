#pragma once
// Import of a released model's Hugging Face config.json into muE's model format
// (docs/real-models.md). Torch-free: part of mue_core.
#include <optional>
#include <string>
#include <vector>

#include "spec/model_spec.h"
#include "util/json.h"

namespace mue {

// The model families `muE import` reads, by config.json "model_type".
const std::vector<std::string>& supported_model_types();

struct ImportedModel {
  std::string model_type;
  // The released shapes. seq_len is 0: a target inherits the reference's context (the
  // config's max_position_embeddings is a limit, not the training length).
  ModelSpec model;
  // With `approximate`: each field muE cannot represent and what it became, one line each
  // ("/kv_lora_rank: multi-head latent attention (MLA) → ..."). Without it such a field is
  // an InputError, so this is empty.
  std::vector<std::string> approximations;
  // Values the config does not hold that the import chose, and the model's own constants
  // that muE's table replaces (e.g. Granite's μP multipliers); one line each.
  std::vector<std::string> notes;
};

// Reads a config.json object (`where` names the file). InputError (exit 2) naming the field
// for: an unknown or unsupported model_type (listing the supported ones), a missing or
// non-positive shape, impossible shapes, and — unless `approximate` — a part muE cannot
// represent (MLA, sliding-window or chunked attention, gated shared experts, clip_qkv, a
// gate on the expert input, multi-token prediction, irregular MoE layer lists, ...).
ImportedModel import_hf_config(const Json& j, const Where& where, bool approximate);

// A CPU-sized proxy of a real architecture (docs/real-models.md "Proxies"): d_model and the
// other widths scaled by d_proxy/d_real, the pattern kept — gate kind and router, N, a,
// shared experts, the GQA group size, the attention-width ratio, the layer layout, tying,
// QK-norm, activation and norm.
struct ProxyShape {
  int d_model = 0;  // required
  int n_layers = 0; // 0 = min(the real depth, 4)
  int d_head = 16;
  int vocab = 0; // 0 = inherit the reference's
};
// "d_model=64,n_layers=2,d_head=16,vocab=256" → ProxyShape; UsageError naming the bad item.
ProxyShape parse_proxy(const std::string& text);
// The proxy of `real`; `notes` receives one line per choice made (rounded widths, the
// first_k_dense scaled to the depth, heads rounded to the GQA group).
ModelSpec make_proxy(const ModelSpec& real, const ProxyShape& p, std::vector<std::string>* notes);

// The target name of a config file: its folder's name for ".../NAME/config.json", else the
// file's stem ("mixtral-8x7b.json" → "mixtral-8x7b"), cut to muE's name rule.
std::string target_name_for(const std::string& path);

// `muE import`: one mue.targets/1 document with one target per config file (its real shapes,
// or its proxy), each described (family, approximations, notes). `names` is empty or one
// name per file. `warnings` receives "FILE: POINTER: what → what instead" per approximation.
// The document is checked as a targets file before it is returned. InputError as
// import_hf_config; UsageError for names that do not fit.
Json import_targets(const std::vector<std::string>& files, const std::vector<std::string>& names,
                    bool approximate, const std::optional<ProxyShape>& proxy,
                    std::vector<std::string>* warnings);

} // namespace mue
