#include "fit/fit.h"

#include <Eigen/Dense>
#include <algorithm>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/students_t.hpp>
#include <cmath>
#include <limits>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>

#include "util/error.h"

namespace mue {
namespace {

struct Grid {
  std::vector<std::vector<double>> t;      // per point, per axis: fit coordinate
  std::vector<std::vector<double>> levels; // per axis: sorted distinct coordinates
};

double to_t(double v, const FitAxis& a) {
  return a.log_scale ? std::log2(v) : v;
}
double from_t(double t, const FitAxis& a) {
  return a.log_scale ? std::exp2(t) : t;
}

std::size_t quadratic_params(std::size_t k) {
  return 1 + 2 * k + k * (k - 1) / 2;
}

// Features of a full quadratic in k variables: 1, x_i, x_i², x_i·x_j (i < j).
Eigen::VectorXd features(const std::vector<double>& x) {
  const std::size_t k = x.size();
  Eigen::VectorXd f(1 + 2 * k + k * (k - 1) / 2);
  int n = 0;
  f(n++) = 1;
  for (std::size_t i = 0; i < k; ++i)
    f(n++) = x[i];
  for (std::size_t i = 0; i < k; ++i)
    f(n++) = x[i] * x[i];
  for (std::size_t i = 0; i < k; ++i)
    for (std::size_t j = i + 1; j < k; ++j)
      f(n++) = x[i] * x[j];
  return f;
}

struct Quadratic {
  bool fitted = false; // enough points for the least squares
  bool ok = false;     // fitted, and convex with a vertex
  std::vector<double> vertex;
  double r2 = 0, at_vertex = 0;
  std::vector<double> fitted_values, residuals; // on the points used, in their order
};

// Least squares on the points `use` (coordinates centred on `centre` for conditioning).
Quadratic fit_quadratic(const Grid& g, const std::vector<double>& y,
                        const std::vector<std::size_t>& use, const std::vector<double>& centre) {
  Quadratic q;
  const std::size_t k = centre.size();
  const std::size_t p = 1 + 2 * k + k * (k - 1) / 2;
  if (use.size() < p + (k == 1 ? 0 : 1)) return q;
  Eigen::MatrixXd X(use.size(), p);
  Eigen::VectorXd Y(use.size());
  for (std::size_t r = 0; r < use.size(); ++r) {
    std::vector<double> x(k);
    for (std::size_t i = 0; i < k; ++i)
      x[i] = g.t[use[r]][i] - centre[i];
    X.row(r) = features(x);
    Y(r) = y[use[r]];
  }
  Eigen::VectorXd beta = X.colPivHouseholderQr().solve(Y);
  const Eigen::VectorXd fit = X * beta;
  const Eigen::VectorXd resid = Y - fit;
  q.fitted = true;
  // Residuals inflated for the parameters spent, so a resample has the noise's scale.
  const double inflate =
      use.size() > p ? std::sqrt(double(use.size()) / double(use.size() - p)) : 1.0;
  for (Eigen::Index r = 0; r < resid.size(); ++r) {
    q.fitted_values.push_back(fit(r));
    q.residuals.push_back(resid(r) * inflate);
  }
  const double ss_res = resid.squaredNorm();
  const double ss_tot = (Y.array() - Y.mean()).square().sum();
  q.r2 = ss_tot > 0 ? 1 - ss_res / ss_tot : 0;
  // Gradient b + H x = 0 with H = [[2 c_ii, c_ij], ...].
  Eigen::VectorXd b(k);
  Eigen::MatrixXd H = Eigen::MatrixXd::Zero(k, k);
  for (std::size_t i = 0; i < k; ++i) {
    b(i) = beta(1 + i);
    H(i, i) = 2 * beta(1 + k + i);
  }
  int n = 1 + 2 * static_cast<int>(k);
  for (std::size_t i = 0; i < k; ++i)
    for (std::size_t j = i + 1; j < k; ++j)
      H(i, j) = H(j, i) = beta(n++);
  Eigen::LLT<Eigen::MatrixXd> llt(H);
  if (llt.info() != Eigen::Success) return q; // not convex: no minimum
  const Eigen::VectorXd x = llt.solve(-b);
  q.vertex.resize(k);
  for (std::size_t i = 0; i < k; ++i)
    q.vertex[i] = x(i) + centre[i];
  std::vector<double> xs(x.data(), x.data() + k);
  q.at_vertex = features(xs).dot(beta);
  q.ok = std::isfinite(q.at_vertex);
  return q;
}

struct Estimate {
  std::vector<double> t; // optimum in fit coordinates
  std::vector<bool> at_edge;
  // Per axis, with at_edge: the neighbourhood's quadratic is convex and puts its vertex past
  // the end of the grid where the best point sits (else only the best point is at the edge).
  std::vector<bool> beyond;
  std::string method;
  double r2 = 0, predicted = 0;
  std::vector<std::size_t> used; // the points the estimate came from
  Quadratic q;                   // the quadratic it came from (not fitted: none)
  std::size_t params = 0;        // that quadratic's number of coefficients
};

// Index of coordinate t among the sorted levels of axis a.
std::size_t level_of(const Grid& g, std::size_t a, double t) {
  const auto& lv = g.levels[a];
  return static_cast<std::size_t>(std::lower_bound(lv.begin(), lv.end(), t) - lv.begin());
}

// The vertex of the parabola through three points with x0 < x1 < x2 and y1 <= y0, y2: it
// lies in [x0, x2]; x1 when the three are level.
double parabola_vertex(double x0, double y0, double x1, double y1, double x2, double y2) {
  const double a = (x1 - x0) * (y1 - y2), b = (x1 - x2) * (y1 - y0);
  const double den = a - b;
  if (den == 0 || !std::isfinite(den)) return x1;
  const double v = x1 - 0.5 * ((x1 - x0) * a - (x1 - x2) * b) / den;
  return std::clamp(v, x0, x2);
}

// The fallback when the neighbourhood's quadratic gives no optimum inside the grid. On every
// axis where the best point is interior (not the smallest or largest level), the optimum is
// fitted locally, from the best point and its neighbours one level away: a quadratic over
// that local box (the other axes held at the best point's values), kept when it is convex
// with its vertex inside the box; otherwise, axis by axis, the parabola through the best
// point and its two neighbours on that axis, whose vertex always lies between them (the best
// point is the lowest of the three). So an interior best point is never reported at the
// edge: only an axis where the best measured point is the smallest or largest value tried
// is at_edge.
void fit_locally(const Grid& g, const std::vector<double>& y, const std::vector<bool>& usable,
                 std::size_t best, Estimate& e) {
  const std::size_t k = g.levels.size();
  std::vector<std::size_t> free;
  std::vector<std::size_t> lb(k);
  for (std::size_t a = 0; a < k; ++a) {
    lb[a] = level_of(g, a, g.t[best][a]);
    if (lb[a] > 0 && lb[a] + 1 < g.levels[a].size()) free.push_back(a);
  }
  if (free.empty()) return;
  // The local box: usable points within one level of the best on the free axes, equal to it
  // on the others.
  std::vector<std::size_t> box;
  for (std::size_t i = 0; i < y.size(); ++i) {
    if (!usable[i]) continue;
    bool in = true;
    for (std::size_t a = 0; a < k && in; ++a) {
      const bool is_free = std::find(free.begin(), free.end(), a) != free.end();
      if (!is_free) {
        in = g.t[i][a] == g.t[best][a];
      } else {
        const std::size_t li = level_of(g, a, g.t[i][a]);
        in = li + 1 >= lb[a] && li <= lb[a] + 1;
      }
    }
    if (in) box.push_back(i);
  }
  Grid sub; // the free axes only
  for (std::size_t a : free)
    sub.levels.push_back(g.levels[a]);
  for (const auto& t : g.t) {
    std::vector<double> s;
    for (std::size_t a : free)
      s.push_back(t[a]);
    sub.t.push_back(s);
  }
  std::vector<double> centre;
  for (std::size_t a : free)
    centre.push_back(g.t[best][a]);
  Quadratic lq = fit_quadratic(sub, y, box, centre);
  bool inside = lq.ok;
  for (std::size_t j = 0; j < free.size() && inside; ++j) {
    const auto& lv = g.levels[free[j]];
    inside = lq.vertex[j] >= lv[lb[free[j]] - 1] && lq.vertex[j] <= lv[lb[free[j]] + 1];
  }
  if (inside) {
    for (std::size_t j = 0; j < free.size(); ++j)
      e.t[free[j]] = lq.vertex[j];
    e.method = "local_quadratic";
    e.r2 = lq.r2;
    e.predicted = lq.at_vertex;
    e.used = box;
    e.q = lq;
    e.params = quadratic_params(free.size());
    return;
  }
  // Axis by axis: the parabola through the best point and its two neighbours on the axis.
  auto neighbour = [&](std::size_t a, std::size_t level) -> std::optional<std::size_t> {
    for (std::size_t i : box) {
      bool match = g.t[i][a] == g.levels[a][level];
      for (std::size_t b = 0; b < k && match; ++b)
        if (b != a) match = g.t[i][b] == g.t[best][b];
      if (match) return i;
    }
    return std::nullopt;
  };
  std::vector<std::size_t> used = {best};
  for (std::size_t a : free) {
    const auto lo = neighbour(a, lb[a] - 1), hi = neighbour(a, lb[a] + 1);
    if (!lo || !hi) continue;
    e.t[a] = parabola_vertex(g.t[*lo][a], y[*lo], g.t[best][a], y[best], g.t[*hi][a], y[*hi]);
    used.push_back(*lo);
    used.push_back(*hi);
  }
  if (used.size() == 1) return; // no axis has both neighbours: the best point stands
  e.method = "local_quadratic";
  e.r2 = 0;
  e.predicted = y[best];
  e.used = used;
  e.q = Quadratic{};
  e.params = 0;
}

Estimate estimate(const Grid& g, const std::vector<double>& y, const std::vector<bool>& usable) {
  const std::size_t k = g.levels.size();
  std::size_t best = std::numeric_limits<std::size_t>::max();
  for (std::size_t i = 0; i < y.size(); ++i)
    if (usable[i] && (best == std::numeric_limits<std::size_t>::max() || y[i] < y[best])) best = i;
  // Neighbourhood: within two grid levels of the best point on every axis.
  std::vector<std::size_t> use;
  for (std::size_t i = 0; i < y.size(); ++i) {
    if (!usable[i]) continue;
    bool near = true;
    for (std::size_t a = 0; a < k && near; ++a) {
      const auto ib = static_cast<std::ptrdiff_t>(level_of(g, a, g.t[best][a]));
      const auto ii = static_cast<std::ptrdiff_t>(level_of(g, a, g.t[i][a]));
      near = std::abs(ib - ii) <= 2;
    }
    if (near) use.push_back(i);
  }
  Estimate e;
  e.used = use;
  e.q = fit_quadratic(g, y, use, g.t[best]);
  e.params = quadratic_params(k);
  const Quadratic& q = e.q;
  e.at_edge.assign(k, false);
  e.beyond.assign(k, false);
  bool inside = q.ok;
  if (q.ok)
    for (std::size_t a = 0; a < k; ++a)
      if (q.vertex[a] < g.levels[a].front() || q.vertex[a] > g.levels[a].back()) inside = false;
  if (inside) {
    e.t = q.vertex;
    e.method = k == 1 ? "quadratic" : "response_surface";
    e.r2 = q.r2;
    e.predicted = q.at_vertex;
    return e;
  }
  // Fallback: the best point; on an axis where it is the smallest or largest value tried,
  // the optimum may lie beyond the grid (at_edge). Axes where it is interior are fitted
  // locally (fit_locally).
  e.t = g.t[best];
  e.method = "best_point";
  e.r2 = q.ok ? q.r2 : 0;
  e.predicted = y[best];
  for (std::size_t a = 0; a < k; ++a) {
    const bool low = g.t[best][a] == g.levels[a].front();
    const bool high = g.t[best][a] == g.levels[a].back();
    e.at_edge[a] = g.levels[a].size() > 1 && (low || high);
    e.beyond[a] =
        e.at_edge[a] && q.ok &&
        ((low && q.vertex[a] < g.levels[a].front()) || (high && q.vertex[a] > g.levels[a].back()));
  }
  fit_locally(g, y, usable, best, e);
  return e;
}

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const auto hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

} // namespace

FitResult fit_optimum(const std::vector<FitAxis>& axes, const std::vector<FitPoint>& points,
                      const FitOptions& options) {
  const std::size_t k = axes.size();
  if (k == 0 || k > 3) throw std::invalid_argument("fit: 1 to 3 axes, got " + std::to_string(k));
  Grid g;
  g.levels.resize(k);
  std::vector<double> y(points.size(), 0);
  std::vector<bool> usable(points.size(), false);
  FitResult r;
  std::vector<std::set<double>> lv(k);
  for (std::size_t i = 0; i < points.size(); ++i) {
    const FitPoint& p = points[i];
    if (p.coords.size() != k)
      throw std::invalid_argument("fit: a point has the wrong number of coordinates");
    std::vector<double> t(k);
    for (std::size_t a = 0; a < k; ++a) {
      if (axes[a].log_scale && !(p.coords[a] > 0))
        throw std::invalid_argument("fit: axis " + axes[a].key +
                                    " is log-scaled but has a value <= 0");
      t[a] = to_t(p.coords[a], axes[a]);
      lv[a].insert(t[a]);
    }
    g.t.push_back(t);
    r.excluded_trials += static_cast<std::size_t>(p.excluded);
    if (!p.objectives.empty()) {
      double s = 0;
      for (double o : p.objectives)
        s += o;
      y[i] = s / static_cast<double>(p.objectives.size());
      usable[i] = std::isfinite(y[i]);
    }
  }
  for (std::size_t a = 0; a < k; ++a)
    g.levels[a].assign(lv[a].begin(), lv[a].end());
  if (std::none_of(usable.begin(), usable.end(), [](bool u) { return u; }))
    throw CheckFailedError("no usable trial: every trial of the sweep diverged or failed (" +
                           std::to_string(r.excluded_trials) +
                           " excluded); lower the learning-rate grid "
                           "or look at the trial logs");

  const Estimate e = estimate(g, y, usable);
  r.method = e.method;
  r.r2 = e.r2;
  r.used_points = e.used.size();
  r.predicted_objective = e.predicted;
  r.best_objective = std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < y.size(); ++i)
    if (usable[i]) r.best_objective = std::min(r.best_objective, y[i]);

