#pragma once
// ModelSpec: the transformer's shape (docs/design.md "Core types", docs/method.md §1-2).
#include <string>

#include "util/json.h"
#include "util/json_writer.h"

namespace mue {

enum class FfnKind { kDense, kMoe };
enum class Activation { kGelu, kRelu, kSwiglu };
enum class NormKind { kRmsNorm, kLayerNorm };

struct RouterSpec {
  double aux_loss_coef = 0.0; // load-balance loss coefficient (not transferred)
};

struct FfnSpec {
  FfnKind kind = FfnKind::kDense;
  int d_ff = 0; // dense: hidden width (for GLU, the post-gate width)
  // MoE (docs/method.md §1): N, a, h, n_s, h_s, g.
  int n_experts = 0;
  int active = 0;
  int d_expert = 0;
  int shared = 0;
  int d_shared = 0;
  int groups = 1;
  RouterSpec router;

  bool is_moe() const { return kind == FfnKind::kMoe; }
  // H_act: d_ff (dense), a·h + n_s·h_s (MoE).
  long long active_width() const;
  // Naming of docs/method.md §1, e.g. "128e8a4g1s" (groups and shared only when not default).
  std::string layout_name() const;
  // Empty, or why the router of this MoE cannot learn from the loss (docs/method.md §11.5): the
  // gates are renormalized over the selected experts, so one selected expert (a = 1, or a/g = 1
  // when `per_group` normalization renormalizes inside each group) always gets gate 1 and the
  // router's gradient from the loss is zero. `validate` and `transfer` print it as a warning.
  std::string degenerate_gate(bool per_group) const;
};

struct ModelSpec {
  int vocab = 0;
  int d_model = 0;
  int n_layers = 0;
  int n_heads = 0;
  int d_head = 0;
  int seq_len = 0;
  FfnSpec ffn;
  NormKind norm = NormKind::kRmsNorm;
  Activation activation = Activation::kGelu;
};

// Parses a model object. With `base`, absent fields inherit from it (a target's
// partial model); an `ffn` object, when present, is always complete on its own.
// With `partial` and no base, absent fields stay 0 ("unknown") and cross-field
// checks that need them are skipped (validating a targets file without its reference).
ModelSpec parse_model(const Json& j, const Where& where, const ModelSpec* base = nullptr,
                      bool partial = false);
FfnSpec parse_ffn(const Json& j, const Where& where);
// The JSON form, written by a streaming writer (the one definition; to_json parses it).
void write_json(JsonWriter& w, const ModelSpec& m);
void write_json(JsonWriter& w, const FfnSpec& f);
Json to_json(const ModelSpec& m);
Json to_json(const FfnSpec& f);

const char* to_string(Activation a);
const char* to_string(NormKind n);

} // namespace mue
