#include "spec/hparams.h"

namespace mue {

HParams parse_hparams(const Json& j, const Where& where, bool partial) {
  ObjectReader r(j, where);
  HParams h;
  auto req = [&](const char* key, double& out, bool positive) {
    if (!r.has(key)) {
      if (!partial) r.fail(key, "required field is missing");
      return;
    }
    out = r.number(key);
    if (positive)
      require_positive(out, r.at(key));
    else
      require_non_negative(out, r.at(key));
  };
  req("lr", h.lr, true);
  req("wd", h.wd, false);
  req("init_std", h.init_std, true);
  if ((h.eps = r.opt_number("eps"))) require_positive(*h.eps, r.at("eps"));
  if ((h.beta1 = r.opt_number("beta1"))) require_in_unit_open(*h.beta1, r.at("beta1"));
  if ((h.beta2 = r.opt_number("beta2"))) require_in_unit_open(*h.beta2, r.at("beta2"));
  if ((h.alpha_emb = r.opt_number("alpha_emb"))) require_positive(*h.alpha_emb, r.at("alpha_emb"));
  if ((h.alpha_out = r.opt_number("alpha_out"))) require_positive(*h.alpha_out, r.at("alpha_out"));
  if ((h.alpha_attn = r.opt_number("alpha_attn")))
    require_positive(*h.alpha_attn, r.at("alpha_attn"));
  if (r.has("overrides")) {
    ObjectReader o = r.object("overrides");
    for (const auto& [group, val] : r.raw("overrides").items()) {
      const auto parsed = parse_param_group(group);
      if (!parsed)
        o.fail(group,
               "unknown parameter group '" + group + "' (groups: " + param_group_list() + ")");
      o.mark_known(group);
      ObjectReader g(val, o.at(group));
      GroupOverride go;
      if ((go.lr = g.opt_number("lr"))) require_positive(*go.lr, g.at("lr"));
      if ((go.wd = g.opt_number("wd"))) require_non_negative(*go.wd, g.at("wd"));
      if ((go.init_std = g.opt_number("init_std")))
        require_non_negative(*go.init_std, g.at("init_std"));
      g.finish();
      h.overrides[*parsed] = go;
    }
    o.finish();
  }
  r.finish();
  return h;
}

Json to_json(const HParams& h) {
  Json j{{"lr", h.lr}, {"wd", h.wd}, {"init_std", h.init_std}};
  if (h.eps) j["eps"] = *h.eps;
  if (h.beta1) j["beta1"] = *h.beta1;
  if (h.beta2) j["beta2"] = *h.beta2;
  if (h.alpha_emb) j["alpha_emb"] = *h.alpha_emb;
  if (h.alpha_out) j["alpha_out"] = *h.alpha_out;
  if (h.alpha_attn) j["alpha_attn"] = *h.alpha_attn;
  if (!h.overrides.empty()) {
    Json o = Json::object();
    for (const auto& [g, go] : h.overrides) {
      Json e = Json::object();
      if (go.lr) e["lr"] = *go.lr;
      if (go.wd) e["wd"] = *go.wd;
      if (go.init_std) e["init_std"] = *go.init_std;
      o[to_string(g)] = e;
    }
    j["overrides"] = o;
  }
  return j;
}

} // namespace mue
