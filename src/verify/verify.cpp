#include "verify/verify.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <set>
#include <sstream>
#include <tuple>

#include "report/plot.h"
#include "report/transfer_report.h" // kTransferSchema
#include "spec/paths.h"
#include "sweep/adaptive.h"
#include "util/error.h"
#include "util/fs.h"

namespace mue {
namespace {

std::string num(double v, const char* f = "%.4g") {
  char buf[48];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string xml_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
    case '&':
      o += "&amp;";
      break;
    case '<':
      o += "&lt;";
      break;
    case '>':
      o += "&gt;";
      break;
    case '"':
      o += "&quot;";
      break;
    case '\'':
      o += "&apos;";
      break;
    default:
      o += c;
    }
  }
  return o;
}

} // namespace

const char* to_string(Verdict v) {
  switch (v) {
  case Verdict::kPass:
    return "pass";
  case Verdict::kFail:
    return "fail";
  case Verdict::kInconclusive:
    return "inconclusive";
  }
  return "?";
}

VerifyCase plan_case(const VerifyTarget& t, const std::string& axis, int points, double step,
                     int seeds, const Objective& objective, double timeout_s,
                     const std::string& file, const SearchSpec& search) {
  if (points < 3 || points % 2 == 0)
    throw UsageError("--points " + std::to_string(points) +
                     ": need an odd count >= 3, so the bridged value is the middle point");
  if (axis != "lr" && axis != "wd" && axis != "init_std")
    throw UsageError("--axis " + axis + ": expected lr, wd or init_std");
  VerifyCase c;
  c.target = t.name;
  c.axis = axis;
  c.bridged = t.bridged.at(axis);
  Json base = to_json(t.config);
  base.erase("schema");
  c.reference = base["hparams"][axis].get<double>();
  if (!(c.reference > 0) || !(c.bridged > 0))
    throw UsageError("--axis " + axis + ": target '" + t.name + "' has " + axis + " = " +
                     num(c.bridged) + "; a log2 grid needs a positive value");
  SweepSpec& s = c.sweep;
  s.name = t.name + "/" + axis;
  s.base = base;
  Axis ax;
  ax.key = axis;
  ax.pointer = "/hparams/" + axis;
  ax.log2_grid = true;
  const int half = (points - 1) / 2;
  for (int k = -half; k <= half; ++k)
    ax.values.push_back(c.reference * std::exp2(step * k));
  s.axes = {ax};
  for (int k = 0; k < seeds; ++k)
    s.seeds.push_back(t.config.train.seed + static_cast<std::uint64_t>(k));
  s.objective = objective;
  s.trial_timeout_s = timeout_s;
  s.backend = t.config.backend; // config_at writes the sweep's backend into every trial
  c.half_width = step * half;
  if (search.adaptive) {
    s.search = search;
    s.search.coarse_step = c.half_width; // round 0: both ends and the bridged value
    c.trials = adaptive_state(s, file, {}).plan;
  } else {
    c.trials = plan_sweep(s, file);
  }
  return c;
}

Verdict judge(const CaseOutcome& o, double tolerance, std::string* message) {
  auto say = [&](const std::string& m) {
    if (message) *message = m;
  };
  if (!o.usable) {
    say(o.error.empty() ? "no usable trial: every trial at this target diverged or failed"
                        : "no usable trial: " + o.error);
    return Verdict::kFail;
  }
  if (!o.bridged_usable) {
    say("the bridged value itself diverged or failed");
    return Verdict::kFail;
  }
  if (o.at_edge) {
    // The best measured value is an end of the grid, half_width from the bridged value; an
    // interior best point is fitted inside the grid (src/fit), so it is never here.
    const bool low = o.drift < 0;
    const std::string edge = std::string("the best measured value is the ") +
                             (low ? "smallest" : "largest") + " of the grid" +
                             (o.fitted_beyond ? std::string(" and the fitted optimum lies ") +
                                                    (low ? "below" : "above") + " it"
                                              : std::string());
    if (o.half_width > tolerance) {
      say(edge + ", " + num(o.half_width) + " log2 units from the bridged value (tolerance " +
          num(tolerance) + ")");
      return Verdict::kFail;
    }
    say(edge + "; widen the grid (more --points or a larger --step)");
    return Verdict::kInconclusive;
  }
  const std::string ci =
      "[" + num(o.drift_ci_low, "%+.2f") + ", " + num(o.drift_ci_high, "%+.2f") + "]";
  if (std::abs(o.drift) <= tolerance) {
    say("|drift| " + num(std::abs(o.drift), "%.2f") + " <= tolerance " + num(tolerance));
    return Verdict::kPass;
  }
  if (o.drift_ci_low <= 0 && 0 <= o.drift_ci_high) {
    say("|drift| " + num(std::abs(o.drift), "%.2f") + " > tolerance, but its CI " + ci +
        " contains 0");
    return Verdict::kPass;
  }
  say("|drift| " + num(std::abs(o.drift), "%.2f") + " > tolerance " + num(tolerance) +
      " and its CI " + ci + " excludes 0");
  return Verdict::kFail;
}

