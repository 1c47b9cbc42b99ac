#include "spec/target_spec.h"

#include <regex>
#include <set>

namespace mue {

TargetsSpec parse_targets_spec(const Json& j, const Where& where) {
  ObjectReader r(j, where);
  check_schema_field(r, kTargetsSchema);
  TargetsSpec out;
  if (r.has("options")) out.options = parse_options(r.raw("options"), r.at("options"));
  const Json& list = as_array(r.raw("targets"), r.at("targets"));
  if (list.empty()) r.fail("targets", "needs at least one target");
  static const std::regex name_re(R"(^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$)");
  std::set<std::string> names;
  for (std::size_t i = 0; i < list.size(); ++i) {
    Where tw = r.at("targets").at(i);
    ObjectReader tr(list[i], tw);
    TargetSpec t;
    t.name = tr.string("name");
    if (!std::regex_match(t.name, name_re))
      tr.fail("name", "'" + t.name +
                          "' must be 1-64 characters of letters, digits, '.', '_', '-' "
                          "(it names output files)");
    if (!names.insert(t.name).second) tr.fail("name", "target name '" + t.name + "' is used twice");
    if (auto d = tr.opt_string("description")) t.description = *d;
    if (tr.has("model")) {
      t.model_patch = tr.raw("model");
      parse_model(t.model_patch, tr.at("model"), nullptr, true);
    }
    if (tr.has("train")) {
      t.train_patch = tr.raw("train");
      parse_train(t.train_patch, tr.at("train"), nullptr, true);
    }
    t.options = tr.has("options") ? parse_options(tr.raw("options"), tr.at("options"), out.options)
                                  : out.options;
    // A target that ties its embeddings itself; an inherited tie is checked by transfer.
    if (t.model_patch.contains("tie_embeddings") && t.model_patch["tie_embeddings"] == true)
      check_tied_head(true, t.options, tr.at("model").at("tie_embeddings"));
    tr.finish();
    out.targets.push_back(std::move(t));
  }
  r.finish();
  return out;
}

void resolve_target(const TargetSpec& t, const ModelSpec& ref_model, const TrainSpec& ref_train,
                    const Where& where, ModelSpec& model, TrainSpec& train) {
  model = parse_model(t.model_patch, where.at("model"), &ref_model);
  // A target that gives steps replaces the reference's tokens and vice versa.
  TrainSpec base = ref_train;
  if (t.train_patch.contains("steps") || t.train_patch.contains("tokens"))
    base.steps = base.tokens = 0;
  train = parse_train(t.train_patch, where.at("train"), &base);
  if (!t.train_patch.contains("steps") && !t.train_patch.contains("tokens")) {
    // Same duration in tokens as the reference unless the target says otherwise.
    train.steps = 0;
    train.tokens = ref_train.tokens;
  }
  resolve_and_check(model, train, where);
}

Json to_json(const TargetsSpec& t) {
  Json list = Json::array();
  for (const auto& x : t.targets) {
    Json e{{"name", x.name},
           {"model", x.model_patch},
           {"train", x.train_patch},
           {"options", to_json(x.options)}};
    if (!x.description.empty()) e["description"] = x.description;
    list.push_back(e);
  }
  return Json{{"schema", kTargetsSchema}, {"options", to_json(t.options)}, {"targets", list}};
}

} // namespace mue
