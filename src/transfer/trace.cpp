#include "transfer/trace.h"

#include <cmath>
#include <cstdio>

namespace mue {

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

Json to_json(const Traced& t) {
  Json steps = Json::array();
  for (const auto& f : t.trace)
    steps.push_back(Json{{"rule", f.rule}, {"factor", f.factor}, {"reason", f.reason}});
  return Json{{"value", t.value}, {"base", t.base}, {"base_reason", t.base_reason}, {"trace", steps}};
}

Traced traced_from_json(const Json& j, const Where& where) {
  ObjectReader r(j, where);
  Traced t;
  t.value = r.number("value");
  t.base = r.number("base");
  t.base_reason = r.string("base_reason");
  const Json& steps = as_array(r.raw("trace"), r.at("trace"));
  for (std::size_t i = 0; i < steps.size(); ++i) {
    ObjectReader s(steps[i], r.at("trace").at(i));
    t.trace.push_back(Factor{s.string("rule"), s.number("factor"), s.string("reason")});
    s.finish();
  }
  r.finish();
  return t;
}

}  // namespace mue