CaseOutcome evaluate_case(const VerifyCase& c, const std::map<std::string, TrialResult>& done,
                          double tolerance) {
  CaseOutcome o;
  std::vector<const TrialResult*> unusable;
  o.half_width = c.half_width;
  const std::vector<double>& values = c.sweep.axes[0].values;
  std::vector<FitPoint> points(values.size());
  std::vector<Json> statuses(values.size(), Json::array());
  for (std::size_t i = 0; i < values.size(); ++i)
    points[i].coords = {values[i]};
  for (const auto& t : c.trials) {
    const std::size_t i = static_cast<std::size_t>(
        std::find(values.begin(), values.end(), t.point[0]) - values.begin());
    const auto it = done.find(t.spec.id());
    if (it == done.end()) {
      statuses[i].push_back("missing");
      continue;
    }
    const TrialResult& r = it->second;
    statuses[i].push_back(to_string(r.status));
    if (r.status == TrialStatus::kOk && r.objective) {
      points[i].objectives.push_back(*r.objective);
    } else {
      ++points[i].excluded;
      unusable.push_back(&r);
    }
  }
  const double to_target = c.bridged / c.reference;
  double best = std::numeric_limits<double>::infinity();
  std::vector<std::optional<double>> mean(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!points[i].objectives.empty()) {
      double s = 0;
      for (double v : points[i].objectives)
        s += v;
      mean[i] = s / static_cast<double>(points[i].objectives.size());
      best = std::min(best, *mean[i]);
    }
    o.grid.push_back(Json{{"value", values[i] * to_target},
                          {"offset_log2", std::log2(values[i] / c.reference)},
                          {"objective", mean[i] ? Json(*mean[i]) : Json(nullptr)},
                          {"trials", statuses[i]}});
  }
  const std::size_t middle = values.size() / 2;
  o.bridged_usable = mean[middle].has_value();
  if (o.bridged_usable) o.gap = *mean[middle] - best;
  try {
    const FitResult f = fit_optimum({FitAxis{c.axis, true}}, points);
    o.usable = true;
    o.method = f.method;
    o.r2 = f.r2;
    o.at_edge = f.axes[0].at_edge;
    o.fitted_beyond = f.axes[0].fitted_beyond;
    o.empirical = f.axes[0].value * to_target;
    o.ci_low = f.axes[0].ci_low * to_target;
    o.ci_high = f.axes[0].ci_high * to_target;
    o.drift = std::log2(f.axes[0].value / c.reference);
    o.drift_ci_low = std::log2(f.axes[0].ci_low / c.reference);
    o.drift_ci_high = std::log2(f.axes[0].ci_high / c.reference);
  } catch (const CheckFailedError&) {
    o.usable = false;
    o.error = unusable_reason(unusable);
  }
  o.verdict = judge(o, tolerance, &o.message);
  return o;
}

