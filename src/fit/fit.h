#pragma once
// Fitting the optimum of a sweep (docs/design.md "Fit"): a quadratic in log2 space
// around the best point (1 axis) or a quadratic response surface (2-3 axes); when its
// vertex leaves the sampled box, a local fit (the best point and its neighbours one level
// away) on every axis where the best point is interior, and the best point with at_edge on
// an axis where it is the smallest or largest value tried; a bootstrap confidence interval
// on each coordinate, and R².
#include <cstdint>
#include <string>
#include <vector>

namespace mue {

struct FitAxis {
  std::string key;       // "lr", "wd", "init_std" or a JSON pointer
  bool log_scale = true; // fit in log2(value); needs positive values
};

struct FitPoint {
  std::vector<double> coords;     // one value per axis
  std::vector<double> objectives; // usable trials (one per seed); empty = none usable
  int excluded = 0;               // diverged / failed / timed-out trials at this point
};

struct AxisFit {
  double value = 0; // the optimum
  double ci_low = 0, ci_high = 0;
  // The best measured point is the smallest or largest value tried on this axis (never
  // set when it is interior: then the optimum is fitted inside the grid).
  bool at_edge = false;
  bool fitted_beyond = false; // at_edge, and the fitted optimum lies beyond that end
  std::string edge_message;   // which end, whether the fitted optimum lies beyond, which way
};

struct FitOptions {
  int bootstrap = 200;
  std::uint64_t seed = 0;
  double confidence = 0.95;
};

struct FitResult {
  std::vector<AxisFit> axes;
  // "quadratic", "response_surface", "local_quadratic" (the fallback of an interior best
  // point) or "best_point"
  std::string method;
  // R² of the quadratic the optimum came from, on its points; for best_point that of the
  // rejected neighbourhood fit; 0 without any
  double r2 = 0;
  double best_objective = 0;
  double predicted_objective = 0; // the fit at the optimum (the best objective for best_point)
  std::size_t used_points = 0;
  std::size_t excluded_trials = 0;
  double ci_dof = 0;      // degrees of freedom behind the noise estimate
  double ci_widening = 1; // t_dof / z applied to the bootstrap percentiles
};

// Objective per point = mean over its usable trials. CheckFailedError (exit 1) when
// no point has a usable trial; std::invalid_argument for malformed input.
FitResult fit_optimum(const std::vector<FitAxis>& axes, const std::vector<FitPoint>& points,
                      const FitOptions& options = {});

} // namespace mue
