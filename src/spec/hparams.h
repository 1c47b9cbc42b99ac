#pragma once
// HParams: the swept values of the reference (docs/method.md §1: η⋆, λ⋆, σ⋆, ε⋆, β⋆).
#include <map>
#include <optional>
#include <string>

#include "spec/groups.h"
#include "util/json.h"

namespace mue {

struct GroupOverride {
  std::optional<double> lr, wd, init_std;
};

struct HParams {
  double lr = 0;       // η: base learning rate (> 0)
  double wd = 0;       // λ: coupled AdamW weight decay (>= 0)
  double init_std = 0; // σ: base init std (> 0)
  // Adam scalars; absent = the train spec's optimizer values.
  std::optional<double> eps, beta1, beta2;
  // Tunable forward multipliers (docs/method.md §11.10): α_emb on the embedding output,
  // α_out on the logits, α_attn on the attention scores. Constants a sweep may tune on the
  // reference like lr; carried unchanged to every target, under §4's width factors.
  // Absent = 1.
  std::optional<double> alpha_emb, alpha_out, alpha_attn;
  // Absolute per-group values that replace what the table would give.
  std::map<ParamGroup, GroupOverride> overrides;
};

// `partial`: lr/wd/init_std may be absent (a sweep whose axes supply them). An unknown
// group under /overrides is an InputError naming its pointer.
HParams parse_hparams(const Json& j, const Where& where, bool partial = false);
Json to_json(const HParams& h);

} // namespace mue