std::string verify_table(const std::vector<VerifyCase>& cases,
                         const std::vector<CaseOutcome>& outcomes) {
  std::ostringstream t;
  char line[512];
  std::snprintf(line, sizeof line, "%-20s %-8s %-11s %-11s %-22s %-8s %s\n", "target", "axis",
                "bridged", "empirical", "drift (log2) [95% CI]", "gap", "verdict");
  t << line;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const CaseOutcome& o = outcomes[i];
    const std::string emp = o.usable ? num(o.empirical) : "-";
    const std::string drift = o.usable
                                  ? num(o.drift, "%+.2f") + " [" + num(o.drift_ci_low, "%+.2f") +
                                        ", " + num(o.drift_ci_high, "%+.2f") + "]"
                                  : "-";
    const std::string gap = o.gap ? num(*o.gap, "%.4f") : "-";
    std::snprintf(line, sizeof line, "%-20s %-8s %-11s %-11s %-22s %-8s %s",
                  cases[i].target.c_str(), cases[i].axis.c_str(), num(cases[i].bridged).c_str(),
                  emp.c_str(), drift.c_str(), gap.c_str(), to_string(o.verdict));
    t << line;
    if (!o.usable && !o.error.empty()) t << " (" << o.error << ")";
    t << "\n";
  }
  return t.str();
}

std::string junit_xml(const std::vector<VerifyCase>& cases,
                      const std::vector<CaseOutcome>& outcomes, double tolerance, double seconds) {
  std::size_t failures = 0, skipped = 0;
  for (const auto& o : outcomes) {
    failures += o.verdict == Verdict::kFail;
    skipped += o.verdict == Verdict::kInconclusive;
  }
  std::ostringstream x;
  x << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  x << "<testsuites name=\"muE verify\" tests=\"" << cases.size() << "\" failures=\"" << failures
    << "\" skipped=\"" << skipped << "\" time=\"" << num(seconds, "%.3f") << "\">\n";
  x << "  <testsuite name=\"muE verify (tolerance " << num(tolerance) << " log2)\" tests=\""
    << cases.size() << "\" failures=\"" << failures << "\" errors=\"0\" skipped=\"" << skipped
    << "\" time=\"" << num(seconds, "%.3f") << "\">\n";
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const CaseOutcome& o = outcomes[i];
    const std::string summary =
        "bridged " + num(cases[i].bridged) +
        (o.usable ? ", empirical " + num(o.empirical) + ", drift " + num(o.drift, "%+.2f")
                  : std::string()) +
        ": " + o.message;
    x << "    <testcase classname=\"muE.verify." << xml_escape(cases[i].target) << "\" name=\""
      << xml_escape(cases[i].axis) << "\">";
    if (o.verdict == Verdict::kFail)
      x << "\n      <failure message=\"" << xml_escape(summary) << "\" type=\"drift\"/>\n    ";
    else if (o.verdict == Verdict::kInconclusive)
      x << "\n      <skipped message=\"" << xml_escape("inconclusive: " + summary) << "\"/>\n    ";
    else
      x << "\n      <system-out>" << xml_escape(summary) << "</system-out>\n    ";
    x << "</testcase>\n";
  }
  x << "  </testsuite>\n</testsuites>\n";
  return x.str();
}

