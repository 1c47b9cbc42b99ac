#pragma once
// The open choices of docs/method.md §9, with their defaults.
#include "util/json.h"

namespace mue {

enum class HeadRule { kBlog, kMup };
enum class WdWidthScaling { kNone, kIndependent };
enum class RouterRule { kHidden, kReadout };
enum class BetaScaling { kSde, kNone };
enum class EpsRule { kGlobal, kCompleteP };
enum class RoutingNormalization { kGlobal, kPerGroup };
enum class AttentionScale { kInvDHead, kInvSqrtDHead };
// §9 row 12: Bridge II's expert gradient-noise shift σ0 is reported (none) or cancelled in the
// routed experts' lr, with wd moved the other way so the per-step decay lr·wd is kept.
enum class Sigma0Correction { kNone, kExpertLr };
// Not a choice of docs/method.md §9: `standard` is the baseline muE is measured against
// (PyTorch-default init, the reference's lr/wd reused unchanged, no multipliers).
enum class ParameterizationKind { kMue, kStandard };

// Defaults: rows 1 and 4 were chosen by measurement (bench/transfer_quality, docs/results.md):
// head_rule mup (the blog's head rule lost 0.6% loss at 2x and 4x width and made the wider model
// worse) and γ = 0.2813 (lower loss at 2x duration than ½). The rest are the blog's choices,
// which the same run kept (rows 2, 5, 12) or could not separate.
struct TransferOptions {
  HeadRule head_rule = HeadRule::kMup;                                        // §9 row 1
  WdWidthScaling wd_width_scaling = WdWidthScaling::kNone;                    // row 2
  RouterRule router_rule = RouterRule::kHidden;                               // row 3
  double duration_exponent = 0.2813;                                          // row 4 (γ)
  BetaScaling beta_scaling = BetaScaling::kSde;                               // row 5
  EpsRule eps_rule = EpsRule::kGlobal;                                        // row 6
  double depth_alpha = 1.0;                                                   // row 7 (α)
  RoutingNormalization routing_normalization = RoutingNormalization::kGlobal; // row 9
  AttentionScale attention_scale = AttentionScale::kInvDHead;                 // row 10
  bool wd_embedding = true;                                                   // row 11
  Sigma0Correction sigma0_correction = Sigma0Correction::kNone;               // row 12
  ParameterizationKind parameterization = ParameterizationKind::kMue;         // baseline switch
};

bool operator==(const TransferOptions& a, const TransferOptions& b);
inline bool operator!=(const TransferOptions& a, const TransferOptions& b) {
  return !(a == b);
}

// Reads an options object on top of `base` (file-level options, then per-target ones).
TransferOptions parse_options(const Json& j, const Where& where, const TransferOptions& base = {});
Json to_json(const TransferOptions& o);

// docs/method.md §11.4: tied embeddings cannot follow head_rule blog (one matrix cannot take
// the embedding's σ, η and the blog head's σ/√ρ_d, η/ρ_d). InputError at `tie_at` (the
// model's tie_embeddings field) when `tied` and the options ask for both; else nothing.
void check_tied_head(bool tied, const TransferOptions& o, const Where& tie_at);

} // namespace mue
