#include "transfer/trace.h"

#include <cmath>
#include <cstdio>

namespace mue {

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

void write_json(JsonWriter& w, const Traced& t) {
  // A value no factor touched is written as {value, base_reason}: base = value, no trace.
  w.begin_object().key("value").value(t.value).key("base_reason").value(t.base_reason);
  if (t.trace.empty()) {
    w.end_object();
    return;
  }
  w.key("base").value(t.base).key("trace").begin_array();
  for (const auto& f : t.trace)
    w.begin_object()
        .key("rule")
        .value(f.rule)
        .key("factor")
        .value(f.factor)
        .key("reason")
        .value(f.reason)
        .end_object();
  w.end_array().end_object();
}

Json to_json(const Traced& t) {
  return writer_to_json(t);
}

Traced traced_from_json(const Json& j, const Where& where) {
  ObjectReader r(j, where);
  Traced t;
  t.value = r.number("value");
  t.base_reason = r.string("base_reason");
  if (!r.has("trace")) {
    t.base = t.value;
    r.finish();
    return t;
  }
  t.base = r.number("base");
  const Json& steps = as_array(r.raw("trace"), r.at("trace"));
  for (std::size_t i = 0; i < steps.size(); ++i) {
    ObjectReader s(steps[i], r.at("trace").at(i));
    t.trace.push_back(Factor{s.string("rule"), s.number("factor"), s.string("reason")});
    s.finish();
  }
  r.finish();
  return t;
}

} // namespace mue
