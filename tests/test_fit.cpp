// Tests of src/fit: known optima recovered within their CI, edges, failures, flat data.
#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include "fit/fit.h"
#include "util/error.h"

using namespace mue;

namespace {
// Loss = c + a·(log2 lr − log2 lr*)² (+ noise), one point per grid value and seed.
std::vector<FitPoint> lr_sweep(double lo, double hi, double step, double log2_opt, double noise,
                               int seeds, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> n(0, noise);
  std::vector<FitPoint> pts;
  for (double x = lo; x <= hi + 1e-9; x += step) {
    FitPoint p;
    p.coords = {std::exp2(x)};
    for (int s = 0; s < seeds; ++s)
      p.objectives.push_back(3.0 + 0.1 * (x - log2_opt) * (x - log2_opt) + n(rng));
    pts.push_back(p);
  }
  return pts;
}
} // namespace

TEST_CASE("1-D: a known optimum between grid points is recovered, inside its CI") {
  for (int seeds : {1, 3}) {
    CAPTURE(seeds);
    auto pts = lr_sweep(-12, -5, 1, -8.3, 0.01, seeds, 7);
    FitResult r = fit_optimum({{"lr", true}}, pts);
    CHECK(r.method == "quadratic");
    CHECK(std::log2(r.axes[0].value) == doctest::Approx(-8.3).epsilon(0.02));
    CHECK(r.axes[0].ci_low <= std::exp2(-8.3));
    CHECK(r.axes[0].ci_high >= std::exp2(-8.3));
    CHECK(r.axes[0].ci_high / r.axes[0].ci_low < 2.0); // tight with little noise
    CHECK_FALSE(r.axes[0].at_edge);
    CHECK(r.r2 > 0.99);
  }
}

// Nominal 95% intervals. Before the t_dof/z widening and the pooled seed variance they
// covered ~78% (1 seed) and ~82% (3 seeds) of these sweeps; now 96.5% and 94% (200
// sweeps each, measured). The bound fails a regression to the old, too-narrow intervals.
TEST_CASE("1-D: the bootstrap CI covers the true optimum in most noisy sweeps") {
  for (int seeds : {1, 3}) {
    CAPTURE(seeds);
    int covered = 0;
    const int sweeps = 200;
    for (int i = 0; i < sweeps; ++i) {
      auto pts = lr_sweep(-12, -5, 1, -8.3, 0.05, seeds, 1000 + i);
      FitResult r = fit_optimum({{"lr", true}}, pts, FitOptions{100, 0, 0.95});
      covered += r.axes[0].ci_low <= std::exp2(-8.3) && std::exp2(-8.3) <= r.axes[0].ci_high;
    }
    MESSAGE("coverage with ", seeds, " seed(s): ", covered, "/", sweeps);
    CHECK(covered >= 180); // 90%
  }
}

TEST_CASE("exactly three usable points near the best: the CI is not a zero-width claim") {
  // Neighbours of the best point failed, so the local quadratic interpolates 3 points
  // with no residual: the noise must come from elsewhere, not be taken as zero.
  auto pts = lr_sweep(-12, -3, 1, -5.4, 0.05, 1, 11);
  for (int drop : {0, 5, 9}) {
    pts[drop].objectives.clear();
    pts[drop].excluded = 1;
  }
  FitResult r = fit_optimum({{"lr", true}}, pts);
  CHECK(r.axes[0].ci_high / r.axes[0].ci_low > 1.05);
}

TEST_CASE("optimum beyond the grid -> best point, at_edge, a message saying which way") {
  auto pts = lr_sweep(-12, -8, 1, -5.0, 0.0, 1, 1);
  FitResult r = fit_optimum({{"lr", true}}, pts);
  CHECK(r.method == "best_point");
  CHECK(r.axes[0].at_edge);
  CHECK(r.axes[0].value == std::exp2(-8));
  CHECK(r.axes[0].edge_message.find("upward") != std::string::npos);
  // The measured best is at the edge and the fitted vertex lies past it: both said.
  CHECK(r.axes[0].edge_message.find("best measured lr is the largest") != std::string::npos);
  CHECK(r.axes[0].edge_message.find("fitted optimum lies above the grid") != std::string::npos);
  CHECK(r.axes[0].fitted_beyond);
  auto low = lr_sweep(-8, -4, 1, -11.0, 0.0, 1, 1);
  FitResult rl = fit_optimum({{"lr", true}}, low);
  CHECK(rl.axes[0].at_edge);
  CHECK(rl.axes[0].edge_message.find("downward") != std::string::npos);
  CHECK(rl.axes[0].edge_message.find("fitted optimum lies below the grid") != std::string::npos);
}

