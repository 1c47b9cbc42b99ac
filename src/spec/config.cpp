#include "spec/config.h"

#include "spec/paths.h"

namespace mue {

void check_schema_field(ObjectReader& r, const char* expected) {
  if (auto s = r.opt_string("schema"); s && *s != expected)
    r.fail("schema", "expected '" + std::string(expected) + "' here, got '" + *s + "'");
}

void resolve_and_check(ModelSpec& m, TrainSpec& t, const Where& where) {
  const long long per_step = static_cast<long long>(t.batch_size) * m.seq_len;
  if (per_step <= 0) return; // partial spec: nothing to resolve yet
  if (t.steps > 0) {
    if (__builtin_mul_overflow(t.steps, per_step, &t.tokens)) // was signed overflow (UB)
      where.at("train").at("steps").fail("steps (" + std::to_string(t.steps) +
                                         ") × batch_size × seq_len (" + std::to_string(per_step) +
                                         ") is past 2^63 tokens");
  } else if (t.tokens > 0) {
    if (t.tokens % per_step != 0)
      where.at("train").at("tokens").fail(
          "tokens (" + std::to_string(t.tokens) +
          ") must be a multiple of batch_size × seq_len = " + std::to_string(t.batch_size) + " × " +
          std::to_string(m.seq_len) + " = " + std::to_string(per_step));
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

namespace {
// Every {name} in `s` must be a known placeholder.
void check_placeholders(const std::string& s, const Where& w) {
  std::size_t at = 0;
  while ((at = s.find('{', at)) != std::string::npos) {
    const std::size_t end = s.find('}', at);
    if (end == std::string::npos) w.fail("unclosed '{' in '" + s + "'");
    const std::string name = s.substr(at + 1, end - at - 1);
    bool known = false;
    std::string all;
    for (const char* p : kCommandPlaceholders) {
      known = known || name == p;
      all += std::string(all.empty() ? "" : ", ") + "{" + p + "}";
    }
    if (!known) w.fail("unknown placeholder '{" + name + "}'; known: " + all);
    at = end + 1;
  }
}
} // namespace

BackendSpec parse_backend(const Json& j, const Where& where) {
  ObjectReader r(j, where);
  BackendSpec b;
  if (r.choice("kind", {"libtorch", "command"}) == "command") {
    b.kind = BackendKind::kCommand;
    const Json& argv = r.raw("argv");
    if (!argv.is_array() || argv.empty())
      r.fail("argv", "expected a non-empty array of strings: the command and its arguments");
    for (std::size_t i = 0; i < argv.size(); ++i) {
      if (!argv[i].is_string()) r.at("argv").at(i).fail("expected a string");
      b.argv.push_back(argv[i].get<std::string>());
      check_placeholders(b.argv.back(), r.at("argv").at(i));
    }
    if (b.argv[0].empty()) r.at("argv").at(0).fail("the command must not be empty");
    // A command with a '/' is a path beside this file; one without is looked up on PATH.
    if (b.argv[0].find('/') != std::string::npos)
      b.argv[0] = anchor_path(b.argv[0], r.at("argv").at(0));
    if (r.has("env")) {
      const Json& env = r.raw("env");
      if (!env.is_object()) r.fail("env", "expected an object of NAME: value strings");
      for (const auto& [k, v] : env.items()) {
        if (!v.is_string()) r.at("env").at(k).fail("expected a string");
        b.env[k] = v.get<std::string>();
        check_placeholders(b.env[k], r.at("env").at(k));
      }
    }
    if (auto c = r.opt_string("cwd")) b.cwd = *c;
    // The command runs in this file's folder unless cwd says otherwise; pinned here so
    // reports and trial files written from this one keep that folder.
    b.cwd = anchor_path(b.cwd.empty() ? "." : b.cwd, r.at("cwd"));
    if (b.cwd == ".") b.cwd.clear(); // not read from a file: the trial's base folder
    if (auto t = r.opt_number("timeout_s")) {
      require_positive(*t, r.at("timeout_s"));
      b.timeout_s = *t;
    }
  }
  r.finish();
  return b;
}

Json to_json(const BackendSpec& b) {
  if (b.kind == BackendKind::kLibTorch) return Json{{"kind", "libtorch"}};
  Json j{{"kind", "command"}, {"argv", b.argv}};
  if (!b.env.empty()) j["env"] = b.env;
  if (!b.cwd.empty()) j["cwd"] = b.cwd;
  if (b.timeout_s > 0) j["timeout_s"] = b.timeout_s;
  return j;
}

RunConfig parse_config(const Json& j, const Where& where) {
  ObjectReader r(j, where);
  check_schema_field(r, kConfigSchema);
  RunConfig c;
  c.model = parse_model(r.raw("model"), r.at("model"));
  c.train = parse_train(r.raw("train"), r.at("train"));
  c.hparams = parse_hparams(r.raw("hparams"), r.at("hparams"));
  if (r.has("backend")) c.backend = parse_backend(r.raw("backend"), r.at("backend"));
  if (r.has("options")) c.options = parse_options(r.raw("options"), r.at("options"));
  check_tied_head(c.model.tie_embeddings, c.options, r.at("model").at("tie_embeddings"));
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
  Json j{{"schema", kConfigSchema},       {"model", to_json(c.model)},
         {"train", to_json(c.train)},     {"hparams", to_json(c.hparams)},
         {"backend", to_json(c.backend)}, {"options", to_json(c.options)}};
  if (c.reference)
    j["reference"] =
        Json{{"model", to_json(c.reference->model)}, {"train", to_json(c.reference->train)}};
  return j;
}

} // namespace mue
