#include "spec/model_spec.h"

#include <regex>

namespace mue {

long long FfnSpec::active_width() const {
  if (kind == FfnKind::kDense) return d_ff;
  return static_cast<long long>(active) * d_expert + static_cast<long long>(shared) * d_shared;
}

std::string FfnSpec::degenerate_gate(bool per_group) const {
  if (!is_moe()) return "";
  const int per = per_group && groups > 1 ? active / groups : active;
  if (per != 1) return "";
  return layout_name() + (active == 1 ? ": a = 1" : ": a/g = 1 with per_group normalization") +
         " under the renormalized sigmoid gate: the one selected expert's gate is always 1, so "
         "the router gets no gradient from the loss and stays as initialized; use a >= 2 " +
         (active == 1 ? std::string("active experts")
                      : std::string("per group or global normalization"));
}

std::string FfnSpec::layout_name() const {
  if (kind == FfnKind::kDense) return "dense";
  std::string s = std::to_string(n_experts) + "e" + std::to_string(active) + "a";
  if (groups != 1) s += std::to_string(groups) + "g";
  if (shared != 0) s += std::to_string(shared) + "s";
  return s;
}

const char* to_string(Activation a) {
  switch (a) {
  case Activation::kGelu:
    return "gelu";
  case Activation::kRelu:
    return "relu";
  case Activation::kSwiglu:
    return "swiglu";
  }
  return "?";
}

const char* to_string(NormKind n) {
  return n == NormKind::kRmsNorm ? "rmsnorm" : "layernorm";
}

namespace {

int positive_int(ObjectReader& r, const char* key) {
  int v = to_int(r.integer(key), r.at(key));
  if (v <= 0) r.fail(key, "must be a positive integer, got " + std::to_string(v));
  return v;
}

int non_negative_int(ObjectReader& r, const char* key) {
  int v = to_int(r.integer(key), r.at(key));
  if (v < 0) r.fail(key, "must be >= 0, got " + std::to_string(v));
  return v;
}

// "128e8a4g1s" -> N=128, a=8, g=4, n_s=1 (g and s optional).
struct Layout {
  int n_experts, active, groups, shared;
};
Layout parse_layout(const std::string& s, const Where& w) {
  static const std::regex re(R"(^(\d+)e(\d+)a(?:(\d+)g)?(?:(\d+)s)?$)");
  std::smatch m;
  if (!std::regex_match(s, m, re))
    w.fail("layout '" + s + "' is not of the form <N>e<a>a[<g>g][<s>s], e.g. '128e8a4g1s'");
  auto num = [&](int i, int def) {
    if (!m[i].matched) return def;
    if (m[i].length() > 9) w.fail("layout '" + s + "' has a number that is too large");
    return std::stoi(m[i].str());
  };
  return {num(1, 0), num(2, 0), num(3, 1), num(4, 0)};
}

} // namespace

FfnSpec parse_ffn(const Json& j, const Where& where) {
  ObjectReader r(j, where);
  FfnSpec f;
  std::string kind = r.choice("kind", {"dense", "moe"});
  if (kind == "dense") {
    f.kind = FfnKind::kDense;
    f.d_ff = positive_int(r, "d_ff");
    r.finish();
    return f;
  }
  f.kind = FfnKind::kMoe;
  std::optional<Layout> layout;
  if (auto s = r.opt_string("layout")) layout = parse_layout(*s, r.at("layout"));
  // Each of N, a, g, n_s comes from its own field or from the layout; when both
  // are given they must agree.
  auto from = [&](const char* key, std::optional<int> claimed, std::optional<int> def,
                  bool allow_zero) -> int {
    if (r.has(key)) {
      int v = allow_zero ? non_negative_int(r, key) : positive_int(r, key);
      if (claimed && *claimed != v)
        r.fail(key, std::string(key) + " = " + std::to_string(v) + " contradicts layout '" +
                        r.string("layout") + "' which says " + std::to_string(*claimed));
      return v;
    }
    if (claimed) return *claimed;
    if (def) return *def;
    r.fail(key, "required field is missing (give it, or a 'layout' such as '64e8a')");
  };
  f.n_experts = from("n_experts", layout ? std::optional<int>(layout->n_experts) : std::nullopt,
                     std::nullopt, false);
  f.active = from("active", layout ? std::optional<int>(layout->active) : std::nullopt,
                  std::nullopt, false);
  f.groups = from("groups", layout ? std::optional<int>(layout->groups) : std::nullopt, 1, false);
  f.shared = from("shared", layout ? std::optional<int>(layout->shared) : std::nullopt, 0, true);
  f.d_expert = positive_int(r, "d_expert");
  f.d_shared = r.has("d_shared") ? positive_int(r, "d_shared") : f.d_expert;
  if (r.has("router")) {
    ObjectReader rr = r.object("router");
    if (auto c = rr.opt_number("aux_loss_coef")) {
      require_non_negative(*c, rr.at("aux_loss_coef"));
      f.router.aux_loss_coef = *c;
    }
    rr.finish();
  }

  if (layout && (layout->n_experts == 0 || layout->active == 0))
    r.fail("layout", "layout needs at least one expert and one active expert");
  if (f.active > f.n_experts)
    r.fail("active", "active experts (" + std::to_string(f.active) + ") exceed n_experts (" +
                         std::to_string(f.n_experts) + ")");
  if (f.n_experts % f.groups != 0)
    r.fail("groups", "groups (" + std::to_string(f.groups) + ") must divide n_experts (" +
                         std::to_string(f.n_experts) + ")");
  if (f.active % f.groups != 0)
    r.fail("groups", "groups (" + std::to_string(f.groups) + ") must divide active (" +
                         std::to_string(f.active) + "): each group selects active/groups experts");
  // Optional claims a spec may make about its size; checked, never trusted.
  if (auto total = r.opt_integer("total_width")) {
    long long actual = static_cast<long long>(f.n_experts) * f.d_expert;
    if (*total != actual)
      r.fail("total_width", "total_width claims " + std::to_string(*total) +
                                " but n_experts × d_expert = " + std::to_string(f.n_experts) +
                                " × " + std::to_string(f.d_expert) + " = " +
                                std::to_string(actual));
  }
  if (auto act = r.opt_integer("active_width")) {
    if (*act != f.active_width())
      r.fail("active_width", "active_width claims " + std::to_string(*act) +
                                 " but active × d_expert + shared × d_shared = " +
                                 std::to_string(f.active_width()));
  }
  r.finish();
  return f;
}

ModelSpec parse_model(const Json& j, const Where& where, const ModelSpec* base, bool partial) {
  ObjectReader r(j, where);
  ModelSpec m = base ? *base : ModelSpec{};
  auto field = [&](const char* key, int& out) {
    if (r.has(key))
      out = positive_int(r, key);
    else if (!base && !partial)
      r.fail(key, "required field is missing");
  };
  field("vocab", m.vocab);
  field("d_model", m.d_model);
  field("n_layers", m.n_layers);
  field("seq_len", m.seq_len);

  bool heads = r.has("n_heads"), dhead = r.has("d_head");
  if (heads) m.n_heads = positive_int(r, "n_heads");
  if (dhead) m.d_head = positive_int(r, "d_head");
  if (!heads && !dhead && !base && !partial)
    r.fail("n_heads", "required field is missing (give n_heads or d_head)");
  if (heads && dhead) {
    if (static_cast<long long>(m.n_heads) * m.d_head != m.d_model && m.d_model)
      r.fail("d_head", "n_heads × d_head = " + std::to_string(m.n_heads) + " × " +
                           std::to_string(m.d_head) +
                           " must equal d_model = " + std::to_string(m.d_model));
  } else if (m.d_model) {
    // One of the two is given, or (inheriting from a base) neither: a target that
    // changes d_model keeps the base's d_head, as μP width scaling does.
    const char* key = heads ? "n_heads" : (dhead ? "d_head" : "d_model");
    int given = heads ? m.n_heads : m.d_head;
    if (given && m.d_model % given != 0)
      r.fail(key, std::string(heads ? "n_heads" : "d_head") + " (" + std::to_string(given) +
                      ") must divide d_model (" + std::to_string(m.d_model) + ")");
    if (heads && m.n_heads) m.d_head = m.d_model / m.n_heads;
    if (!heads && m.d_head) m.n_heads = m.d_model / m.d_head;
  }

  if (r.has("ffn"))
    m.ffn = parse_ffn(r.raw("ffn"), r.at("ffn"));
  else if (!base && !partial)
    r.fail("ffn", "required field is missing");

  if (auto n = r.opt_choice("norm", {"rmsnorm", "layernorm"}))
    m.norm = *n == "rmsnorm" ? NormKind::kRmsNorm : NormKind::kLayerNorm;
  if (auto a = r.opt_choice("activation", {"gelu", "relu", "swiglu"}))
    m.activation = *a == "gelu"   ? Activation::kGelu
                   : *a == "relu" ? Activation::kRelu
                                  : Activation::kSwiglu;
  r.finish();
  return m;
}

void write_json(JsonWriter& w, const FfnSpec& f) {
  w.begin_object();
  if (f.kind == FfnKind::kDense) {
    w.key("kind").value("dense").key("d_ff").value(f.d_ff).end_object();
    return;
  }
  w.key("kind").value("moe").key("n_experts").value(f.n_experts).key("active").value(f.active);
  w.key("d_expert")
      .value(f.d_expert)
      .key("shared")
      .value(f.shared)
      .key("d_shared")
      .value(f.d_shared);
  w.key("groups").value(f.groups);
  w.key("router").begin_object().key("aux_loss_coef").value(f.router.aux_loss_coef).end_object();
  w.end_object();
}

void write_json(JsonWriter& w, const ModelSpec& m) {
  w.begin_object().key("vocab").value(m.vocab).key("d_model").value(m.d_model);
  w.key("n_layers").value(m.n_layers).key("n_heads").value(m.n_heads).key("d_head").value(m.d_head);
  w.key("seq_len").value(m.seq_len);
  write_json(w.key("ffn"), m.ffn);
  w.key("norm").value(to_string(m.norm)).key("activation").value(to_string(m.activation));
  w.end_object();
}

Json to_json(const FfnSpec& f) {
  return writer_to_json(f);
}
Json to_json(const ModelSpec& m) {
  return writer_to_json(m);
}

} // namespace mue