TEST_CASE("best measured point at the edge with no fitted optimum: the message says only that") {
  // Concave data: no convex quadratic, so nothing is fitted beyond the edge.
  std::vector<FitPoint> pts;
  for (int x = -4; x <= 0; ++x)
    pts.push_back({{std::exp2(x)}, {3.0 - 0.1 * x * x}, 0});
  FitResult r = fit_optimum({{"lr", true}}, pts);
  CHECK(r.method == "best_point");
  CHECK(r.axes[0].at_edge);
  CHECK(r.axes[0].edge_message.find("best measured lr is the smallest") != std::string::npos);
  CHECK(r.axes[0].edge_message.find("fitted optimum") == std::string::npos);
  CHECK_FALSE(r.axes[0].fitted_beyond);
}

// issue 15 item 5: a verify grid whose quadratic over the best point's neighbourhood puts
// its vertex below the grid although the best point (-0.5) is interior. It used to be
// reported as best_point at the edge; the local parabola through -1, -0.5, 0 puts the
// optimum at -0.6425, inside the grid.
TEST_CASE("an interior best point is never at the edge: the vertex outside -> local fit") {
  const std::vector<double> offsets = {-1, -0.5, 0, 0.5, 1};
  const std::vector<double> loss = {1.45054, 1.44746, 1.45871, 1.46100, 1.47202};
  std::vector<FitPoint> pts;
  for (std::size_t i = 0; i < offsets.size(); ++i)
    pts.push_back({{std::exp2(offsets[i])}, {loss[i]}, 0});
  FitResult r = fit_optimum({{"lr", true}}, pts);
  CHECK(r.method == "local_quadratic");
  CHECK_FALSE(r.axes[0].at_edge);
  CHECK(r.axes[0].edge_message.empty());
  // Vertex of the parabola through the three points around the best.
  CHECK(std::log2(r.axes[0].value) == doctest::Approx(-0.6425).epsilon(1e-3));
  CHECK(r.axes[0].ci_low <= r.axes[0].value);
  CHECK(r.axes[0].ci_high >= r.axes[0].value);
  CHECK(r.used_points == 3);
  // The same with three seeds per point (the pooled-variance bootstrap).
  std::vector<FitPoint> seeded = pts;
  for (auto& p : seeded)
    p.objectives = {p.objectives[0] - 0.001, p.objectives[0], p.objectives[0] + 0.001};
  FitResult s = fit_optimum({{"lr", true}}, seeded);
  CHECK(s.method == "local_quadratic");
  CHECK_FALSE(s.axes[0].at_edge);
  CHECK(std::log2(s.axes[0].value) == doctest::Approx(-0.6425).epsilon(1e-3));
}

TEST_CASE("interior best point, vertex outside, a neighbour diverged: best point, not at edge") {
  const std::vector<double> offsets = {-1, -0.5, 0, 0.5, 1};
  const std::vector<double> loss = {1.45054, 1.44746, 1.45871, 1.46100, 1.47202};
  std::vector<FitPoint> pts;
  for (std::size_t i = 0; i < offsets.size(); ++i)
    pts.push_back({{std::exp2(offsets[i])}, {loss[i]}, 0});
  pts[2].objectives.clear();
  pts[2].excluded = 1;
  FitResult r = fit_optimum({{"lr", true}}, pts);
  CHECK_FALSE(r.axes[0].at_edge);
  CHECK(std::log2(r.axes[0].value) >= -1);
  CHECK(std::log2(r.axes[0].value) <= 1);
}

// Property: whatever the data, an axis on which the best measured point is interior is
// never at_edge, and its optimum lies inside the grid (1 and 2 axes, random objectives).
TEST_CASE("property: at_edge only where the best measured point is the smallest or largest") {
  std::mt19937_64 rng(42);
  std::normal_distribution<double> n(0, 1);
  for (int trial = 0; trial < 200; ++trial) {
    const bool two = trial % 2 == 1;
    std::vector<FitPoint> pts;
    std::size_t best = 0;
    for (int x = 0; x < 5; ++x)
      for (int z = 0; z < (two ? 4 : 1); ++z) {
        FitPoint p;
        p.coords = two ? std::vector<double>{std::exp2(x), std::exp2(z)}
                       : std::vector<double>{std::exp2(x)};
        p.objectives = {3 + 0.05 * (x - 2.0) * (x - 2.0) + 0.05 * n(rng)};
        if (p.objectives[0] < (pts.empty() ? 1e9 : pts[best].objectives[0])) best = pts.size();
        pts.push_back(p);
      }
    FitResult r = fit_optimum(two ? std::vector<FitAxis>{{"lr", true}, {"init_std", true}}
                                  : std::vector<FitAxis>{{"lr", true}},
                              pts, FitOptions{20, 0, 0.95});
    for (std::size_t a = 0; a < r.axes.size(); ++a) {
      CAPTURE(trial);
      CAPTURE(a);
      const double c = std::log2(pts[best].coords[a]);
      const double top = a == 0 ? 4 : 3;
      if (c > 0 && c < top) {
        CHECK_FALSE(r.axes[a].at_edge);
      }
      CHECK(std::log2(r.axes[a].value) >= -1e-9);
      CHECK(std::log2(r.axes[a].value) <= top + 1e-9);
      if (r.axes[a].at_edge) {
        CHECK((c == 0 || c == top));
        CHECK(std::log2(r.axes[a].value) == c);
      }
    }
  }
}

