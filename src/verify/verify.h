#pragma once
// muE verify as library functions (docs/design.md "verify"): read a transfer report, plan a
// small sweep around the bridged value of each target × axis, judge the drift between the
// bridged and the empirical optimum, and render verify.json, the table and JUnit XML.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fit/fit.h"
#include "spec/schemas.h"
#include "spec/sweep_spec.h"
#include "sweep/plan.h"
#include "util/json.h"

namespace mue {

struct VerifyTarget {
  std::string name;
  RunConfig config;                      // what `muE transfer --emit-configs` writes for it
  std::map<std::string, double> bridged; // "lr", "wd", "init_std": the target's bridged value
};

// The targets of a transfer report (mue.transfer/1). InputError naming the file and the
// field for another schema (version) or a malformed report.
std::vector<VerifyTarget> read_transfer_report(const Json& j, const std::string& file);

// Points along one axis: reference value × 2^(step·j), j = -(points-1)/2 … (points-1)/2,
// so the bridged value is the middle point. points must be odd and >= 3.
struct VerifyCase {
  std::string target, axis;
  double bridged = 0;    // the target's value on this axis (what drift is measured against)
  double reference = 0;  // the swept field's value at offset 0 (the reference hparam)
  double half_width = 0; // log2 units from the bridged value to either end of the grid
  SweepSpec sweep;       // one axis: /hparams/<axis>
  std::vector<PlannedTrial> trials;
};
// UsageError for an even or too small `points`, or an axis whose value is not positive.
VerifyCase plan_case(const VerifyTarget& t, const std::string& axis, int points, double step,
                     int seeds, const Objective& objective, double timeout_s,
                     const std::string& file);

enum class Verdict { kPass, kFail, kInconclusive };
const char* to_string(Verdict v);

struct CaseOutcome {
  bool usable = false;  // the fit found at least one usable point
  double empirical = 0; // optimum on the target's scale (bridged × 2^drift)
  double ci_low = 0, ci_high = 0;
  double drift = 0, drift_ci_low = 0, drift_ci_high = 0; // log2(empirical / bridged)
  bool at_edge = false;
  double half_width = 0;
  std::optional<double> gap;  // objective at the bridged value − best objective
  bool bridged_usable = true; // the bridged point itself trained without diverging
  std::string method;
  double r2 = 0;
  Verdict verdict = Verdict::kFail;
  std::string message;
  Json grid = Json::array(); // per value: value (target scale), objective, statuses
};

// The gate: pass when the bridged point trained, the optimum is not at the grid's edge
// and |drift| <= tolerance or the drift's CI contains 0; inconclusive at the edge while
// the grid's half-width is within the tolerance (beyond it, an optimum past the edge is
// a drift past the tolerance: fail); fail otherwise (no usable trial, or a bridged
// point that diverged or failed).
Verdict judge(const CaseOutcome& o, double tolerance, std::string* message);

// Fits one case from the journal and judges it.
CaseOutcome evaluate_case(const VerifyCase& c, const std::map<std::string, TrialResult>& done,
                          double tolerance);

// Terminal table: target, axis, bridged, empirical, drift [CI], gap, verdict.
std::string verify_table(const std::vector<VerifyCase>& cases,
                         const std::vector<CaseOutcome>& outcomes);

// JUnit XML: one testsuite, one testcase per target × axis (failure / skipped = inconclusive).
std::string junit_xml(const std::vector<VerifyCase>& cases,
                      const std::vector<CaseOutcome>& outcomes, double tolerance, double seconds);

// One SVG per target, a panel per axis: objective vs value, bridged value and fitted
// optimum (with its CI) marked, failures along the top. False without gnuplot.
bool plot_target(const std::string& target, const std::vector<const VerifyCase*>& cases,
                 const std::vector<const CaseOutcome*>& outcomes, const std::string& path);

} // namespace mue
