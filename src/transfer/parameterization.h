#pragma once
// Parameterization: the single table a backend consumes (docs/design.md "Core types").
#include <map>
#include <string>
#include <vector>

#include "spec/groups.h"
#include "spec/options.h"
#include "transfer/trace.h"
#include "util/json.h"
#include "util/json_writer.h"

namespace mue {

struct GroupParams {
  Traced init_std;   // std of the normal init (norm gains: 0, they start at exactly 1)
  Traced lr;         // Adam lr (the schedule multiplies it)
  Traced wd;         // coupled AdamW weight decay
  Traced multiplier; // forward multiplier on the layer output
  Traced eps;        // Adam eps
};

struct OptimizerParams {
  Traced lr, wd, eps;
  Traced one_minus_beta1, one_minus_beta2; // the SDE rules scale 1-β
  double beta1() const { return 1 - one_minus_beta1.value; }
  double beta2() const { return 1 - one_minus_beta2.value; }
};

struct Scalars {
  Traced H_act;               // active FFN width (fan-in of the down projections)
  Traced A;                   // output multiplier of every down projection
  Traced route_scale;         // R on the normalized routed sum (1 for dense)
  Traced shared_scale;        // shared experts' scale (1)
  Traced residual_multiplier; // r on every residual branch
  Traced attention_scale;     // on q·k
  Traced output_multiplier;   // on the logits
};

struct Ratios {
  double rho_d = 1, m_L = 1, rho_B = 1, rho_D = 1, rho_T = 1, k_sde = 1;
};

struct Parameterization {
  std::map<ParamGroup, GroupParams> groups; // only the groups the model has
  OptimizerParams optimizer;
  Scalars scalars;
  Ratios ratios;
  std::map<ParamGroup, double> sigma0_ratio; // Bridge II diagnostic per group
  std::vector<std::string> route;            // the steps taken, in words
  std::vector<std::string> warnings;
  // Balanced groups (g > 1) renormalize their gates inside each group rather than over all a
  // selected experts (routing_normalization per_group, docs/method.md §9 row 9; R = a/g).
  // Written to JSON only when true.
  bool per_group_gates = false;
};

// Writes the table's fields (groups, optimizer, scalars, ratios, diagnostics,
// route, warnings) into the object the writer has open. This is the one
// definition of the table's JSON form; to_json parses what it writes. Objects keyed by
// group list the groups by name (param_groups_by_name).
void write_fields(JsonWriter& w, const Parameterization& p);
Json to_json(const Parameterization& p);
// InputError naming the JSON pointer for a malformed table or an unknown group name.
Parameterization parameterization_from_json(const Json& j, const Where& where);

} // namespace mue