bool plot_target(const std::string& target, const std::vector<const VerifyCase*>& cases,
                 const std::vector<const CaseOutcome*>& outcomes, const std::string& path) {
  std::ostringstream p;
  p.precision(10);
  const std::size_t n = cases.size();
  if (n == 0) return false;
  p << "set multiplot layout 1," << n << " title " << gnuplot_quote("muE verify: " + target)
    << "\n";
  p << "set logscale x 2\nset format x '%.3g'\nset grid\nset key top left box opaque\n";
  p << "set offsets graph 0.04, graph 0.04, graph 0.08, graph 0.08\n";
  for (std::size_t k = 0; k < n; ++k) {
    const VerifyCase& c = *cases[k];
    const CaseOutcome& o = *outcomes[k];
    double y_lo = std::numeric_limits<double>::infinity(), y_hi = -y_lo;
    std::ostringstream ok, bad;
    ok.precision(10);
    bad.precision(10);
    for (const auto& g : o.grid)
      if (!g["objective"].is_null()) {
        y_lo = std::min(y_lo, g["objective"].get<double>());
        y_hi = std::max(y_hi, g["objective"].get<double>());
      }
    if (!std::isfinite(y_lo)) y_lo = 0, y_hi = 1;
    const double pad = std::max(1e-3, (y_hi - y_lo) * 0.1);
    for (const auto& g : o.grid) {
      if (!g["objective"].is_null())
        ok << g["value"].get<double>() << " " << g["objective"].get<double>() << "\n";
      else
        bad << g["value"].get<double>() << " " << y_hi + 2 * pad << "\n";
    }
    p << "unset object\nunset arrow\nunset label\n";
    p << "set title "
      << gnuplot_quote(c.axis + ": " + to_string(o.verdict) +
                       (o.usable ? ", drift " + num(o.drift, "%+.2f") : ""))
      << "\n";
    p << "set xlabel " << gnuplot_quote(c.axis + " (log scale)") << "\nset ylabel 'objective'\n";
    p << "set yrange [" << y_lo - pad << ":" << y_hi + 3 * pad << "]\n";
    if (o.usable) {
      p << "set object 1 rect from " << o.ci_low << ", graph 0 to " << o.ci_high
        << ", graph 1 fillcolor rgb '#dde8f5' fillstyle solid 1.0 noborder behind\n";
      p << "set arrow 1 from " << o.empirical << ", graph 0 to " << o.empirical
        << ", graph 1 nohead linecolor rgb '#1f4e8c' dashtype 2 linewidth 2\n";
    }
    p << "set arrow 2 from " << c.bridged << ", graph 0 to " << c.bridged
      << ", graph 1 nohead linecolor rgb '#d35400' linewidth 2\n";
    std::vector<std::string> series{
        "'-' using 1:2 with linespoints pointtype 7 linecolor rgb '#6a1b9a' title 'objective'"};
    if (!bad.str().empty())
      series.push_back("'-' using 1:2 with points pointtype 2 pointsize 1.6 linecolor rgb "
                       "'#c0392b' title 'diverged / failed'");
    series.push_back("NaN with lines linecolor rgb '#d35400' linewidth 2 title 'bridged'");
    if (o.usable)
      series.push_back("NaN with lines linecolor rgb '#1f4e8c' dashtype 2 linewidth 2 title "
                       "'fitted optimum (95% CI shaded)'");
    p << "plot ";
    for (std::size_t i = 0; i < series.size(); ++i)
      p << (i ? ", " : "") << series[i];
    p << "\n" << ok.str() << "e\n";
    if (!bad.str().empty()) p << bad.str() << "e\n";
  }
  p << "unset multiplot\n";
  return render_svg(p.str(), path, 520 * static_cast<int>(n) + 80, 480);
}

} // namespace mue

