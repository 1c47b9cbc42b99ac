#include "spec/trial.h"

#include <cmath>
#include <limits>
#include <map>

#include "util/hash.h"

namespace mue {

const char* to_string(TrialStatus s) {
  switch (s) {
  case TrialStatus::kOk:
    return "ok";
  case TrialStatus::kDiverged:
    return "diverged";
  case TrialStatus::kFailed:
    return "failed";
  case TrialStatus::kTimeout:
    return "timeout";
  case TrialStatus::kPruned:
    return "pruned";
  }
  return "?";
}

Json identity_json(const TrialSpec& t) {
  return Json{{"config", to_json(t.config)},
              {"objective", to_json(t.objective)},
              {"divergence_loss", t.divergence_threshold()}};
}

// nlohmann's object is a std::map, so dump() is canonical: sorted keys, no
// whitespace, shortest round-trip doubles.
std::string TrialSpec::id() const {
  return hash_hex(identity_json(*this).dump());
}

double TrialSpec::divergence_threshold() const {
  if (divergence_loss > 0) return divergence_loss;
  return 1.5 * std::log(static_cast<double>(config.model.vocab));
}

TrialSpec parse_trial_spec(const Json& j, const Where& where) {
  ObjectReader r(j, where);
  check_schema_field(r, kTrialSchema);
  TrialSpec t;
  // Read as written: relative paths resolve in base_dir (or beside the file) when the trial
  // runs, and the id is over the config as its writer wrote it.
  Where cw = r.at("config");
  cw.as_written = true;
  t.config = parse_config(r.raw("config"), cw);
  if (r.has("objective")) t.objective = parse_objective(r.raw("objective"), r.at("objective"));
  if (auto d = r.opt_number("divergence_loss")) {
    require_positive(*d, r.at("divergence_loss"));
    t.divergence_loss = *d;
  }
  if (auto d = r.opt_string("device")) {
    if (!(*d == "cpu" || *d == "cuda" || d->rfind("cuda:", 0) == 0))
      r.fail("device", "expected 'cpu', 'cuda' or 'cuda:N', got '" + *d + "'");
    t.device = *d;
  }
  if (auto n = r.opt_integer("threads")) {
    if (*n <= 0 || *n > 1024) r.fail("threads", "must be in [1, 1024]");
    t.threads = static_cast<int>(*n);
  }
  if (auto d = r.opt_string("base_dir")) {
    if (d->empty() || (*d)[0] != '/')
      r.fail("base_dir", "must be an absolute directory, got '" + *d + "'");
    t.base_dir = *d;
  }
  // "id" is written for readers; when present it must be the id of this content.
  if (auto id = r.opt_string("id"); id && *id != t.id())
    r.fail("id", "id '" + *id + "' does not match the spec's content (its id is '" + t.id() +
                     "'); was the file edited?");
  r.finish();
  return t;
}

Json to_json(const TrialSpec& t) {
  Json j = identity_json(t);
  j["schema"] = kTrialSchema;
  j["id"] = t.id();
  j["device"] = t.device;
  j["threads"] = t.threads;
  if (!t.base_dir.empty()) j["base_dir"] = t.base_dir;
  return j;
}

namespace {
Json opt_num(const std::optional<double>& v) {
  return v ? Json(*v) : Json(nullptr);
}
std::optional<double> read_opt_num(ObjectReader& r, const char* key) {
  if (!r.has(key) || r.raw(key).is_null()) return std::nullopt;
  return r.number(key);
}
} // namespace

TrialResult parse_trial_result(const Json& j, const Where& where) {
  ObjectReader r(j, where);
  check_schema_field(r, kResultSchema);
  TrialResult out;
  out.id = r.string("id");
  std::string st = r.choice("status", {"ok", "diverged", "failed", "timeout", "pruned"});
  out.status = st == "ok"         ? TrialStatus::kOk
               : st == "diverged" ? TrialStatus::kDiverged
               : st == "failed"   ? TrialStatus::kFailed
               : st == "pruned"   ? TrialStatus::kPruned
                                  : TrialStatus::kTimeout;
  out.objective = read_opt_num(r, "objective");
  out.final_val_loss = read_opt_num(r, "final_val_loss");
  if (out.status == TrialStatus::kOk && !out.objective)
    r.fail("objective", "a trial with status 'ok' must report its objective");
  if (r.has("curve")) {
    const Json& c = as_array(r.raw("curve"), r.at("curve"));
    for (std::size_t i = 0; i < c.size(); ++i) {
      ObjectReader pr(c[i], r.at("curve").at(i));
      CurvePoint p;
      p.step = pr.integer("step");
      // JSON has no NaN/inf: a diverged step's non-finite loss is written as null.
      if (!pr.has("train_loss")) pr.fail("train_loss", "required field is missing");
      p.train_loss =
          read_opt_num(pr, "train_loss").value_or(std::numeric_limits<double>::quiet_NaN());
      p.val_loss = read_opt_num(pr, "val_loss");
      if (auto lr = pr.opt_number("lr")) p.lr = *lr;
      pr.finish();
      out.curve.push_back(p);
    }
  }
  if (auto v = r.opt_number("tokens_per_s")) out.tokens_per_s = *v;
  if (auto v = r.opt_number("wall_s")) out.wall_s = *v;
  if (auto v = r.opt_number("process_wall_s")) out.process_wall_s = *v;
  if (auto v = r.opt_integer("peak_mem_bytes")) out.peak_mem_bytes = *v;
  if (auto v = r.opt_string("device")) out.device = *v;
  if (auto v = r.opt_string("error")) out.error = *v;
  if (auto v = r.opt_string("log_tail")) out.log_tail = *v;
  if (auto v = r.opt_boolean("retry")) out.retry = *v;
  if (r.has("exit_status") && !r.raw("exit_status").is_null())
    out.exit_status = to_int(r.integer("exit_status"), r.at("exit_status"));
  if (r.has("aux_loss") && !r.raw("aux_loss").is_null()) out.aux_loss = r.number("aux_loss");
  if (r.has("z_loss") && !r.raw("z_loss").is_null()) out.z_loss = r.number("z_loss");
  if (r.has("expert_load")) {
    const Json& layers = as_array(r.raw("expert_load"), r.at("expert_load"));
    for (std::size_t i = 0; i < layers.size(); ++i) {
      const Json& row = as_array(layers[i], r.at("expert_load").at(i));
      std::vector<double> v;
      for (std::size_t e = 0; e < row.size(); ++e)
        v.push_back(as_number(row[e], r.at("expert_load").at(i).at(e)));
      out.expert_load.push_back(std::move(v));
    }
  }
  r.finish();
  return out;
}

Json to_json(const TrialResult& r) {
  Json curve = Json::array();
  for (const auto& p : r.curve)
    curve.push_back(
        Json{{"step", p.step},
             {"train_loss", std::isfinite(p.train_loss) ? Json(p.train_loss) : Json(nullptr)},
             {"val_loss", opt_num(p.val_loss)},
             {"lr", p.lr}});
  Json j{{"schema", kResultSchema},
         {"id", r.id},
         {"status", to_string(r.status)},
         {"objective", opt_num(r.objective)},
         {"final_val_loss", opt_num(r.final_val_loss)},
         {"curve", curve},
         {"tokens_per_s", r.tokens_per_s},
         {"wall_s", r.wall_s},
         {"process_wall_s", r.process_wall_s},
         {"peak_mem_bytes", r.peak_mem_bytes},
         {"device", r.device}};
  if (!r.error.empty()) j["error"] = r.error;
  if (!r.log_tail.empty()) j["log_tail"] = r.log_tail;
  if (r.exit_status) j["exit_status"] = *r.exit_status;
  if (r.retry) j["retry"] = true;
  if (!r.expert_load.empty()) j["expert_load"] = r.expert_load;
  if (r.aux_loss) j["aux_loss"] = opt_num(r.aux_loss);
  if (r.z_loss) j["z_loss"] = opt_num(r.z_loss);
  return j;
}

std::string unusable_reason(const std::vector<const TrialResult*>& unusable) {
  std::map<std::string, std::size_t> statuses, lines;
  std::vector<std::string> order; // first lines in order of first appearance (ties: earliest)
  std::size_t with_error = 0;
  for (const TrialResult* r : unusable) {
    ++statuses[to_string(r->status)];
    const std::string line = r->error.substr(0, r->error.find('\n'));
    if (line.empty()) continue;
    ++with_error;
    if (lines[line]++ == 0) order.push_back(line);
  }
  if (order.empty()) return "";
  std::string counts;
  for (const char* st : {"failed", "timeout", "diverged"})
    if (statuses.count(st))
      counts += (counts.empty() ? "" : ", ") + std::to_string(statuses[st]) + " " + st;
  std::string best = order.front();
  for (const auto& l : order)
    if (lines[l] > lines[best]) best = l;
  if (order.size() == 1 && with_error == unusable.size()) return counts + ": " + best;
  return counts + "; most common error (" + std::to_string(lines[best]) + " of " +
         std::to_string(unusable.size()) + "): " + best;
}

} // namespace mue
