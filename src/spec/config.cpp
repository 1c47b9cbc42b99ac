#include "spec/config.h"

namespace mue {

void check_schema_field(ObjectReader& r, const char* expected) {
  if (auto s = r.opt_string("schema"); s && *s != expected)
    r.fail("schema", "expected '" + std::string(expected) + "' here, got '" + *s + "'");
}

void resolve_and_check(ModelSpec& m, TrainSpec& t, const Where& where) {
  const long long per_step = static_cast<long long>(t.batch_size) * m.seq_len;
  if (per_step <= 0) return;  // partial spec: nothing to resolve yet
  if (t.steps > 0) {
    t.tokens = t.steps * per_step;
  } else if (t.tokens > 0) {
    if (t.tokens % per_step != 0)
      where.at("train").at("tokens").fail(
          "tokens (" + std::to_string(t.tokens) + ") must be a multiple of batch_size × seq_len = " +
          std::to_string(t.batch_size) + " × " + std::to_string(m.seq_len) + " = " +
          std::to_string(per_step));
    t.steps = t.tokens / per_step;
  }
  if (t.data.kind == DataKind::kText && m.vocab < 256)
    where.at("model").at("vocab").fail("text data is byte-level: vocab must be >= 256, got " +
                                        std::to_string(m.vocab));
  if (t.eval.every > 0 && t.steps > 0 && t.eval.every > t.steps)
    where.at("train").at("eval").at("every").fail(
        "evaluation interval (" + std::to_string(t.eval.every) + ") exceeds the run's " +
        std::to_string(t.steps) + " steps");
}

BackendSpec parse_backend(const Json& j, const Where& where) {
  ObjectReader r(j, where);
  r.choice("kind", {"libtorch"});
  r.finish();
  return BackendSpec{};
}

Json to_json(const BackendSpec&) { return Json{{"kind", "libtorch"}}; }

RunConfig parse_config(const Json& j, const Where& where) {
  ObjectReader r(j, where);
  check_schema_field(r, kConfigSchema);
  RunConfig c;
  c.model = parse_model(r.raw("model"), r.at("model"));
  c.train = parse_train(r.raw("train"), r.at("train"));
  c.hparams = parse_hparams(r.raw("hparams"), r.at("hparams"));
  if (r.has("backend")) c.backend = parse_backend(r.raw("backend"), r.at("backend"));
  if (r.has("options")) c.options = parse_options(r.raw("options"), r.at("options"));
  if (r.has("reference")) {
    ObjectReader rr = r.object("reference");
    BaseShape b;
    b.model = parse_model(rr.raw("model"), rr.at("model"));
    b.train = parse_train(rr.raw("train"), rr.at("train"));
    rr.finish();
    resolve_and_check(b.model, b.train, r.at("reference"));
    c.reference = b;
  }
  r.finish();
  resolve_and_check(c.model, c.train, where);
  return c;
}

Json to_json(const RunConfig& c) {
  Json j{{"schema", kConfigSchema},      {"model", to_json(c.model)},
         {"train", to_json(c.train)},    {"hparams", to_json(c.hparams)},
         {"backend", to_json(c.backend)}, {"options", to_json(c.options)}};
  if (c.reference)
    j["reference"] = Json{{"model", to_json(c.reference->model)}, {"train", to_json(c.reference->train)}};
  return j;
}

}  // namespace mue
