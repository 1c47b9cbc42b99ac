#include "transfer/parameterization.h"

namespace mue {

namespace {
const char* kGroupFields[] = {"init_std", "lr", "wd", "multiplier", "eps"};
const char* kScalarFields[] = {"H_act",
                               "A",
                               "route_scale",
                               "shared_scale",
                               "residual_multiplier",
                               "attention_scale",
                               "output_multiplier"};

// One accessor for const and non-const tables.
template <class G> auto group_field(G& g, std::string_view f) -> decltype(&g.lr) {
  if (f == "init_std") return &g.init_std;
  if (f == "lr") return &g.lr;
  if (f == "wd") return &g.wd;
  if (f == "multiplier") return &g.multiplier;
  return &g.eps;
}
template <class S> auto scalar_field(S& s, std::string_view f) -> decltype(&s.A) {
  if (f == "H_act") return &s.H_act;
  if (f == "A") return &s.A;
  if (f == "route_scale") return &s.route_scale;
  if (f == "shared_scale") return &s.shared_scale;
  if (f == "residual_multiplier") return &s.residual_multiplier;
  if (f == "attention_scale") return &s.attention_scale;
  return &s.output_multiplier;
}
} // namespace

void write_fields(JsonWriter& w, const Parameterization& p) {
  w.key("groups").begin_object();
  for (ParamGroup name : param_groups_by_name()) {
    const auto it = p.groups.find(name);
    if (it == p.groups.end()) continue;
    w.key(to_string(name)).begin_object();
    for (const char* f : kGroupFields)
      write_json(w.key(f), *group_field(it->second, f));
    w.end_object();
  }
  w.end_object();
  const auto& o = p.optimizer;
  w.key("optimizer").begin_object();
  write_json(w.key("lr"), o.lr);
  write_json(w.key("wd"), o.wd);
  write_json(w.key("eps"), o.eps);
  w.key("beta1").value(o.beta1()).key("beta2").value(o.beta2());
  write_json(w.key("one_minus_beta1"), o.one_minus_beta1);
  write_json(w.key("one_minus_beta2"), o.one_minus_beta2);
  w.end_object();
  w.key("scalars").begin_object();
  for (const char* f : kScalarFields)
    write_json(w.key(f), *scalar_field(p.scalars, f));
  w.end_object();
  const Ratios& r = p.ratios;
  w.key("ratios").begin_object().key("rho_d").value(r.rho_d).key("m_L").value(r.m_L);
  w.key("rho_B").value(r.rho_B).key("rho_D").value(r.rho_D).key("rho_T").value(r.rho_T);
  w.key("k_sde").value(r.k_sde).end_object();
  w.key("diagnostics").begin_object().key("sigma0_ratio").begin_object();
  for (ParamGroup g : param_groups_by_name())
    if (const auto it = p.sigma0_ratio.find(g); it != p.sigma0_ratio.end())
      w.key(to_string(g)).value(it->second);
  w.end_object().end_object();
  w.key("route").begin_array();
  for (const auto& s : p.route)
    w.value(s);
  w.end_array().key("warnings").begin_array();
  for (const auto& s : p.warnings)
    w.value(s);
  w.end_array();
  if (p.per_group_gates) w.key("per_group_gates").value(true);
}

Json to_json(const Parameterization& p) {
  std::string s;
  JsonWriter w(s);
  w.begin_object();
  write_fields(w, p);
  w.end_object();
  return Json::parse(s);
}

Parameterization parameterization_from_json(const Json& j, const Where& where) {
  ObjectReader r(j, where);
  Parameterization p;
  ObjectReader gr = r.object("groups");
  for (const auto& [name, val] : r.raw("groups").items()) {
    const auto group = parse_param_group(name);
    if (!group) gr.fail(name, "unknown parameter group '" + name + "'");
    gr.mark_known(name);
    ObjectReader fr(val, gr.at(name));
    GroupParams g;
    for (const char* f : kGroupFields)
      *group_field(g, f) = traced_from_json(fr.raw(f), fr.at(f));
    fr.finish();
    p.groups[*group] = g;
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
  for (const char* f : kScalarFields)
    *scalar_field(p.scalars, f) = traced_from_json(s.raw(f), s.at(f));
  s.finish();
  ObjectReader ra = r.object("ratios");
  p.ratios = Ratios{ra.number("rho_d"), ra.number("m_L"),   ra.number("rho_B"),
                    ra.number("rho_D"), ra.number("rho_T"), ra.number("k_sde")};
  ra.finish();
  ObjectReader d = r.object("diagnostics");
  ObjectReader sg = d.object("sigma0_ratio");
  for (const auto& [name, val] : d.raw("sigma0_ratio").items()) {
    const auto group = parse_param_group(name);
    if (!group) sg.fail(name, "unknown parameter group '" + name + "'");
    sg.mark_known(name);
    p.sigma0_ratio[*group] = as_number(val, sg.at(name));
  }
  sg.finish();
  d.finish();
  for (const auto* key : {"route", "warnings"}) {
    const Json& arr = as_array(r.raw(key), r.at(key));
    auto& out = std::string_view(key) == "route" ? p.route : p.warnings;
    for (std::size_t i = 0; i < arr.size(); ++i)
      out.push_back(as_string(arr[i], r.at(key).at(i)));
  }
  p.per_group_gates = r.opt_boolean("per_group_gates").value_or(false);
  r.finish();
  return p;
}

} // namespace mue
