#include "spec/sweep_spec.h"

#include <cmath>
#include <set>

#include "util/error.h"

namespace mue {

std::size_t SweepSpec::grid_points() const {
  std::size_t n = 1;
  for (const auto& a : axes)
    n *= a.values.size();
  return n;
}

std::vector<double> expand_log2_grid(double lo, double hi, double step, const Where& where) {
  if (!(step > 0)) where.at(2).fail("log2 step must be > 0");
  if (lo > hi) where.at(1).fail("upper end must be >= lower end (" + Json(lo).dump() + ")");
  double n = std::floor((hi - lo) / step + 1e-9) + 1;
  if (n > static_cast<double>(kMaxAxisValues))
    where.fail("grid has " + Json(n).dump() + " values; at most " + std::to_string(kMaxAxisValues) +
               " per axis");
  std::vector<double> v;
  for (int i = 0; i < static_cast<int>(n); ++i)
    v.push_back(std::exp2(lo + i * step));
  return v;
}

Json to_json(const Objective& o) {
  if (o.kind == ObjectiveKind::kFinalValLoss) return Json{{"kind", "final_val_loss"}};
  return Json{{"kind", "mean_last_k"}, {"k", o.k}};
}

Objective parse_objective(const Json& j, const Where& where) {
  ObjectReader r(j, where);
  Objective o;
  std::string kind = r.choice("kind", {"final_val_loss", "mean_last_k"});
  if (kind == "mean_last_k") {
    o.kind = ObjectiveKind::kMeanLastK;
    std::int64_t k = r.integer("k");
    if (k <= 0) r.fail("k", "must be a positive integer");
    o.k = to_int(k, r.at("k"));
  }
  r.finish();
  return o;
}

namespace {

std::string axis_pointer(const std::string& key, const Where& w) {
  // The swept hyperparameters by name; the α multipliers of §11.10 are axes like lr.
  for (const char* h : {"lr", "wd", "init_std", "alpha_emb", "alpha_out", "alpha_attn"})
    if (key == h) return "/hparams/" + key;
  if (key.empty() || key[0] != '/')
    w.fail("axis '" + key +
           "' is not 'lr', 'wd', 'init_std', 'alpha_emb', 'alpha_out', 'alpha_attn' or a JSON "
           "pointer such as '/train/batch_size'");
  if (key.rfind("/model/", 0) != 0 && key.rfind("/train/", 0) != 0 &&
      key.rfind("/hparams/", 0) != 0)
    w.fail("axis pointer '" + key + "' must point into /model, /train or /hparams");
  try {
    Json::json_pointer p(key);
  } catch (const Json::exception&) {
    w.fail("axis pointer '" + key + "' is not a valid JSON pointer");
  }
  return key;
}

Axis parse_axis(const std::string& key, const Json& v, const Where& w) {
  Axis a;
  a.key = key;
  a.pointer = axis_pointer(key, w);
  if (v.is_array()) {
    if (v.empty()) w.fail("axis has no values");
    if (v.size() > kMaxAxisValues)
      w.fail("axis has " + std::to_string(v.size()) + " values; at most " +
             std::to_string(kMaxAxisValues));
    std::set<double> seen;
    for (std::size_t i = 0; i < v.size(); ++i) {
      double x = as_number(v[i], w.at(i));
      if (!seen.insert(x).second) w.at(i).fail("value " + v[i].dump() + " appears twice");
      a.values.push_back(x);
    }
    return a;
  }
  ObjectReader r(v, w);
  const Json& g = as_array(r.raw("log2_grid"), r.at("log2_grid"));
  Where gw = r.at("log2_grid");
  if (g.size() != 3) gw.fail("expected [lo, hi, step]: exponents of 2 and a step in log2 units");
  a.values = expand_log2_grid(as_number(g[0], gw.at(0)), as_number(g[1], gw.at(1)),
                              as_number(g[2], gw.at(2)), gw);
  a.log2_grid = true;
  r.finish();
  return a;
}

} // namespace

RunConfig config_at(const SweepSpec& s, const std::vector<double>& point, std::uint64_t seed,
                    const Where& where) {
  Json doc = s.base;
  for (std::size_t i = 0; i < s.axes.size(); ++i) {
    Json::json_pointer p(s.axes[i].pointer);
    double x = point[i];
    try {
      // Whole numbers are written as integers so "/model/d_model" = 256 reads as one.
      if (std::floor(x) == x && std::fabs(x) < 9e15 && s.axes[i].pointer.rfind("/hparams/", 0) != 0)
        doc[p] = static_cast<std::int64_t>(x);
      else
        doc[p] = x;
    } catch (const Json::exception&) {
      where.at("axes")
          .at(s.axes[i].key)
          .fail("axis pointer '" + s.axes[i].pointer + "' does not lead to a field of the config");
    }
  }
  doc["train"]["seed"] = seed;
  doc["backend"] = to_json(s.backend);
  return parse_config(doc, Where{where.file, ""});
}

SearchSpec parse_search(const Json& j, const Where& where) {
  ObjectReader r(j, where);
  SearchSpec s;
  const std::string kind = r.string("kind");
  if (kind != "grid" && kind != "adaptive")
    r.fail("kind", "expected \"grid\" or \"adaptive\", got \"" + kind + "\"");
  s.adaptive = kind == "adaptive";
  if (auto v = r.opt_number("coarse_step")) {
    if (!(*v > 0) || *v > 64) r.fail("coarse_step", "must be in (0, 64] (log2 units)");
    s.coarse_step = *v;
  }
  if (auto v = r.opt_number("target_ci_log2")) {
    if (!(*v > 0) || *v > 64) r.fail("target_ci_log2", "must be in (0, 64] (log2 units)");
    s.target_ci_log2 = *v;
  }
  if (r.has("max_trials")) {
    const std::int64_t n = as_integer(r.raw("max_trials"), r.at("max_trials"));
    if (n < 1 || n > static_cast<std::int64_t>(kMaxTrials))
      r.fail("max_trials", "must be in [1, " + std::to_string(kMaxTrials) + "]");
    s.max_trials = static_cast<std::size_t>(n);
  }
  if (r.has("max_rounds")) {
    const std::int64_t n = as_integer(r.raw("max_rounds"), r.at("max_rounds"));
    if (n < 0 || n > 64) r.fail("max_rounds", "must be in [0, 64]");
    s.max_rounds = static_cast<int>(n);
  }
  if (!s.adaptive && j.size() > 1)
    r.fail("kind", "the settings of this object apply to \"adaptive\" only");
  r.finish();
  return s;
}

Json to_json(const SearchSpec& s) {
  if (!s.adaptive) return Json{{"kind", "grid"}};
  Json j{{"kind", "adaptive"},
         {"coarse_step", s.coarse_step},
         {"target_ci_log2", s.target_ci_log2},
         {"max_rounds", s.max_rounds}};
  if (s.max_trials > 0) j["max_trials"] = s.max_trials;
  return j;
}

PrunerSpec parse_pruner(const Json& j, const Where& where) {
  ObjectReader r(j, where);
  PrunerSpec p;
  const std::string kind = r.string("kind");
  if (kind == "median")
    p.kind = PrunerSpec::Kind::kMedian;
  else if (kind == "successive_halving")
    p.kind = PrunerSpec::Kind::kSuccessiveHalving;
  else if (kind != "none")
    r.fail("kind", "expected \"none\", \"median\" or \"successive_halving\", got \"" + kind + "\"");
  auto count = [&](const char* key, int lo, int& out) {
    if (!r.has(key)) return;
    const std::int64_t n = as_integer(r.raw(key), r.at(key));
    if (n < lo || n > 1000000) r.fail(key, "must be in [" + std::to_string(lo) + ", 1000000]");
    out = static_cast<int>(n);
  };
  // Each setting belongs to one rule: another rule's setting is refused, not ignored.
  const bool median = p.kind == PrunerSpec::Kind::kMedian;
  const bool halving = p.kind == PrunerSpec::Kind::kSuccessiveHalving;
  for (const char* key : {"warmup_evals", "min_trials", "min_evals", "eta"}) {
    const std::string k = key;
    const bool applies = (k == "min_trials" && (median || halving)) ||
                         (k == "warmup_evals" && median) ||
                         ((k == "min_evals" || k == "eta") && halving);
    if (r.has(key) && !applies) r.fail(key, "does not apply to the \"" + kind + "\" pruner");
  }
  count("warmup_evals", 0, p.warmup_evals);
  count("min_trials", 1, p.min_trials);
  count("min_evals", 1, p.min_evals);
  if (auto e = r.opt_number("eta")) {
    if (!(*e >= 1.5) || *e > 100) r.fail("eta", "must be in [1.5, 100]");
    p.eta = *e;
  }
  r.finish();
  return p;
}

Json to_json(const PrunerSpec& p) {
  switch (p.kind) {
  case PrunerSpec::Kind::kMedian:
    return Json{{"kind", "median"}, {"warmup_evals", p.warmup_evals}, {"min_trials", p.min_trials}};
  case PrunerSpec::Kind::kSuccessiveHalving:
    return Json{{"kind", "successive_halving"},
                {"min_evals", p.min_evals},
                {"eta", p.eta},
                {"min_trials", p.min_trials}};
  case PrunerSpec::Kind::kNone:
    break;
  }
  return Json{{"kind", "none"}};
}

SweepSpec parse_sweep_spec(const Json& j, const Where& where) {
  ObjectReader r(j, where);
  check_schema_field(r, kSweepSpecSchema);
  SweepSpec s;
  s.name = r.string("name");
  if (s.name.empty()) r.fail("name", "must not be empty");
  if (auto d = r.opt_string("description")) s.description = *d;

  // Check each part on its own first, so errors point at the part's own field.
  parse_model(r.raw("model"), r.at("model"));
  const TrainSpec train = parse_train(r.raw("train"), r.at("train"));
  parse_hparams(r.has("hparams") ? r.raw("hparams") : Json::object(), r.at("hparams"), true);
  s.base = Json{{"model", r.raw("model")},
                {"train", r.raw("train")},
                {"hparams", r.has("hparams") ? r.raw("hparams") : Json::object()}};
  // The base names its data files as parse_train anchored them (absolute, beside this spec),
  // so the canonical spec.json and every trial mean the same files from any folder.
  if (Json& tj = s.base["train"]; tj.contains("data")) {
    Json& d = tj["data"];
    if (d.contains("path")) d["path"] = train.data.path;
    if (d.contains("val_path")) d["val_path"] = train.data.val_path;
  }
  if (r.has("backend")) s.backend = parse_backend(r.raw("backend"), r.at("backend"));
  // Transfer options decide the table every trial trains with (e.g. the standard baseline).
  if (r.has("options"))
    s.base["options"] = to_json(parse_options(r.raw("options"), r.at("options")));

  ObjectReader ar = r.object("axes");
  std::set<std::string> pointers;
  for (const auto& [key, val] : r.raw("axes").items()) {
    ar.mark_known(key);
    Axis a = parse_axis(key, val, ar.at(key));
    if (!pointers.insert(a.pointer).second)
      ar.fail(key,
              "axis '" + key + "' sweeps " + a.pointer + ", which another axis already sweeps");
    s.axes.push_back(std::move(a));
  }
  ar.finish();
  if (s.axes.empty()) r.fail("axes", "a sweep needs at least one axis");
  // In double: the product of the counts cannot overflow; printed whole.
  auto count = [](double n) {
    return n < 9e18 ? std::to_string(static_cast<long long>(n)) : Json(n).dump();
  };
  double total = 1;
  for (const auto& a : s.axes)
    total *= static_cast<double>(a.values.size());
  if (total > static_cast<double>(kMaxGridPoints))
    r.fail("axes",
           "grid has " + count(total) + " points; at most " + std::to_string(kMaxGridPoints));

  if (r.has("seeds")) {
    const Json& sv = r.raw("seeds");
    if (sv.is_array()) {
      if (sv.empty()) r.fail("seeds", "needs at least one seed");
      if (sv.size() > 1000) r.fail("seeds", "at most 1000 seeds, got " + std::to_string(sv.size()));
      std::set<std::int64_t> seen;
      for (std::size_t i = 0; i < sv.size(); ++i) {
        std::int64_t x = as_integer(sv[i], r.at("seeds").at(i));
        if (x < 0) r.at("seeds").at(i).fail("must be >= 0");
        if (!seen.insert(x).second) r.at("seeds").at(i).fail("seed appears twice");
        s.seeds.push_back(static_cast<std::uint64_t>(x));
      }
    } else {
      std::int64_t n = as_integer(sv, r.at("seeds"));
      if (n <= 0 || n > 1000) r.fail("seeds", "number of seeds must be in [1, 1000]");
      std::uint64_t base_seed = s.base["train"].value("seed", std::uint64_t{0});
      for (std::int64_t i = 0; i < n; ++i)
        s.seeds.push_back(base_seed + static_cast<std::uint64_t>(i));
    }
  } else {
    s.seeds = {s.base["train"].value("seed", std::uint64_t{0})};
  }
  if (total * static_cast<double>(s.seeds.size()) > static_cast<double>(kMaxTrials))
    r.fail("seeds", "the sweep has " + count(total) + " grid points × " +
                        std::to_string(s.seeds.size()) +
                        " seeds = " + count(total * static_cast<double>(s.seeds.size())) +
                        " trials; at most " + std::to_string(kMaxTrials) + " per run");
  if (r.has("objective")) s.objective = parse_objective(r.raw("objective"), r.at("objective"));
  if (r.has("search")) s.search = parse_search(r.raw("search"), r.at("search"));
  if (r.has("pruner")) s.pruner = parse_pruner(r.raw("pruner"), r.at("pruner"));
  if (auto t = r.opt_number("trial_timeout_s")) {
    require_positive(*t, r.at("trial_timeout_s"));
    s.trial_timeout_s = *t;
  }
  if (auto d = r.opt_number("divergence_loss")) {
    require_positive(*d, r.at("divergence_loss"));
    s.divergence_loss = *d;
  }
  r.finish();

  // The base with every axis at its first value must be a valid run; then each
  // further value of each axis alone. A failure caused by an axis value is
  // reported at that axis entry, with the field it broke.
  auto axis_where = [&](std::size_t i, std::size_t k) {
    Where aw = where.at("axes").at(s.axes[i].key);
    return s.axes[i].log2_grid ? aw : aw.at(k);
  };
  std::vector<double> first;
  for (const auto& a : s.axes)
    first.push_back(a.values.front());
  try {
    config_at(s, first, s.seeds.front(), where);
  } catch (const InputError& e) {
    for (std::size_t i = 0; i < s.axes.size(); ++i)
      if (e.pointer() == s.axes[i].pointer) axis_where(i, 0).fail(e.reason());
    throw;
  }
  for (std::size_t i = 0; i < s.axes.size(); ++i) {
    const Axis& a = s.axes[i];
    for (std::size_t k = 1; k < a.values.size(); ++k) {
      std::vector<double> point = first;
      point[i] = a.values[k];
      try {
        config_at(s, point, s.seeds.front(), where);
      } catch (const InputError& e) {
        std::string value = Json(a.values[k]).dump();
        if (e.pointer() == a.pointer) axis_where(i, k).fail(e.reason() + " (value " + value + ")");
        axis_where(i, k).fail("value " + value + " makes the run invalid: " + e.pointer() + ": " +
                              e.reason());
      }
    }
  }
  return s;
}

Json to_json(const SweepSpec& s) {
  Json axes = Json::object();
  for (const auto& a : s.axes)
    axes[a.key] = a.values;
  Json j{{"schema", kSweepSpecSchema},
         {"name", s.name},
         {"model", s.base["model"]},
         {"train", s.base["train"]},
         {"hparams", s.base["hparams"]},
         {"axes", axes},
         {"seeds", s.seeds},
         {"objective", to_json(s.objective)},
         {"trial_timeout_s", s.trial_timeout_s},
         {"backend", to_json(s.backend)}};
  if (!s.description.empty()) j["description"] = s.description;
  if (s.divergence_loss > 0) j["divergence_loss"] = s.divergence_loss;
  if (s.base.contains("options")) j["options"] = s.base["options"];
  if (s.search.adaptive) j["search"] = to_json(s.search); // a grid's spec.json is unchanged
  if (s.pruner.kind != PrunerSpec::Kind::kNone) j["pruner"] = to_json(s.pruner);
  return j;
}

} // namespace mue