namespace mue {

Objective parse_objective_flag(const std::string& s) {
  Objective o;
  if (s == "final_val_loss") return o;
  if (s.rfind("mean_last_k:", 0) == 0) {
    const std::string k = s.substr(12);
    if (!k.empty() && k.find_first_not_of("0123456789") == std::string::npos && k.size() < 6 &&
        std::stoi(k) > 0) {
      o.kind = ObjectiveKind::kMeanLastK;
      o.k = std::stoi(k);
      return o;
    }
  }
  throw UsageError("--objective " + s + ": expected final_val_loss or mean_last_k:K with K > 0");
}

VerifyPlan plan_verify(const VerifyRequest& r) {
  std::vector<VerifyTarget> all =
      read_transfer_report(read_json_file(r.transfer_file), r.transfer_file);
  if (!r.backend_file.empty()) { // every case trains through this backend (your own trainer)
    // Relative paths in it mean "beside the backend file": parse_backend made them absolute.
    const BackendSpec b = parse_backend(read_json_file(r.backend_file), Where{r.backend_file, ""});
    for (auto& t : all)
      t.config.backend = b;
  }
  std::vector<const VerifyTarget*> chosen;
  for (const auto& t : all)
    if (r.targets.empty()) chosen.push_back(&t);
  for (const auto& name : r.targets) {
    const VerifyTarget* found = nullptr;
    for (const auto& t : all)
      if (t.name == name) found = &t;
    if (!found) {
      std::string known;
      for (const auto& t : all)
        known += (known.empty() ? "" : ", ") + t.name;
      throw UsageError("--targets: '" + name + "' is not a target of " + r.transfer_file +
                       " (it has: " + known + ")");
    }
    chosen.push_back(found);
  }
  // Before any trial runs: every chosen target's data files are there (the error names the
  // field of transfer.json that holds the path).
  for (const VerifyTarget* t : chosen)
    check_data_files(t->config.train, t->where.at("train"), "", t->config.model.seq_len);
  const std::vector<std::string> axes = r.axes.empty() ? std::vector<std::string>{"lr"} : r.axes;
  const double trials =
      static_cast<double>(chosen.size()) * static_cast<double>(axes.size()) * r.points * r.seeds;
  if (trials > static_cast<double>(kMaxTrials))
    throw UsageError(std::to_string(chosen.size()) + " targets × " + std::to_string(axes.size()) +
                     " axes × " + std::to_string(r.points) + " points × " +
                     std::to_string(r.seeds) +
                     " seeds = " + std::to_string(static_cast<long long>(trials)) +
                     " trials; at most " + std::to_string(kMaxTrials) + " per run");
  VerifyPlan p;
  p.n_targets = chosen.size();
  for (const VerifyTarget* t : chosen)
    for (const auto& axis : axes)
      p.cases.push_back(plan_case(*t, axis, r.points, r.step, r.seeds, r.objective, r.timeout_s,
                                  r.transfer_file, r.search));
  // Names for every trial a case may run (an adaptive case's later rounds included: its whole
  // lattice; a grid case's trials are all planned already).
  for (const auto& c : p.cases)
    for (const auto& t :
         c.sweep.search.adaptive ? plan_sweep(c.sweep, r.transfer_file) : c.trials) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%s=%.4g (%+.2f log2)", c.axis.c_str(),
                    t.point[0] * c.bridged / c.reference, std::log2(t.point[0] / c.reference));
      p.names.emplace(t.spec.id(), c.target + " " + buf + " seed " + std::to_string(t.seed));
    }
  std::set<std::string> seen;
  for (const auto& c : p.cases)
    for (const auto& t : c.trials)
      if (seen.insert(t.spec.id()).second) p.trials.push_back(t);
  std::ostringstream title;
  title << "muE verify: " << chosen.size() << " target(s) × " << axes.size() << " axis(es), "
        << r.points << " points " << r.step << " log2 apart × " << r.seeds << " seed(s)"
        << (r.search.adaptive ? ", adaptive search" : "");
  p.title = title.str();
  return p;
}

bool advance_verify_search(VerifyPlan& plan, const std::string& file,
                           const std::map<std::string, TrialResult>& done) {
  bool finished = true;
  for (auto& c : plan.cases) {
    if (!c.sweep.search.adaptive) continue;
    const AdaptiveState st = adaptive_state(c.sweep, file, done);
    c.trials = st.plan;
    finished = finished && st.finished;
  }
  plan.trials.clear();
  std::set<std::string> seen;
  for (const auto& c : plan.cases)
    for (const auto& t : c.trials)
      if (seen.insert(t.spec.id()).second) plan.trials.push_back(t);
  return finished;
}

VerifyReport judge_verify(const VerifyPlan& plan, const VerifyRequest& r, const RunOutcome& run,
                          double wall_s) {
  VerifyReport v;
  v.search = r.search.adaptive ? "adaptive" : "grid";
  v.transfer_file = r.transfer_file;
  v.tolerance = r.tolerance;
  v.step = r.step;
  v.points = r.points;
  v.seeds = r.seeds;
  v.objective = r.objective;
  v.planned = plan.trials.size();
  v.reused = run.reused;
  v.ran = run.ran;
  v.unusable = run.unusable;
  v.environment = run.environment;
  v.wall_s = wall_s;
  for (const auto& c : plan.cases) {
    CaseReport cr{c.target, c.axis, c.bridged, c.reference,
                  evaluate_case(c, run.done, r.tolerance)};
    v.n_pass += cr.outcome.verdict == Verdict::kPass;
    v.n_fail += cr.outcome.verdict == Verdict::kFail;
    v.n_inconclusive += cr.outcome.verdict == Verdict::kInconclusive;
    v.cases.push_back(std::move(cr));
  }
  v.verdict = v.n_fail ? "fail" : v.n_inconclusive ? "inconclusive" : "pass";
  return v;
}

