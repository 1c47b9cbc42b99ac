#include "sweep/worker.h"

#include "spec/config.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/hash.h"

namespace mue {

TrialPack parse_trial_pack(const Json& j, const Where& where) {
  ObjectReader r(j, where);
  check_schema_field(r, kPackSchema);
  TrialPack p;
  const Json& trials = as_array(r.raw("trials"), r.at("trials"));
  if (trials.empty()) r.fail("trials", "a pack needs at least one trial spec");
  for (std::size_t i = 0; i < trials.size(); ++i)
    p.trials.push_back(parse_trial_spec(trials[i], r.at("trials").at(i)));
  r.finish();
  return p;
}

Json to_json(const TrialPack& p) {
  Json trials = Json::array();
  for (const auto& t : p.trials)
    trials.push_back(to_json(t));
  return Json{{"schema", kPackSchema}, {"trials", trials}};
}

PackResult parse_pack_result(const Json& j, const Where& where) {
  ObjectReader r(j, where);
  check_schema_field(r, kPackResultSchema);
  PackResult p;
  const Json& results = as_array(r.raw("results"), r.at("results"));
  for (std::size_t i = 0; i < results.size(); ++i)
    p.results.push_back(parse_trial_result(results[i], r.at("results").at(i)));
  r.finish();
  return p;
}

Json to_json(const PackResult& p) {
  Json results = Json::array();
  for (const auto& t : p.results)
    results.push_back(to_json(t));
  return Json{{"schema", kPackResultSchema}, {"results", results}};
}

Calibration parse_calibration(const Json& j, const Where& where) {
  ObjectReader r(j, where);
  check_schema_field(r, kCalibrationSchema);
  Calibration c;
  c.single_step_s = r.number("single_step_s");
  const Json& packs = as_array(r.raw("packs"), r.at("packs"));
  for (std::size_t i = 0; i < packs.size(); ++i) {
    ObjectReader pr(packs[i], r.at("packs").at(i));
    const auto k = pr.integer("k");
    require_positive(static_cast<double>(k), pr.at("k"));
    c.pack_step_s.emplace_back(static_cast<int>(k), pr.number("step_s"));
    pr.finish();
  }
  r.finish();
  return c;
}

Json to_json(const Calibration& c) {
  Json packs = Json::array();
  for (const auto& [k, s] : c.pack_step_s)
    packs.push_back(Json{{"k", k}, {"step_s", s}});
  return Json{{"schema", kCalibrationSchema}, {"single_step_s", c.single_step_s}, {"packs", packs}};
}

std::string pack_key(const TrialSpec& spec) {
  const RunConfig& c = spec.config;
  const ModelSpec& m = c.model;
  if (m.ffn.kind != FfnKind::kDense || c.backend.kind != BackendKind::kLibTorch) return "";
  // The stacked model (backends/libtorch/fused.cpp) has multi-head attention of width
  // d_model, no QK-norm and untied embeddings; anything else runs alone.
  if (m.kv_heads() != m.n_heads || m.d_attn() != m.d_model || m.qk_norm || m.tie_embeddings)
    return "";
  Json j = to_json(c);
  Json h = j["hparams"];
  j.erase("hparams");
  // β and the forward multipliers α are one value per pack (the stacked forward applies one).
  for (const char* k : {"beta1", "beta2", "alpha_emb", "alpha_out", "alpha_attn"})
    if (h.contains(k)) j[k] = h[k];
  j["device"] = spec.device;
  return j.dump();
}

std::vector<std::string> worker_args(const std::string& spec_file, const std::string& result_file,
                                     bool pack, const std::string& progress_file) {
  std::vector<std::string> a{"-q", "trial", "--spec", spec_file, "--result", result_file};
  if (pack) a.push_back("--pack");
  if (!progress_file.empty()) {
    a.push_back("--progress");
    a.push_back(progress_file);
  }
  return a;
}

std::vector<std::string> calibrate_args(const std::string& spec_file) {
  return {"-q", "trial", "--calibrate", "--spec", spec_file};
}

std::string Unit::spec_text() const {
  const Json j = pack() ? to_json(TrialPack{trials}) : to_json(trials.front());
  return j.dump(1) + "\n";
}

Unit make_unit(std::vector<TrialSpec> trials) {
  if (trials.empty()) throw RuntimeError("make_unit: a unit needs at least one trial");
  Unit u;
  if (trials.size() == 1) {
    u.name = trials.front().id();
  } else {
    std::string ids;
    for (const auto& t : trials)
      ids += t.id();
    u.name = "pack-" + hash_hex(ids);
  }
  u.trials = std::move(trials);
  return u;
}

std::optional<TrialResult> read_trial_result(const std::string& path, const std::string& id) {
  try {
    TrialResult r = parse_trial_result(Json::parse(read_file(path)), Where{path, ""});
    if (r.id == id) return r;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

std::vector<TrialResult> read_pack_results(const std::string& path) {
  try {
    return parse_pack_result(Json::parse(read_file(path)), Where{path, ""}).results;
  } catch (const std::exception&) {
    return {};
  }
}

std::vector<TrialResult> read_unit_results(const Unit& u, const std::string& path) {
  if (u.pack()) return read_pack_results(path);
  if (auto r = read_trial_result(path, u.name)) return {*r};
  return {};
}

} // namespace mue