  // Bootstrap. With several seeds per point: the seed-to-seed variance pooled over every
  // usable point (a per-point variance from 2-3 seeds is too noisy to resample from), drawn
  // as normal noise of variance s²/n_i around each point's mean. With one seed per point:
  // the residuals of the local quadratic around its fitted values (or, without a fit,
  // differences of neighbouring points as the noise scale).
  std::mt19937_64 rng(options.seed);
  std::vector<std::vector<double>> draws(k);
  bool multi_seed = false;
  for (const auto& p : points)
    multi_seed = multi_seed || p.objectives.size() > 1;
  std::vector<double> base = y, noise;
  double pooled_var = 0, pooled_dof = 0;
  if (multi_seed) {
    for (std::size_t i = 0; i < points.size(); ++i) {
      if (!usable[i]) continue;
      for (double o : points[i].objectives)
        pooled_var += (o - y[i]) * (o - y[i]);
      pooled_dof += static_cast<double>(points[i].objectives.size()) - 1;
    }
    pooled_var = pooled_dof > 0 ? pooled_var / pooled_dof : 0;
  } else if (e.q.fitted && e.used.size() > e.params) {
    for (std::size_t u = 0; u < e.used.size(); ++u)
      base[e.used[u]] = e.q.fitted_values[u];
    noise = e.q.residuals;
  } else {
    // No residual left to learn the noise from (no fit, or exactly as many points as the
    // quadratic has parameters): differences of neighbouring points, which also carry the
    // curvature, so the interval errs wide rather than claiming a precision it lacks.
    for (std::size_t i = 0; i + 1 < y.size(); ++i)
      if (usable[i] && usable[i + 1]) noise.push_back((y[i + 1] - y[i]) / std::sqrt(2.0));
  }
  auto pick = [&](std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
  };
  std::normal_distribution<double> gauss(0.0, 1.0);
  for (int b = 0; b < options.bootstrap; ++b) {
    std::vector<double> yb(y.size(), 0);
    for (std::size_t i = 0; i < points.size(); ++i) {
      if (!usable[i]) continue;
      if (multi_seed)
        yb[i] = y[i] + gauss(rng) *
                           std::sqrt(pooled_var / static_cast<double>(points[i].objectives.size()));
      else
        yb[i] = base[i] + (noise.empty() ? 0 : noise[pick(noise.size())]);
    }
    const Estimate eb = estimate(g, yb, usable);
    for (std::size_t a = 0; a < k; ++a)
      draws[a].push_back(eb.t[a]);
  }