Json to_json(const VerifyReport& v) {
  Json cases = Json::array();
  for (const auto& c : v.cases) {
    const CaseOutcome& oc = c.outcome;
    Json jc{{"target", c.target},
            {"axis", c.axis},
            {"bridged", c.bridged},
            {"reference_value", c.reference},
            {"verdict", to_string(oc.verdict)},
            {"message", oc.message},
            {"at_edge", oc.at_edge},
            {"bridged_trained", oc.bridged_usable},
            {"gap", oc.gap ? Json(*oc.gap) : Json(nullptr)},
            {"grid", oc.grid}};
    if (!oc.error.empty()) jc["error"] = oc.error;
    if (oc.usable) {
      jc["empirical"] = oc.empirical;
      jc["ci"] = {oc.ci_low, oc.ci_high};
      jc["drift"] = oc.drift;
      jc["drift_ci"] = {oc.drift_ci_low, oc.drift_ci_high};
      jc["fit"] = {{"method", oc.method}, {"r2", oc.r2}};
    } else {
      jc["empirical"] = nullptr;
      jc["drift"] = nullptr;
    }
    cases.push_back(std::move(jc));
  }
  return Json{
      {"schema", kVerifySchema},
      {"transfer", v.transfer_file},
      {"verdict", v.verdict},
      {"counts", {{"pass", v.n_pass}, {"fail", v.n_fail}, {"inconclusive", v.n_inconclusive}}},
      {"tolerance", v.tolerance},
      {"points", v.points},
      {"step", v.step},
      {"seeds", v.seeds},
      {"objective", to_json(v.objective)},
      {"search", v.search},
      {"trials",
       {{"planned", v.planned}, {"reused", v.reused}, {"run", v.ran}, {"unusable", v.unusable}}},
      {"environment", v.environment},
      {"wall_s", v.wall_s},
      {"cases", cases}};
}

namespace {
std::pair<double, double> read_pair(ObjectReader& r, const char* key) {
  const Json& a = as_array(r.raw(key), r.at(key));
  if (a.size() != 2) r.fail(key, "expected [low, high]");
  return {as_number(a[0], r.at(key).at(0)), as_number(a[1], r.at(key).at(1))};
}
} // namespace

VerifyReport parse_verify_report(const Json& j, const Where& where) {
  ObjectReader r(j, where);
  const std::string schema = r.string("schema");
  if (schema != kVerifySchema)
    r.fail("schema", "unknown schema '" + schema + "'; this muE reads \"" + kVerifySchema + "\"");
  VerifyReport v;
  v.transfer_file = r.string("transfer");
  v.verdict = r.choice("verdict", {"pass", "fail", "inconclusive"});
  ObjectReader counts = r.object("counts");
  v.n_pass = static_cast<std::size_t>(counts.integer("pass"));
  v.n_fail = static_cast<std::size_t>(counts.integer("fail"));
  v.n_inconclusive = static_cast<std::size_t>(counts.integer("inconclusive"));
  counts.finish();
  v.tolerance = r.number("tolerance");
  v.points = static_cast<int>(r.integer("points"));
  v.step = r.number("step");
  v.seeds = static_cast<int>(r.integer("seeds"));
  v.objective = parse_objective(r.raw("objective"), r.at("objective"));
  if (r.has("search")) v.search = r.choice("search", {"grid", "adaptive"});
  ObjectReader trials = r.object("trials");
  v.planned = static_cast<std::size_t>(trials.integer("planned"));
  v.reused = static_cast<std::size_t>(trials.integer("reused"));
  v.ran = static_cast<std::size_t>(trials.integer("run"));
  v.unusable = static_cast<std::size_t>(trials.integer("unusable"));
  trials.finish();
  v.environment = r.raw("environment");
  v.wall_s = r.number("wall_s");
  const Json& cases = as_array(r.raw("cases"), r.at("cases"));
  for (std::size_t i = 0; i < cases.size(); ++i) {
    ObjectReader c(cases[i], r.at("cases").at(i));
    CaseReport cr;
    cr.target = c.string("target");
    cr.axis = c.string("axis");
    cr.bridged = c.number("bridged");
    cr.reference = c.number("reference_value");
    CaseOutcome& oc = cr.outcome;
    const std::string verdict = c.choice("verdict", {"pass", "fail", "inconclusive"});
    oc.verdict = verdict == "pass"   ? Verdict::kPass
                 : verdict == "fail" ? Verdict::kFail
                                     : Verdict::kInconclusive;
    oc.message = c.string("message");
    if (auto e = c.opt_string("error")) oc.error = *e;
    oc.at_edge = c.boolean("at_edge");
    oc.bridged_usable = c.boolean("bridged_trained");
    if (!c.raw("gap").is_null()) oc.gap = c.number("gap");
    oc.grid = c.raw("grid");
    oc.usable = !c.raw("empirical").is_null();
    c.raw("drift");
    if (oc.usable) {
      oc.empirical = c.number("empirical");
      std::tie(oc.ci_low, oc.ci_high) = read_pair(c, "ci");
      oc.drift = c.number("drift");
      std::tie(oc.drift_ci_low, oc.drift_ci_high) = read_pair(c, "drift_ci");
      ObjectReader fit = c.object("fit");
      oc.method = fit.string("method");
      oc.r2 = fit.number("r2");
      fit.finish();
    }
    c.finish();
    v.cases.push_back(std::move(cr));
  }
  r.finish();
  return v;
}

