#include "sweep/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>
#include <sstream>

#include "report/plot.h"
#include "report/transfer_report.h" // kSweepReportSchema
#include "util/error.h"
#include "util/fs.h"

namespace mue {
namespace {

bool is_hparam_axis(const Axis& a) {
  return a.pointer.rfind("/hparams/", 0) == 0;
}

// The fitted optimum as a run config. Hyperparameter axes take the fitted value; any
// other axis (a model or train field by pointer) snaps to its nearest grid value.
Json reference_at(const SweepSpec& s, const FitResult& f, const std::string& file) {
  std::vector<double> point;
  for (std::size_t a = 0; a < s.axes.size(); ++a) {
    double v = f.axes[a].value;
    if (!is_hparam_axis(s.axes[a])) {
      double best = s.axes[a].values.front();
      for (double g : s.axes[a].values)
        if (std::abs(g - v) < std::abs(best - v)) best = g;
      v = best;
    }
    point.push_back(v);
  }
  Json j = to_json(config_at(s, point, s.seeds.front(), Where{file, ""}));
  j.erase("options");
  j.erase("schema");
  return j;
}

std::vector<FitAxis> fit_axes(const SweepSpec& s) {
  std::vector<FitAxis> axes;
  for (const auto& ax : s.axes) {
    bool positive = true;
    for (double v : ax.values)
      positive = positive && v > 0;
    axes.push_back(FitAxis{ax.key, positive});
  }
  return axes;
}

const TrialResult* find(const std::map<std::string, TrialResult>& done, const std::string& id) {
  const auto it = done.find(id);
  return it == done.end() ? nullptr : &it->second;
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

} // namespace

std::string describe_trial(const SweepSpec& s, const PlannedTrial& t) {
  std::string d;
  for (std::size_t a = 0; a < s.axes.size(); ++a)
    d += s.axes[a].key + "=" + num(t.point[a]) + " ";
  return d + "seed " + std::to_string(t.seed);
}

SweepReport build_sweep_report(const SweepSpec& s, const std::string& spec_file,
                               const std::vector<PlannedTrial>& plan,
                               const std::map<std::string, TrialResult>& done,
                               const Json& environment) {
  // Group the plan by grid point, keeping the plan's order of first appearance.
  std::vector<std::vector<double>> order;
  std::map<std::vector<double>, std::vector<const PlannedTrial*>> by_point;
  for (const auto& t : plan) {
    auto& v = by_point[t.point];
    if (v.empty()) order.push_back(t.point);
    v.push_back(&t);
  }
  std::vector<FitPoint> fit_points;
  Json points = Json::array();
  std::size_t n_ok = 0, n_excluded = 0, n_missing = 0, n_pruned = 0;
  std::vector<const TrialResult*> unusable;
  for (const auto& coords : order) {
    FitPoint fp;
    fp.coords = coords;
    Json trials = Json::array();
    for (const PlannedTrial* t : by_point[coords]) {
      const std::string id = t->spec.id();
      const TrialResult* r = find(done, id);
      Json tj{{"id", id}, {"seed", t->seed}};
      if (!r) {
        tj["status"] = "missing";
        ++n_missing;
      } else {
        tj["status"] = to_string(r->status);
        tj["objective"] = r->objective ? Json(*r->objective) : Json(nullptr);
        tj["wall_s"] = r->wall_s;
        if (!r->error.empty()) tj["error"] = r->error;
        if (r->status == TrialStatus::kOk && r->objective) {
          fp.objectives.push_back(*r->objective);
          ++n_ok;
        } else {
          ++fp.excluded;
          ++n_excluded;
          if (r->status == TrialStatus::kPruned)
            ++n_pruned; // stopped by the pruner: not a failure, not in the fit
          else
            unusable.push_back(r);
        }
      }
      trials.push_back(std::move(tj));
    }
    Json cj = Json::object();
    for (std::size_t a = 0; a < s.axes.size(); ++a)
      cj[s.axes[a].key] = coords[a];
    double mean = 0;
    for (double o : fp.objectives)
      mean += o;
    points.push_back(
        Json{{"coords", cj},
             {"objective",
              fp.objectives.empty() ? Json(nullptr) : Json(mean / double(fp.objectives.size()))},
             {"usable", fp.objectives.size()},
             {"excluded", fp.excluded},
             {"trials", trials}});
    fit_points.push_back(std::move(fp));
  }
  SweepReport out;
  try {
    out.fit = fit_optimum(fit_axes(s), fit_points); // CheckFailedError when nothing is usable
  } catch (const CheckFailedError& e) {
    // Say why when the trials said why (e.g. every trial failed on the same data error).
    const std::string why = n_ok == 0 ? unusable_reason(unusable) : "";
    if (why.empty()) throw;
    throw CheckFailedError("no usable trial: " + why);
  }
  const FitResult& f = out.fit;
  Json optimum = Json::object();
  bool at_edge = false;
  for (std::size_t a = 0; a < s.axes.size(); ++a) {
    const AxisFit& af = f.axes[a];
    optimum[s.axes[a].key] = Json{{"value", af.value},
                                  {"ci_low", af.ci_low},
                                  {"ci_high", af.ci_high},
                                  {"at_edge", af.at_edge},
                                  {"message", af.edge_message}};
    at_edge = at_edge || af.at_edge;
  }
  out.json = Json{{"schema", kSweepReportSchema},
                  {"spec", to_json(s)},
                  {"environment", environment},
                  {"counts",
                   {{"planned", plan.size()},
                    {"ok", n_ok},
                    {"excluded", n_excluded},
                    {"pruned", n_pruned},
                    {"missing", n_missing}}},
                  {"points", points},
                  {"fit",
                   {{"method", f.method},
                    {"r2", f.r2},
                    {"best_objective", f.best_objective},
                    {"predicted_objective", f.predicted_objective},
                    {"used_points", f.used_points},
                    {"excluded_trials", f.excluded_trials},
                    {"confidence", 0.95},
                    {"ci_dof", f.ci_dof},
                    {"ci_widening", f.ci_widening}}},
                  {"optimum", {{"at_edge", at_edge}, {"axes", optimum}}},
                  {"reference", reference_at(s, f, spec_file)}};
  return out;
}

bool plot_sweep(const SweepSpec& s, const std::vector<PlannedTrial>& plan,
                const std::map<std::string, TrialResult>& done, const FitResult& fit,
                const std::string& path) {
  if (s.axes.empty()) return false;
  std::size_t x_axis = 0;
  for (std::size_t a = 0; a < s.axes.size(); ++a)
    if (s.axes[a].key == "lr") x_axis = a;
  const Axis& xa = s.axes[x_axis];
  bool log_x = true;
  for (double v : xa.values)
    log_x = log_x && v > 0;

  // Per slice (the other axes' values): x -> mean objective; failures kept apart.
  struct Slice {
    std::map<double, std::vector<double>> ok;
    std::set<double> bad, pruned;
  };
  std::map<std::vector<double>, Slice> slices;
  double y_lo = std::numeric_limits<double>::infinity(), y_hi = -y_lo;
  for (const auto& t : plan) {
    std::vector<double> key;
    for (std::size_t a = 0; a < s.axes.size(); ++a)
      if (a != x_axis) key.push_back(t.point[a]);
    Slice& sl = slices[key];
    const TrialResult* r = find(done, t.spec.id());
    if (!r) continue;
    if (r->status == TrialStatus::kOk && r->objective && std::isfinite(*r->objective)) {
      sl.ok[t.point[x_axis]].push_back(*r->objective);
      y_lo = std::min(y_lo, *r->objective);
      y_hi = std::max(y_hi, *r->objective);
    } else if (r->status == TrialStatus::kPruned) {
      sl.pruned.insert(t.point[x_axis]);
    } else {
      sl.bad.insert(t.point[x_axis]);
    }
  }
  if (!std::isfinite(y_lo)) return false;
  const double pad = std::max(1e-3, (y_hi - y_lo) * 0.08);
  const double y_bad = y_hi + 2 * pad; // failures drawn along the top

  std::ostringstream p;
  p.precision(10);
  p << "set title "
    << gnuplot_quote(s.name + ": objective vs " + xa.key + " (" + std::to_string(plan.size()) +
                     " trials)")
    << "\n";
  p << "set xlabel " << gnuplot_quote(xa.key + (log_x ? " (log scale)" : "")) << "\n";
  p << "set ylabel 'objective (validation loss, mean over seeds)'\n";
  if (log_x) p << "set logscale x 2\nset format x '2^%L'\n";
  p << "set offsets graph 0.03, graph 0.03, 0, 0\n";
  p << "set yrange [" << y_lo - pad << ":" << y_bad + pad << "]\n";
  p << "set key outside right top box\nset grid\n";
  const AxisFit& of = fit.axes[x_axis];
  p << "set object 1 rect from " << of.ci_low << ", graph 0 to " << of.ci_high
    << ", graph 1 fillcolor rgb '#dde8f5' fillstyle solid 1.0 noborder behind\n";
  p << "set arrow 1 from " << of.value << ", graph 0 to " << of.value
    << ", graph 1 nohead linecolor rgb '#1f4e8c' dashtype 2 linewidth 2\n";
  p << "set label 1 "
    << gnuplot_quote("optimum " + num(of.value) + (of.at_edge ? " (at edge)" : "")) << " at "
    << of.value << ", graph 0.04 offset 0.5,0 textcolor rgb '#1f4e8c'\n";

  std::vector<std::string> series, data;
  for (const auto& [key, sl] : slices) {
    std::string title;
    std::size_t k = 0;
    for (std::size_t a = 0; a < s.axes.size(); ++a)
      if (a != x_axis) title += (title.empty() ? "" : " ") + s.axes[a].key + "=" + num(key[k++]);
    if (title.empty()) title = "objective";
    std::ostringstream d;
    d.precision(10);
    for (const auto& [x, ys] : sl.ok) {
      double m = 0;
      for (double v : ys)
        m += v;
      d << x << " " << m / double(ys.size()) << "\n";
    }
    if (!sl.ok.empty()) {
      series.push_back("'-' using 1:2 with linespoints pointtype 7 title " + gnuplot_quote(title));
      data.push_back(d.str());
    }
  }
  std::ostringstream bad;
  bad.precision(10);
  for (const auto& [key, sl] : slices)
    for (double x : sl.bad)
      bad << x << " " << y_bad << "\n";
  if (!bad.str().empty()) {
    series.push_back("'-' using 1:2 with points pointtype 2 pointsize 1.6 linecolor rgb '#c0392b' "
                     "title 'diverged / failed'");
    data.push_back(bad.str());
  }
  std::ostringstream pruned; // drawn just under the failures
  pruned.precision(10);
  for (const auto& [key, sl] : slices)
    for (double x : sl.pruned)
      pruned << x << " " << y_bad - pad << "\n";
  if (!pruned.str().empty()) {
    series.push_back("'-' using 1:2 with points pointtype 8 pointsize 1.4 linecolor rgb '#7f8c8d' "
                     "title 'pruned'");
    data.push_back(pruned.str());
  }
  series.push_back(
      "NaN with boxes fillcolor rgb '#dde8f5' fillstyle solid title '95% CI of the optimum'");
  p << "plot ";
  for (std::size_t i = 0; i < series.size(); ++i)
    p << (i ? ", " : "") << series[i];
  p << "\n";
  for (const auto& d : data)
    p << d << "e\n";
  return render_svg(p.str(), path, 960, 540);
}

SweepOutputs write_sweep_outputs(const SweepSpec& s, const std::string& spec_file,
                                 const std::vector<PlannedTrial>& plan,
                                 const std::map<std::string, TrialResult>& done,
                                 const Json& environment, const Journal& journal,
                                 const Json& search) {
  SweepOutputs out;
  out.report = build_sweep_report(s, spec_file, plan, done, environment);
  if (!search.is_null()) out.report.json["search"] = search;
  const FitResult& f = out.report.fit;
  out.report_file = journal.report_file("sweep.json");
  write_file_atomic(out.report_file, out.report.json.dump(1) + "\n");
  std::string x_key = s.axes.front().key;
  for (const auto& ax : s.axes)
    if (ax.key == "lr") x_key = "lr";
  std::string safe;
  for (char c : x_key)
    safe += std::isalnum(static_cast<unsigned char>(c)) || c == '_' ? c : '_';
  const std::string plot = (journal.plots_dir() / ("loss_vs_" + safe + ".svg")).string();
  if (plot_sweep(s, plan, done, f, plot)) out.plot_file = plot;
  for (std::size_t ax = 0; ax < s.axes.size(); ++ax)
    if (f.axes[ax].at_edge) out.warnings.push_back(f.axes[ax].edge_message);
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "optimum (%s, R² %.3f, %zu of %zu trials usable):", f.method.c_str(), f.r2,
                out.report.json["counts"]["ok"].get<std::size_t>(), plan.size());
  out.summary = buf;
  for (std::size_t ax = 0; ax < s.axes.size(); ++ax) {
    std::snprintf(buf, sizeof buf, " %s = %.4g [95%% CI %.4g, %.4g]%s", s.axes[ax].key.c_str(),
                  f.axes[ax].value, f.axes[ax].ci_low, f.axes[ax].ci_high,
                  f.axes[ax].at_edge ? " (at edge)" : "");
    out.summary += buf;
  }
  if (!search.is_null()) {
    std::snprintf(
        buf, sizeof buf, "\nadaptive search: %zu round(s), %zu of the grid's %zu trials (%s)",
        search["rounds"].size(), search["trials"].get<std::size_t>(),
        search["grid_trials"].get<std::size_t>(), search["stopped"].get<std::string>().c_str());
    out.summary += buf;
  }
  return out;
}

SweepReference read_sweep_reference(const Json& report, const std::string& file) {
  ObjectReader r(report, Where{file, ""});
  SweepReference out;
  out.config = parse_config(r.raw("reference"), r.at("reference"));
  ObjectReader opt(r.raw("optimum"), r.at("optimum"));
  out.at_edge = opt.boolean("at_edge");
  out.hparams_where = r.at("reference").at("hparams");
  return out; // the rest of the report is the sweep's business
}

Json read_sweep_environment(const std::string& path) {
  try {
    return Json::parse(read_file(path)).at("environment");
  } catch (const std::exception&) {
    return Json::object();
  }
}

} // namespace mue