TEST_CASE("2 axes: the surface's vertex outside on an interior axis -> local fit there") {
  // The 1-D case above along lr, plus a quadratic in init std centred inside the grid.
  const std::vector<double> offsets = {-1, -0.5, 0, 0.5, 1};
  const std::vector<double> loss = {1.45054, 1.44746, 1.45871, 1.46100, 1.47202};
  std::vector<FitPoint> pts;
  for (std::size_t i = 0; i < offsets.size(); ++i)
    for (int z = -1; z <= 1; ++z)
      pts.push_back({{std::exp2(offsets[i]), std::exp2(z)}, {loss[i] + 0.01 * z * z}, 0});
  FitResult r = fit_optimum({{"lr", true}, {"init_std", true}}, pts);
  CHECK(r.method == "local_quadratic");
  CHECK_FALSE(r.axes[0].at_edge);
  CHECK_FALSE(r.axes[1].at_edge);
  CHECK(std::log2(r.axes[0].value) == doctest::Approx(-0.6425).epsilon(1e-3));
  CHECK(std::log2(r.axes[1].value) == doctest::Approx(0).scale(1));
  // init std's grid cut at the best value: that axis is at the edge, lr is still fitted.
  std::vector<FitPoint> cut;
  for (const auto& p : pts)
    if (p.coords[1] <= 1.0) cut.push_back(p);
  FitResult c = fit_optimum({{"lr", true}, {"init_std", true}}, cut);
  CHECK_FALSE(c.axes[0].at_edge);
  CHECK(std::log2(c.axes[0].value) == doctest::Approx(-0.6425).epsilon(1e-3));
  CHECK(c.axes[1].at_edge);
  CHECK(c.axes[1].edge_message.find("largest") != std::string::npos);
}

TEST_CASE("diverged points are excluded but counted, all diverged is a check failure") {
  auto pts = lr_sweep(-12, -5, 1, -8.3, 0.0, 1, 1);
  pts.back().objectives.clear();
  pts.back().excluded = 1;
  FitResult r = fit_optimum({{"lr", true}}, pts);
  CHECK(r.excluded_trials == 1);
  CHECK(std::log2(r.axes[0].value) == doctest::Approx(-8.3).epsilon(0.02));
  for (auto& p : pts) {
    p.objectives.clear();
    p.excluded = 1;
  }
  CHECK_THROWS_AS(fit_optimum({{"lr", true}}, pts), CheckFailedError);
}

TEST_CASE("flat objective: no crash, and a CI as wide as the grid allows") {
  std::vector<FitPoint> pts;
  std::mt19937_64 rng(3);
  std::normal_distribution<double> n(0, 0.01);
  for (int x = -12; x <= -5; ++x)
    pts.push_back({{std::exp2(x)}, {3.0 + n(rng)}, 0});
  FitResult r = fit_optimum({{"lr", true}}, pts);
  CHECK(std::isfinite(r.axes[0].value));
  CHECK(r.axes[0].ci_high / r.axes[0].ci_low >= 4.0); // at least two octaves of doubt
}

TEST_CASE("2 axes: response surface recovers (lr, init_std)") {
  std::vector<FitPoint> pts;
  for (int x = -11; x <= -5; ++x)
    for (int z = -8; z <= -4; ++z) {
      const double dx = x - (-8.4), dz = z - (-6.2);
      pts.push_back({{std::exp2(x), std::exp2(z)},
                     {2.5 + 0.1 * dx * dx + 0.05 * dz * dz + 0.02 * dx * dz},
                     0});
    }
  FitResult r = fit_optimum({{"lr", true}, {"init_std", true}}, pts);
  CHECK(r.method == "response_surface");
  CHECK(std::log2(r.axes[0].value) == doctest::Approx(-8.4).epsilon(0.01));
  CHECK(std::log2(r.axes[1].value) == doctest::Approx(-6.2).epsilon(0.01));
  CHECK(r.r2 > 0.999);
}

TEST_CASE("malformed input is rejected") {
  CHECK_THROWS_AS(fit_optimum({}, {}), std::invalid_argument);
  CHECK_THROWS_AS(fit_optimum({{"lr", true}}, {{{-1.0}, {1.0}, 0}}), std::invalid_argument);
  CHECK_THROWS_AS(fit_optimum({{"lr", true}}, {{{1.0, 2.0}, {1.0}, 0}}), std::invalid_argument);
}
