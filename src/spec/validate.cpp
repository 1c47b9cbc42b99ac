#include "spec/validate.h"

#include "spec/config.h"
#include "spec/sweep_spec.h"
#include "spec/target_spec.h"
#include "spec/trial.h"

namespace mue {

const char* to_string(SpecKind k) {
  switch (k) {
  case SpecKind::kConfig:
    return "config";
  case SpecKind::kSweepSpec:
    return "sweep spec";
  case SpecKind::kTargets:
    return "targets";
  case SpecKind::kTrial:
    return "trial spec";
  case SpecKind::kResult:
    return "trial result";
  }
  return "?";
}

SpecKind detect_kind(const Json& j, const std::string& file) {
  Where w{file, ""};
  if (!j.is_object()) w.fail("expected a JSON object at the top, got " + json_type_name(j));
  if (j.contains("schema")) {
    std::string s = as_string(j["schema"], w.at("schema"));
    if (s == kConfigSchema) return SpecKind::kConfig;
    if (s == kSweepSpecSchema) return SpecKind::kSweepSpec;
    if (s == kTargetsSchema) return SpecKind::kTargets;
    if (s == kTrialSchema) return SpecKind::kTrial;
    if (s == kResultSchema) return SpecKind::kResult;
    w.at("schema").fail("unknown schema '" + s + "' (known: " + kConfigSchema + ", " +
                        kSweepSpecSchema + ", " + kTargetsSchema + ", " + kTrialSchema + ", " +
                        kResultSchema + ")");
  }
  if (j.contains("axes")) return SpecKind::kSweepSpec;
  if (j.contains("targets")) return SpecKind::kTargets;
  if (j.contains("model") || j.contains("train")) return SpecKind::kConfig;
  w.fail("cannot tell what kind of muE file this is: expected a sweep spec (with \"axes\"), a "
         "targets file (with \"targets\"), a config (with \"model\" and \"train\"), or a "
         "\"schema\" field");
}

namespace {
void check_kind(SpecKind k, SpecKind expected, const std::string& path) {
  if (k != expected)
    Where{path, ""}.fail(std::string("this is a ") + to_string(k) + " file, but a " +
                         to_string(expected) + " is expected here");
}
} // namespace

Json read_spec(const std::string& path, SpecKind expected) {
  Json j = read_json_file(path);
  check_kind(detect_kind(j, path), expected, path);
  return j;
}

SpecKind validate_file(const std::string& path, std::optional<SpecKind> expected,
                       std::vector<std::string>* warnings) {
  Json j = read_json_file(path);
  SpecKind k = detect_kind(j, path);
  Where w{path, ""};
  if (expected) check_kind(k, *expected, path);
  switch (k) {
  case SpecKind::kConfig: {
    const RunConfig c = parse_config(j, w);
    const std::string why = c.model.ffn.degenerate_gate(c.options.routing_normalization ==
                                                        RoutingNormalization::kPerGroup);
    if (warnings && !why.empty()) warnings->push_back(path + ": /model/ffn: " + why);
    break;
  }
  case SpecKind::kSweepSpec:
    parse_sweep_spec(j, w);
    break;
  case SpecKind::kTargets: {
    const TargetsSpec t = parse_targets_spec(j, w);
    for (std::size_t i = 0; i < t.targets.size() && warnings; ++i) {
      const TargetSpec& ts = t.targets[i];
      if (!ts.model_patch.contains("ffn")) continue; // inherits the reference's: transfer checks
      const Where fw = w.at("targets").at(i).at("model").at("ffn");
      const std::string why =
          parse_ffn(ts.model_patch["ffn"], fw)
              .degenerate_gate(ts.options.routing_normalization == RoutingNormalization::kPerGroup);
      if (!why.empty()) warnings->push_back(path + ": " + fw.pointer + ": " + why);
    }
    break;
  }
  case SpecKind::kTrial:
    parse_trial_spec(j, w);
    break;
  case SpecKind::kResult:
    parse_trial_result(j, w);
    break;
  }
  return k;
}

} // namespace mue