  // The bootstrap treats the noise level as known, but it is estimated from few degrees
  // of freedom (a 5-point quadratic leaves 2): percentile intervals then cover ~80% for a
  // nominal 95%. Widen each side by t_df / z, as a t-interval would (measured in test_fit).
  const double tail = (1 - options.confidence) / 2;
  double df = 0;
  if (multi_seed) {
    df = pooled_dof;
  } else if (noise.size() == e.q.residuals.size() && e.q.fitted && e.used.size() > e.params) {
    df = static_cast<double>(e.used.size() - e.params);
  } else {
    df = static_cast<double>(noise.size()) - 1;
  }
  const double z = boost::math::quantile(boost::math::normal_distribution<double>(), 1 - tail);
  const double widen =
      boost::math::quantile(boost::math::students_t_distribution<double>(std::max(1.0, df)),
                            1 - tail) /
      z;
  r.ci_widening = widen;
  r.ci_dof = df;
  r.axes.resize(k);
  for (std::size_t a = 0; a < k; ++a) {
    AxisFit& f = r.axes[a];
    f.value = from_t(e.t[a], axes[a]);
    const double lo = draws[a].empty() ? e.t[a] : percentile(draws[a], tail);
    const double hi = draws[a].empty() ? e.t[a] : percentile(draws[a], 1 - tail);
    f.ci_low = from_t(e.t[a] - widen * std::max(0.0, e.t[a] - lo), axes[a]);
    f.ci_high = from_t(e.t[a] + widen * std::max(0.0, hi - e.t[a]), axes[a]);
    f.at_edge = e.at_edge[a];
    f.fitted_beyond = e.beyond[a];
    if (f.at_edge) {
      // at_edge means the best measured point is at this end of the grid; the message says
      // so, and adds when the fitted optimum also lies beyond it.
      const bool low = e.t[a] == g.levels[a].front();
      f.edge_message = "the best measured " + axes[a].key + " is the " +
                       (low ? "smallest" : "largest") + " value tried" +
                       (e.beyond[a] ? std::string(" and the fitted optimum lies ") +
                                          (low ? "below" : "above") + " the grid"
                                    : std::string()) +
                       "; extend the grid " + (low ? "downward" : "upward") +
                       " to find the optimum";
    }
  }
  return r;
}

} // namespace mue
