#include "spec/train_spec.h"

#include "spec/paths.h"

namespace mue {

const char* to_string(ScheduleKind k) {
  switch (k) {
  case ScheduleKind::kConstant:
    return "constant";
  case ScheduleKind::kCosine:
    return "cosine";
  case ScheduleKind::kWsd:
    return "wsd";
  }
  return "?";
}

const char* to_string(DataKind k) {
  switch (k) {
  case DataKind::kSynthetic:
    return "synthetic";
  case DataKind::kText:
    return "text";
  case DataKind::kBin:
    return "bin";
  }
  return "?";
}

const char* to_string(Precision p) {
  switch (p) {
  case Precision::kAuto:
    return "auto";
  case Precision::kFp32:
    return "fp32";
  case Precision::kBf16:
    return "bf16";
  }
  return "?";
}

namespace {

void parse_schedule(ObjectReader r, ScheduleSpec& s) {
  if (auto k = r.opt_choice("kind", {"constant", "cosine", "wsd"}))
    s.kind = *k == "constant" ? ScheduleKind::kConstant
             : *k == "cosine" ? ScheduleKind::kCosine
                              : ScheduleKind::kWsd;
  if (auto v = r.opt_number("warmup_fraction")) {
    require_in_unit_open(*v, r.at("warmup_fraction"));
    s.warmup_fraction = *v;
  }
  if (auto v = r.opt_number("decay_fraction")) {
    if (s.kind != ScheduleKind::kWsd)
      r.fail("decay_fraction", "only the 'wsd' schedule has a decay phase");
    if (!(*v > 0 && *v <= 1)) r.fail("decay_fraction", "must be in (0, 1]");
    s.decay_fraction = *v;
  }
  if (auto v = r.opt_number("min_lr_ratio")) {
    if (!(*v >= 0 && *v <= 1)) r.fail("min_lr_ratio", "must be in [0, 1]");
    s.min_lr_ratio = *v;
  }
  if (s.kind == ScheduleKind::kWsd && s.warmup_fraction + s.decay_fraction > 1)
    r.fail("decay_fraction", "warmup_fraction + decay_fraction must not exceed 1");
  r.finish();
}

void parse_optimizer(ObjectReader r, OptimizerSpec& o) {
  r.opt_choice("kind", {"adamw"});
  if (auto v = r.opt_number("beta1")) {
    require_in_unit_open(*v, r.at("beta1"));
    o.beta1 = *v;
  }
  if (auto v = r.opt_number("beta2")) {
    require_in_unit_open(*v, r.at("beta2"));
    o.beta2 = *v;
  }
  if (auto v = r.opt_number("eps")) {
    require_positive(*v, r.at("eps"));
    o.eps = *v;
  }
  if (auto v = r.opt_number("grad_clip")) {
    require_non_negative(*v, r.at("grad_clip"));
    o.grad_clip = *v;
  }
  r.finish();
}

void parse_eval(ObjectReader r, EvalSpec& e) {
  if (auto v = r.opt_integer("every")) {
    if (*v < 0) r.fail("every", "must be >= 0 (0 = evaluate only at the end)");
    e.every = to_int(*v, r.at("every"));
  }
  if (auto v = r.opt_integer("batches")) {
    if (*v <= 0) r.fail("batches", "must be a positive integer");
    e.batches = to_int(*v, r.at("batches"));
  }
  r.finish();
}

void parse_data(ObjectReader r, DataSpec& d) {
  std::string kind = r.choice("kind", {"synthetic", "text", "bin"});
  d = DataSpec{};
  if (kind == "synthetic") {
    d.kind = DataKind::kSynthetic;
    if (auto s = r.opt_integer("seed")) {
      if (*s < 0) r.fail("seed", "must be >= 0");
      d.seed = static_cast<std::uint64_t>(*s);
    }
  } else {
    d.kind = kind == "text" ? DataKind::kText : DataKind::kBin;
    // Relative paths mean "beside this file": made absolute here, so they keep that meaning
    // in every report and config written from this one (spec/paths.h).
    d.path = r.string("path");
    if (d.path.empty()) r.fail("path", "must not be empty");
    d.path = anchor_path(d.path, r.at("path"));
    if (d.kind == DataKind::kBin) {
      if (auto v = r.opt_string("val_path")) d.val_path = anchor_path(*v, r.at("val_path"));
    }
    if (auto v = r.opt_number("val_fraction")) {
      if (!(*v > 0 && *v < 1)) r.fail("val_fraction", "must be in (0, 1)");
      if (!d.val_path.empty()) r.fail("val_fraction", "not used when val_path is given");
      d.val_fraction = *v;
    }
  }
  r.finish();
}

} // namespace

TrainSpec parse_train(const Json& j, const Where& where, const TrainSpec* base, bool partial) {
  ObjectReader r(j, where);
  TrainSpec t = base ? *base : TrainSpec{};
  if (r.has("batch_size")) {
    std::int64_t b = r.integer("batch_size");
    if (b <= 0) r.fail("batch_size", "must be a positive integer, got " + std::to_string(b));
    t.batch_size = to_int(b, r.at("batch_size"));
  } else if (!base && !partial) {
    r.fail("batch_size", "required field is missing");
  }
  bool has_steps = r.has("steps"), has_tokens = r.has("tokens");
  if (has_steps && has_tokens) r.fail("tokens", "give either steps or tokens, not both");
  if (has_steps) {
    t.steps = r.integer("steps");
    if (t.steps <= 0) r.fail("steps", "must be a positive integer");
    t.tokens = 0; // resolved against the model's seq_len by the config
  } else if (has_tokens) {
    t.tokens = r.integer("tokens");
    if (t.tokens <= 0) r.fail("tokens", "must be a positive integer");
    t.steps = 0;
  } else if (!base && !partial) {
    r.fail("steps", "required field is missing (give steps or tokens)");
  }
  if (r.has("schedule")) parse_schedule(r.object("schedule"), t.schedule);
  if (r.has("optimizer")) parse_optimizer(r.object("optimizer"), t.optimizer);
  if (r.has("eval")) parse_eval(r.object("eval"), t.eval);
  if (auto s = r.opt_integer("seed")) {
    if (*s < 0) r.fail("seed", "must be >= 0");
    t.seed = static_cast<std::uint64_t>(*s);
  }
  if (auto p = r.opt_choice("precision", {"auto", "fp32", "bf16"}))
    t.precision = *p == "auto"   ? Precision::kAuto
                  : *p == "fp32" ? Precision::kFp32
                                 : Precision::kBf16;
  if (r.has("data")) parse_data(r.object("data"), t.data);
  r.finish();
  return t;
}

void write_json(JsonWriter& w, const TrainSpec& t) {
  w.begin_object().key("batch_size").value(t.batch_size);
  // Exactly one of steps/tokens, as the input format requires.
  if (t.steps > 0)
    w.key("steps").value(t.steps);
  else
    w.key("tokens").value(t.tokens);
  const ScheduleSpec& sc = t.schedule;
  w.key("schedule").begin_object().key("kind").value(to_string(sc.kind));
  w.key("warmup_fraction").value(sc.warmup_fraction).key("min_lr_ratio").value(sc.min_lr_ratio);
  if (sc.kind == ScheduleKind::kWsd) w.key("decay_fraction").value(sc.decay_fraction);
  w.end_object();
  const OptimizerSpec& o = t.optimizer;
  w.key("optimizer").begin_object().key("kind").value("adamw").key("beta1").value(o.beta1);
  w.key("beta2").value(o.beta2).key("eps").value(o.eps).key("grad_clip").value(o.grad_clip);
  w.end_object();
  w.key("eval")
      .begin_object()
      .key("every")
      .value(t.eval.every)
      .key("batches")
      .value(t.eval.batches);
  w.end_object();
  w.key("seed").value(static_cast<std::int64_t>(t.seed));
  // Written only when set, so the canonical form (and every trial id) of older specs is unchanged.
  if (t.precision != Precision::kAuto) w.key("precision").value(to_string(t.precision));
  w.key("data").begin_object().key("kind").value(to_string(t.data.kind));
  if (t.data.kind == DataKind::kSynthetic) {
    w.key("seed").value(static_cast<std::int64_t>(t.data.seed));
  } else {
    w.key("path").value(t.data.path);
    if (!t.data.val_path.empty())
      w.key("val_path").value(t.data.val_path);
    else
      w.key("val_fraction").value(t.data.val_fraction);
  }
  w.end_object().end_object();
}

Json to_json(const TrainSpec& t) {
  return writer_to_json(t);
}

} // namespace mue