namespace {
// The plan's cases and the report's outcomes as the table/JUnit/plot functions take them.
std::vector<CaseOutcome> outcomes_of(const VerifyReport& v) {
  std::vector<CaseOutcome> out;
  for (const auto& c : v.cases)
    out.push_back(c.outcome);
  return out;
}
} // namespace

std::vector<std::string> write_verify_outputs(const VerifyReport& v, const VerifyPlan& plan,
                                              const Journal& journal,
                                              const std::string& junit_file) {
  write_file_atomic(journal.report_file("verify.json"), to_json(v).dump(1) + "\n");
  const std::vector<CaseOutcome> outcomes = outcomes_of(v);
  std::vector<std::string> plotted;
  std::vector<std::string> targets;
  for (const auto& c : plan.cases)
    if (std::find(targets.begin(), targets.end(), c.target) == targets.end())
      targets.push_back(c.target);
  for (const auto& name : targets) {
    std::vector<const VerifyCase*> pc;
    std::vector<const CaseOutcome*> po;
    for (std::size_t i = 0; i < plan.cases.size(); ++i)
      if (plan.cases[i].target == name) pc.push_back(&plan.cases[i]), po.push_back(&outcomes[i]);
    std::string safe;
    for (char ch : name)
      safe += std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' ? ch : '_';
    const std::string path = (journal.plots_dir() / (safe + ".svg")).string();
    if (plot_target(name, pc, po, path)) plotted.push_back(path);
  }
  if (!junit_file.empty())
    write_file_atomic(junit_file, junit_xml(plan.cases, outcomes, v.tolerance, v.wall_s));
  return plotted;
}

std::string verify_summary(const VerifyReport& v) {
  std::vector<VerifyCase> cases;
  for (const auto& c : v.cases) {
    VerifyCase vc;
    vc.target = c.target;
    vc.axis = c.axis;
    vc.bridged = c.bridged;
    vc.reference = c.reference;
    cases.push_back(std::move(vc));
  }
  std::ostringstream os;
  os << "\n" << verify_table(cases, outcomes_of(v));
  for (const auto& c : v.cases)
    if (c.outcome.verdict != Verdict::kPass)
      os << "  " << c.target << " " << c.axis << ": " << c.outcome.message << "\n";
  os << "verdict: " << v.verdict << " (" << v.n_pass << " pass, " << v.n_fail << " fail, "
     << v.n_inconclusive << " inconclusive; tolerance " << v.tolerance << " log2)\n";
  return os.str();
}

int verify_exit_code(const VerifyReport& v, bool allow_inconclusive) {
  if (v.n_fail) return 1;
  if (v.n_inconclusive && !allow_inconclusive) return 1;
  return 0;
}

} // namespace mue
