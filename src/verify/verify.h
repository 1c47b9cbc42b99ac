#pragma once
// muE verify as library functions (docs/design.md "verify"): read a transfer report, plan a
// small sweep around the bridged value of each target × axis, judge the drift between the
// bridged and the empirical optimum, and render verify.json, the table and JUnit XML.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fit/fit.h"
#include "report/transfer_report.h"
#include "spec/schemas.h"
#include "spec/sweep_spec.h"
#include "sweep/engine.h"
#include "sweep/plan.h"
#include "util/json.h"

namespace mue {

// A target of the transfer report (src/report/transfer_report.h reads it).
using VerifyTarget = ReportedTarget;

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
// With an adaptive `search` the points are a lattice (sweep/adaptive.h) whose first round is
// both ends and the bridged value (coarse_step = the half-width); `trials` holds that round.
VerifyCase plan_case(const VerifyTarget& t, const std::string& axis, int points, double step,
                     int seeds, const Objective& objective, double timeout_s,
                     const std::string& file, const SearchSpec& search = {});

enum class Verdict { kPass, kFail, kInconclusive };
const char* to_string(Verdict v);

struct CaseOutcome {
  bool usable = false;  // the fit found at least one usable point
  double empirical = 0; // optimum on the target's scale (bridged × 2^drift)
  double ci_low = 0, ci_high = 0;
  double drift = 0, drift_ci_low = 0, drift_ci_high = 0; // log2(empirical / bridged)
  bool at_edge = false;       // the best measured value is the smallest or largest of the grid
  bool fitted_beyond = false; // at_edge, and the fitted optimum lies beyond that end
  double half_width = 0;
  std::optional<double> gap;  // objective at the bridged value − best objective
  bool bridged_usable = true; // the bridged point itself trained without diverging
  std::string method;
  double r2 = 0;
  // No usable trial: the most common first line of the trials' errors (empty when none said).
  std::string error;
  Verdict verdict = Verdict::kFail;
  std::string message;
  Json grid = Json::array(); // per value: value (target scale), objective, statuses
};

// The gate: pass when the bridged point trained, the optimum is not at the grid's edge
// and |drift| <= tolerance or the drift's CI contains 0; inconclusive at the edge while
// the grid's half-width is within the tolerance (beyond it, a best point at the edge is
// a drift past the tolerance: fail); fail otherwise (no usable trial, or a bridged
// point that diverged or failed). At the edge means the best measured value is at the
// grid's end (an interior best point is fitted inside the grid; src/fit); the message
// says that, and whether the fitted optimum lies beyond.
Verdict judge(const CaseOutcome& o, double tolerance, std::string* message);

// Fits one case from the journal and judges it. When no trial is usable, `error` and the
// message say why: the first line of the trials' common error, or the most common one.
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

// ---- the whole of `muE verify`, step by step (cli/cmd_verify.cpp calls these in order) ----

// What `muE verify` was asked.
struct VerifyRequest {
  std::string transfer_file;        // transfer.json
  std::vector<std::string> targets; // empty: every target of the report
  std::vector<std::string> axes;    // empty: lr
  int points = 5, seeds = 1;
  double step = 0.5, tolerance = 1.0, timeout_s = 3600;
  Objective objective;      // default mean_last_k:2 (see parse_objective_flag)
  std::string backend_file; // non-empty: every case trains through this backend
  SearchSpec search;        // --search adaptive: each case's points chosen round by round
};

// "final_val_loss" or "mean_last_k:K" (K > 0); UsageError otherwise.
Objective parse_objective_flag(const std::string& s);

// The cases (target × axis) and the trials they need, deduplicated by trial id (one journal
// serves every case: trials are content-addressed).
struct VerifyPlan {
  std::vector<VerifyCase> cases;
  std::vector<PlannedTrial> trials;
  std::map<std::string, std::string> names; // trial id -> "target lr=… (+0.50 log2) seed 0"
  std::size_t n_targets = 0;
  std::string title; // "muE verify: 3 target(s) × 1 axis(es), 5 points 0.5 log2 apart × 1 seed(s)"
};
// Reads the transfer report and the backend file (relative paths in it resolve beside it),
// picks the targets (UsageError naming the known ones for an unknown name) and plans each
// case (plan_case's errors).
VerifyPlan plan_verify(const VerifyRequest& r);

// --search adaptive: replays every case's search over `done` (sweep/adaptive.h), sets each
// case's trials to its rounds so far and the plan's trials to their union; true once every
// case's search has finished (always true for a grid).
bool advance_verify_search(VerifyPlan& plan, const std::string& file,
                           const std::map<std::string, TrialResult>& done);

// One judged case as verify.json holds it.
struct CaseReport {
  std::string target, axis;
  double bridged = 0, reference = 0;
  CaseOutcome outcome;
};

// verify.json (schema mue.verify/1): the verdicts, the request, the trial counts and the
// environment. to_json and parse_verify_report are each other's inverse.
struct VerifyReport {
  std::string transfer_file;
  std::string verdict; // pass | fail | inconclusive
  std::size_t n_pass = 0, n_fail = 0, n_inconclusive = 0;
  double tolerance = 1, step = 0.5;
  int points = 5, seeds = 1;
  Objective objective;
  std::string search = "grid"; // grid | adaptive
  std::size_t planned = 0, reused = 0, ran = 0, unusable = 0;
  Json environment = Json::object();
  double wall_s = 0;
  std::vector<CaseReport> cases;
};
// Evaluates every case from the run's journal.
VerifyReport judge_verify(const VerifyPlan& plan, const VerifyRequest& r, const RunOutcome& run,
                          double wall_s);
Json to_json(const VerifyReport& v);
// InputError naming the file and field for another schema or a malformed report.
VerifyReport parse_verify_report(const Json& j, const Where& where);

// Writes DIR/verify.json (atomically), DIR/plots/<target>.svg (with gnuplot) and, when
// `junit_file` is set, the JUnit XML. Returns the plots written.
std::vector<std::string> write_verify_outputs(const VerifyReport& v, const VerifyPlan& plan,
                                              const Journal& journal,
                                              const std::string& junit_file);

// The table and one line per case that did not pass, then the verdict line.
std::string verify_summary(const VerifyReport& v);

// 0 when every case passes; 1 for any fail, or any inconclusive unless allowed.
int verify_exit_code(const VerifyReport& v, bool allow_inconclusive);

} // namespace mue
