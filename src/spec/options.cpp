#include "spec/options.h"

namespace mue {

TransferOptions parse_options(const Json& j, const Where& where, const TransferOptions& base) {
  ObjectReader r(j, where);
  TransferOptions o = base;
  if (auto v = r.opt_choice("head_rule", {"blog", "mup"}))
    o.head_rule = *v == "blog" ? HeadRule::kBlog : HeadRule::kMup;
  if (auto v = r.opt_choice("wd_width_scaling", {"none", "independent"}))
    o.wd_width_scaling = *v == "none" ? WdWidthScaling::kNone : WdWidthScaling::kIndependent;
  if (auto v = r.opt_choice("router_rule", {"hidden", "readout"}))
    o.router_rule = *v == "hidden" ? RouterRule::kHidden : RouterRule::kReadout;
  if (auto v = r.opt_number("duration_exponent")) {
    if (!(*v >= 0 && *v <= 1)) r.fail("duration_exponent", "must be in [0, 1]");
    o.duration_exponent = *v;
  }
  if (auto v = r.opt_choice("beta_scaling", {"sde", "none"}))
    o.beta_scaling = *v == "sde" ? BetaScaling::kSde : BetaScaling::kNone;
  if (auto v = r.opt_choice("eps_rule", {"global", "completep"}))
    o.eps_rule = *v == "global" ? EpsRule::kGlobal : EpsRule::kCompleteP;
  if (auto v = r.opt_number("depth_alpha")) {
    if (!(*v >= 0.5 && *v <= 1)) r.fail("depth_alpha", "must be in [0.5, 1] (CompleteP uses 1)");
    o.depth_alpha = *v;
  }
  if (auto v = r.opt_choice("routing_normalization", {"global", "per_group"}))
    o.routing_normalization =
        *v == "global" ? RoutingNormalization::kGlobal : RoutingNormalization::kPerGroup;
  if (auto v = r.opt_choice("attention_scale", {"inv_dhead", "inv_sqrt_dhead"}))
    o.attention_scale =
        *v == "inv_dhead" ? AttentionScale::kInvDHead : AttentionScale::kInvSqrtDHead;
  if (auto v = r.opt_boolean("wd_embedding")) o.wd_embedding = *v;
  if (auto v = r.opt_choice("sigma0_correction", {"none", "expert_lr"}))
    o.sigma0_correction = *v == "none" ? Sigma0Correction::kNone : Sigma0Correction::kExpertLr;
  if (auto v = r.opt_choice("parameterization", {"mue", "standard"}))
    o.parameterization = *v == "mue" ? ParameterizationKind::kMue : ParameterizationKind::kStandard;
  r.finish();
  return o;
}

bool operator==(const TransferOptions& a, const TransferOptions& b) {
  return a.head_rule == b.head_rule && a.wd_width_scaling == b.wd_width_scaling &&
         a.router_rule == b.router_rule && a.duration_exponent == b.duration_exponent &&
         a.beta_scaling == b.beta_scaling && a.eps_rule == b.eps_rule &&
         a.depth_alpha == b.depth_alpha && a.routing_normalization == b.routing_normalization &&
         a.attention_scale == b.attention_scale && a.wd_embedding == b.wd_embedding &&
         a.parameterization == b.parameterization && a.sigma0_correction == b.sigma0_correction;
}

Json to_json(const TransferOptions& o) {
  Json j{{"head_rule", o.head_rule == HeadRule::kBlog ? "blog" : "mup"},
         {"wd_width_scaling", o.wd_width_scaling == WdWidthScaling::kNone ? "none" : "independent"},
         {"router_rule", o.router_rule == RouterRule::kHidden ? "hidden" : "readout"},
         {"duration_exponent", o.duration_exponent},
         {"beta_scaling", o.beta_scaling == BetaScaling::kSde ? "sde" : "none"},
         {"eps_rule", o.eps_rule == EpsRule::kGlobal ? "global" : "completep"},
         {"depth_alpha", o.depth_alpha},
         {"routing_normalization",
          o.routing_normalization == RoutingNormalization::kGlobal ? "global" : "per_group"},
         {"attention_scale",
          o.attention_scale == AttentionScale::kInvDHead ? "inv_dhead" : "inv_sqrt_dhead"},
         {"wd_embedding", o.wd_embedding}};
  // Written only for the baseline, so the canonical form (and trial ids) of muE runs is unchanged.
  if (o.parameterization == ParameterizationKind::kStandard) j["parameterization"] = "standard";
  // Likewise written only when set (added after trial ids were in use).
  if (o.sigma0_correction == Sigma0Correction::kExpertLr) j["sigma0_correction"] = "expert_lr";
  return j;
}

void check_tied_head(bool tied, const TransferOptions& o, const Where& tie_at) {
  if (!tied || o.head_rule != HeadRule::kBlog || o.parameterization != ParameterizationKind::kMue)
    return;
  tie_at.fail("tied embeddings cannot follow head_rule blog: one matrix cannot take the "
              "embedding's init σ and lr η (muP.input) and the blog head's σ/√ρ_d and η/ρ_d at "
              "once (docs/method.md §11.4); set the option head_rule: mup, under which both "
              "roles agree, or untie the embeddings");
}

} // namespace mue
