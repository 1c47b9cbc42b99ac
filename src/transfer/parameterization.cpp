#include "transfer/parameterization.h"

#include "spec/groups.h"

namespace mue {

namespace {
const char* kGroupFields[] = {"init_std", "lr", "wd", "multiplier", "eps"};
const char* kScalarFields[] = {"H_act",        "A",
                               "route_scale",  "shared_scale",
                               "residual_multiplier", "attention_scale",
                               "output_multiplier"};

// One accessor for const and non-const tables.
template <class G>
auto group_field(G& g, std::string_view f) -> decltype(&g.lr) {
  if (f == "init_std") return &g.init_std;
  if (f == "lr") return &g.lr;
  if (f == "wd") return &g.wd;
  if (f == "multiplier") return &g.multiplier;
  return &g.eps;
}
template <class S>
auto scalar_field(S& s, std::string_view f) -> decltype(&s.A) {
  if (f == "H_act") return &s.H_act;
  if (f == "A") return &s.A;
  if (f == "route_scale") return &s.route_scale;
  if (f == "shared_scale") return &s.shared_scale;
  if (f == "residual_multiplier") return &s.residual_multiplier;
  if (f == "attention_scale") return &s.attention_scale;
  return &s.output_multiplier;
}
}  // namespace

Json to_json(const Parameterization& p) {
  Json groups = Json::object();
  for (const auto& [name, g] : p.groups) {
    Json e = Json::object();
    for (const char* f : kGroupFields) e[f] = to_json(*group_field(g, f));
    groups[name] = e;
  }
  Json scalars = Json::object();
  for (const char* f : kScalarFields)
    scalars[f] = to_json(*scalar_field(p.scalars, f));
  const auto& o = p.optimizer;
  return Json{
      {"groups", groups},
      {"optimizer",
       {{"lr", to_json(o.lr)},
        {"wd", to_json(o.wd)},
        {"eps", to_json(o.eps)},
        {"beta1", o.beta1()},
        {"beta2", o.beta2()},
        {"one_minus_beta1", to_json(o.one_minus_beta1)},
        {"one_minus_beta2", to_json(o.one_minus_beta2)}}},
      {"scalars", scalars},
      {"ratios",
       {{"rho_d", p.ratios.rho_d},
        {"m_L", p.ratios.m_L},
        {"rho_B", p.ratios.rho_B},
        {"rho_D", p.ratios.rho_D},
        {"rho_T", p.ratios.rho_T},
        {"k_sde", p.ratios.k_sde}}},
      {"diagnostics", {{"sigma0_ratio", p.sigma0_ratio}}},
      {"route", p.route},
      {"warnings", p.warnings}};
}

Parameterization parameterization_from_json(const Json& j, const Where& where) {
  ObjectReader r(j, where);
  Parameterization p;
  ObjectReader gr = r.object("groups");
  for (const auto& [name, val] : r.raw("groups").items()) {
    if (!is_param_group(name)) gr.fail(name, "unknown parameter group '" + name + "'");
    gr.mark_known(name);
    ObjectReader fr(val, gr.at(name));
    GroupParams g;
    for (const char* f : kGroupFields) *group_field(g, f) = traced_from_json(fr.raw(f), fr.at(f));
    fr.finish();
    p.groups[name] = g;
  }
  gr.finish();
  ObjectReader o = r.object("optimizer");
  p.optimizer.lr = traced_from_json(o.raw("lr"), o.at("lr"));
  p.optimizer.wd = traced_from_json(o.raw("wd"), o.at("wd"));
  p.optimizer.eps = traced_from_json(o.raw("eps"), o.at("eps"));
  p.optimizer.one_minus_beta1 = traced_from_json(o.raw("one_minus_beta1"), o.at("one_minus_beta1"));
  p.optimizer.one_minus_beta2 = traced_from_json(o.raw("one_minus_beta2"), o.at("one_minus_beta2"));
  o.number("beta1");
  o.number("beta2");
  o.finish();
  ObjectReader s = r.object("scalars");
  for (const char* f : kScalarFields) *scalar_field(p.scalars, f) = traced_from_json(s.raw(f), s.at(f));
  s.finish();
  ObjectReader ra = r.object("ratios");
  p.ratios = Ratios{ra.number("rho_d"), ra.number("m_L"),  ra.number("rho_B"),
                    ra.number("rho_D"), ra.number("rho_T"), ra.number("k_sde")};
  ra.finish();
  ObjectReader d = r.object("diagnostics");
  ObjectReader sg = d.object("sigma0_ratio");
  for (const auto& [name, val] : d.raw("sigma0_ratio").items()) {
    sg.mark_known(name);
    p.sigma0_ratio[name] = as_number(val, sg.at(name));
  }
  sg.finish();
  d.finish();
  for (const auto* key : {"route", "warnings"}) {
    const Json& arr = as_array(r.raw(key), r.at(key));
    auto& out = std::string_view(key) == "route" ? p.route : p.warnings;
    for (std::size_t i = 0; i < arr.size(); ++i) out.push_back(as_string(arr[i], r.at(key).at(i)));
  }
  r.finish();
  return p;
}

}  // namespace mue
