#include "sweep/adaptive.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "sweep/report.h"
#include "util/error.h"

namespace mue {
namespace {

// One axis as a lattice: its values sorted ascending (positions 0..n-1), log2 when positive.
struct Lattice {
  std::vector<double> values; // ascending
  bool log = true;
  double spacing = 1; // mean distance between neighbours (log2 units on a log axis)
  int stride0 = 0;    // round 0's stride in positions; 0 = a single value (fixed axis)

  double coord(double v) const { return log ? std::log2(v) : v; }
  std::size_t nearest(double v) const {
    std::size_t best = 0;
    for (std::size_t i = 1; i < values.size(); ++i)
      if (std::abs(coord(values[i]) - coord(v)) < std::abs(coord(values[best]) - coord(v)))
        best = i;
    return best;
  }
};

std::vector<Lattice> lattices(const SweepSpec& s) {
  std::vector<Lattice> out;
  for (const auto& ax : s.axes) {
    Lattice l;
    l.values = ax.values;
    std::sort(l.values.begin(), l.values.end());
    l.log = l.values.front() > 0;
    const std::size_t n = l.values.size();
    if (n > 1) {
      l.spacing = (l.coord(l.values.back()) - l.coord(l.values.front())) / double(n - 1);
      // At least coarse_step apart (a coarse_step between lattice steps rounds up).
      l.stride0 =
          l.log && l.spacing > 0
              ? std::max(1, static_cast<int>(std::ceil(s.search.coarse_step / l.spacing - 1e-9)))
              : std::max(1, static_cast<int>(std::lround(double(n - 1) / 4.0)));
      l.stride0 = std::min<int>(l.stride0, static_cast<int>(n - 1));
    }
    out.push_back(l);
  }
  return out;
}

int stride_at(const Lattice& l, int round) {
  if (l.stride0 == 0) return 0;
  return std::max(1, l.stride0 >> std::min(round, 30));
}

using Position = std::vector<std::size_t>; // lattice position per axis

std::vector<double> point_of(const std::vector<Lattice>& ls, const Position& p) {
  std::vector<double> v;
  for (std::size_t a = 0; a < ls.size(); ++a)
    v.push_back(ls[a].values[p[a]]);
  return v;
}

// The product over axes of the per-axis position lists.
std::vector<Position> product(const std::vector<std::vector<std::size_t>>& per_axis) {
  std::vector<Position> out{Position{}};
  for (const auto& options : per_axis) {
    std::vector<Position> next;
    for (const auto& p : out)
      for (std::size_t o : options) {
        Position q = p;
        q.push_back(o);
        next.push_back(std::move(q));
      }
    out = std::move(next);
  }
  return out;
}

std::vector<Position> round0(const std::vector<Lattice>& ls) {
  std::vector<std::vector<std::size_t>> per_axis;
  for (const auto& l : ls) {
    std::vector<std::size_t> pos;
    const std::size_t n = l.values.size();
    if (l.stride0 == 0) {
      pos.push_back(0);
    } else {
      for (std::size_t i = 0; i < n; i += static_cast<std::size_t>(l.stride0))
        pos.push_back(i);
      if (pos.back() != n - 1) pos.push_back(n - 1);
    }
    per_axis.push_back(pos);
  }
  return product(per_axis);
}

// Candidates of round r around `center`, untried ones only, nearest first.
std::vector<Position> refine(const std::vector<Lattice>& ls, const Position& center, int round,
                             const std::set<Position>& tried) {
  std::size_t free_axes = 0;
  for (const auto& l : ls)
    free_axes += l.stride0 > 0;
  const int reach = free_axes <= 1 ? 2 : 1;
  std::vector<std::vector<std::size_t>> per_axis;
  for (std::size_t a = 0; a < ls.size(); ++a) {
    const int stride = stride_at(ls[a], round);
    std::set<std::size_t> pos;
    const long n = static_cast<long>(ls[a].values.size());
    for (int m = -reach; m <= reach; ++m) {
      const long p = static_cast<long>(center[a]) + m * stride;
      if (p >= 0 && p < n) pos.insert(static_cast<std::size_t>(p));
    }
    per_axis.emplace_back(pos.begin(), pos.end());
  }
  std::vector<Position> out;
  for (auto& p : product(per_axis))
    if (!tried.count(p)) out.push_back(std::move(p));
  auto distance = [&](const Position& p) {
    double d = 0;
    for (std::size_t a = 0; a < ls.size(); ++a) {
      const int stride = stride_at(ls[a], round);
      if (stride > 0) d += std::abs(double(p[a]) - double(center[a])) / stride;
    }
    return d;
  };
  std::stable_sort(out.begin(), out.end(),
                   [&](const Position& x, const Position& y) { return distance(x) < distance(y); });
  return out;
}

bool finished_trial(const std::map<std::string, TrialResult>& done, const std::string& id) {
  const auto it = done.find(id);
  return it != done.end() && !it->second.retry;
}

} // namespace

AdaptiveState adaptive_state(const SweepSpec& s, const std::string& file,
                             const std::map<std::string, TrialResult>& done) {
  AdaptiveState st;
  st.grid_trials = s.grid_points() * s.seeds.size();
  const std::size_t budget = s.search.max_trials > 0 ? s.search.max_trials : st.grid_trials;
  const std::vector<Lattice> ls = lattices(s);
  std::set<Position> tried;

  // Adds a round's points to the plan; true when all of its trials have results.
  auto add_round = [&](int round, const std::vector<Position>& points) {
    Json stride = Json::object(), spacing = Json::object();
    for (std::size_t a = 0; a < ls.size(); ++a) {
      stride[s.axes[a].key] = stride_at(ls[a], round);
      if (ls[a].log && ls[a].stride0 > 0)
        spacing[s.axes[a].key] = stride_at(ls[a], round) * ls[a].spacing;
    }
    bool complete = true;
    for (const auto& p : points) {
      tried.insert(p);
      for (auto& t : plan_point(s, point_of(ls, p), file)) {
        if (!finished_trial(done, t.spec.id())) {
          st.pending.push_back(t.spec.id());
          complete = false;
        }
        st.plan.push_back(std::move(t));
      }
    }
    st.rounds.push_back(Json{{"round", round},
                             {"stride", stride},
                             {"spacing_log2", spacing},
                             {"points", points.size()},
                             {"trials", points.size() * s.seeds.size()}});
    return complete;
  };
  auto stop = [&](const std::string& why) {
    st.finished = true;
    st.stop_reason = why;
    return st;
  };

  std::vector<Position> first = round0(ls);
  if (first.size() * s.seeds.size() > budget)
    first.resize(std::max<std::size_t>(1, budget / s.seeds.size()));
  if (!add_round(0, first)) return st;
  int round = 0;
  for (;;) {
    FitResult fit;
    try {
      fit = build_sweep_report(s, file, st.plan, done, Json::object()).fit;
    } catch (const CheckFailedError&) {
      return stop("no_usable");
    }
    // The last round's fit: where the optimum is, how sure.
    Json optimum = Json::object(), half = Json::object();
    bool ci_ok = true, spacing_ok = true;
    Position center;
    for (std::size_t a = 0; a < ls.size(); ++a) {
      const AxisFit& f = fit.axes[a];
      optimum[s.axes[a].key] = f.value;
      center.push_back(ls[a].nearest(f.value));
      if (ls[a].stride0 == 0) continue;
      if (ls[a].log) {
        const double h = (std::log2(f.ci_high) - std::log2(f.ci_low)) / 2;
        half[s.axes[a].key] = h;
        ci_ok = ci_ok && h <= s.search.target_ci_log2;
        spacing_ok =
            spacing_ok && (stride_at(ls[a], round) == 1 ||
                           stride_at(ls[a], round) * ls[a].spacing <= 2 * s.search.target_ci_log2);
      } else {
        spacing_ok = spacing_ok && stride_at(ls[a], round) == 1;
      }
    }
    st.rounds.back()["optimum"] = optimum;
    st.rounds.back()["ci_half_width_log2"] = half;
    if (ci_ok && spacing_ok) return stop("ci");
    if (round >= s.search.max_rounds) return stop("rounds");
    // The next round with untried points: strides halve until the lattice runs out.
    std::vector<Position> next;
    for (;;) {
      ++round;
      next = refine(ls, center, round, tried);
      bool finest = true;
      for (const auto& l : ls)
        finest = finest && stride_at(l, round) <= 1;
      if (!next.empty() || finest || round >= s.search.max_rounds) break;
    }
    if (next.empty()) return stop(round >= s.search.max_rounds ? "rounds" : "lattice");
    const std::size_t room = (budget - std::min(budget, st.plan.size())) / s.seeds.size();
    if (room == 0) return stop("budget");
    if (next.size() > room) next.resize(room);
    if (!add_round(round, next)) return st;
  }
}

Json adaptive_summary(const SweepSpec& s, const AdaptiveState& st) {
  Json j = to_json(s.search);
  j["rounds"] = st.rounds;
  j["stopped"] = st.finished ? st.stop_reason : "running";
  j["trials"] = st.plan.size();
  j["grid_trials"] = st.grid_trials;
  return j;
}

} // namespace mue
