#pragma once
// A value with its derivation: value = base × Π factors, each factor named by
// the docs/method.md rule that produced it.
#include <string>
#include <vector>

#include "util/json.h"
#include "util/json_writer.h"

namespace mue {

struct Factor {
  std::string rule; // a rule id of docs/method.md, e.g. "muP.hidden.lr"
  double factor = 1;
  std::string reason; // one line: why this factor, with the numbers
};

struct Traced {
  double base = 0;
  double value = 0;
  std::string base_reason; // where the base came from, e.g. "reference lr η⋆"
  std::vector<Factor> trace;

  Traced() = default;
  Traced(double b, std::string why) : base(b), value(b), base_reason(std::move(why)) {}

  // Multiplies by a factor of a rule. A factor of exactly 1 (its ratio is 1 for
  // this target) changes nothing and is not recorded, so a trace lists what moved
  // the value; the reason is only built when recorded.
  template <class ReasonFn> Traced& apply(const char* rule, double factor, ReasonFn&& reason) {
    if (factor == 1) return *this;
    value *= factor;
    trace.push_back(Factor{rule, factor, reason()});
    return *this;
  }
  // Records a rule that applies here with factor 1 by its nature (e.g. Bridge II
  // leaves expert lr unchanged): a statement worth showing, not a no-op.
  Traced& note(const char* rule, std::string reason) {
    trace.push_back(Factor{rule, 1, std::move(reason)});
    return *this;
  }
};

void write_json(JsonWriter& w, const Traced& t);
Json to_json(const Traced& t);
Traced traced_from_json(const Json& j, const Where& where);

// Short numeric formatting for reasons and tables ("0.0106066", "1/8", "×4").
std::string fmt(double v);

} // namespace mue
