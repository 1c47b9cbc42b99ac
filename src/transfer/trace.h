#pragma once
// A value with its derivation: value = base × Π factors, each factor named by
// the THEORY.md rule that produced it.
#include <string>
#include <vector>

#include "util/json.h"

namespace mue {

struct Factor {
  std::string rule;    // a rule id of THEORY.md, e.g. "muP.hidden.lr"
  double factor = 1;
  std::string reason;  // one line: why this factor, with the numbers
};

struct Traced {
  double base = 0;
  double value = 0;
  std::string base_reason;  // where the base came from, e.g. "reference lr η⋆"
  std::vector<Factor> trace;

  Traced() = default;
  Traced(double b, std::string why) : base(b), value(b), base_reason(std::move(why)) {}

  Traced& apply(const char* rule, double factor, std::string reason) {
    value *= factor;
    trace.push_back(Factor{rule, factor, std::move(reason)});
    return *this;
  }
};

Json to_json(const Traced& t);
Traced traced_from_json(const Json& j, const Where& where);

// Short numeric formatting for reasons and tables ("0.0106066", "1/8", "×4").
std::string fmt(double v);

}  // namespace mue
