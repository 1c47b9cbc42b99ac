#include "spec/model_spec.h"

#include <regex>

namespace mue {

long long FfnSpec::active_width() const {
  if (kind == FfnKind::kDense) return d_ff;
  return static_cast<long long>(active) * d_expert + static_cast<long long>(shared) * d_shared;
}

bool FfnSpec::moe_layer(int layer) const {
  return is_moe() && layer >= first_k_dense && (layer - first_k_dense + 1) % moe_every == 0;
}

// Both in O(1): n_layers can be as large as an int (a loop over 2^31 layers took seconds, and
// the transfer asks many times).
bool FfnSpec::has_dense_layers(int n_layers) const {
  // Layer 0 is dense unless every layer is MoE (first_k_dense 0, moe_every 1).
  return is_moe() && n_layers > 0 && (first_k_dense > 0 || moe_every > 1);
}

int ModelSpec::moe_layers() const {
  // The layers i >= first_k_dense with (i - first_k_dense + 1) % moe_every == 0.
  if (!ffn.is_moe() || n_layers <= ffn.first_k_dense) return 0;
  return (n_layers - ffn.first_k_dense) / ffn.moe_every;
}

std::string FfnSpec::degenerate_gate(bool per_group) const {
  if (!is_moe() || !router.renormalized()) return "";
  const int per = per_group && groups > 1 ? active / groups : active;
  if (per != 1) return "";
  return layout_name() + (active == 1 ? ": a = 1" : ": a/g = 1 with per_group normalization") +
         " under the renormalized gate '" + to_string(router.gate) +
         "': the one selected expert's gate is always 1, so the router gets no gradient from "
         "the loss and stays as initialized; use an un-normalized gate ('softmax' or "
         "'sigmoid') or a >= 2 " +
         (active == 1 ? std::string("active experts")
                      : std::string("per group, or global normalization"));
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

const char* to_string(GateKind g) {
  switch (g) {
  case GateKind::kSigmoidRenorm:
    return "sigmoid_renorm";
  case GateKind::kSoftmaxRenorm:
    return "softmax_renorm";
  case GateKind::kSoftmax:
    return "softmax";
  case GateKind::kSigmoid:
    return "sigmoid";
  }
  return "?";
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

RouterSpec parse_router(const Json& j, const Where& where) {
  ObjectReader r(j, where);
  RouterSpec q;
  if (auto g = r.opt_choice("gate", {"sigmoid_renorm", "softmax_renorm", "softmax", "sigmoid"}))
    q.gate = *g == "sigmoid_renorm"   ? GateKind::kSigmoidRenorm
             : *g == "softmax_renorm" ? GateKind::kSoftmaxRenorm
             : *g == "softmax"        ? GateKind::kSoftmax
                                      : GateKind::kSigmoid;
  if (auto c = r.opt_number("routed_scaling_factor")) {
    require_positive(*c, r.at("routed_scaling_factor"));
    q.routed_scaling_factor = *c;
  }
  for (auto [key, out] : {std::pair<const char*, double*>{"aux_loss_coef", &q.aux_loss_coef},
                          {"z_loss_coef", &q.z_loss_coef},
                          {"bias_update_rate", &q.bias_update_rate}})
    if (auto c = r.opt_number(key)) {
      require_non_negative(*c, r.at(key));
      *out = *c;
    }
  if (r.has("group_limited")) {
    ObjectReader g = r.object("group_limited");
    q.n_group = positive_int(g, "n_group");
    q.topk_group = positive_int(g, "topk_group");
    if (q.topk_group > q.n_group)
      g.fail("topk_group", "topk_group (" + std::to_string(q.topk_group) + ") exceeds n_group (" +
                               std::to_string(q.n_group) + ")");
    g.finish();
  }
  r.finish();
  return q;
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
  if (r.has("router")) f.router = parse_router(r.raw("router"), r.at("router"));
  f.first_k_dense = r.has("first_k_dense") ? non_negative_int(r, "first_k_dense") : 0;
  f.moe_every = r.has("moe_every") ? positive_int(r, "moe_every") : 1;
  const bool dense_blocks = f.first_k_dense > 0 || f.moe_every > 1;
  if (r.has("dense_d_ff")) {
    f.dense_d_ff = positive_int(r, "dense_d_ff");
    if (!dense_blocks)
      r.fail("dense_d_ff", "the layout has no dense block (first_k_dense 0, moe_every 1), so "
                           "dense_d_ff would be unused; drop it");
  } else if (dense_blocks) {
    r.fail("dense_d_ff", "required field is missing: first_k_dense / moe_every make some blocks "
                         "dense, and they need their own FFN width");
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
  if (f.router.group_limited()) {
    const Where gw = r.at("router").at("group_limited");
    const RouterSpec& q = f.router;
    if (f.groups > 1)
      gw.fail("group-limited routing (choose topk_group groups, then top-a among them) and the "
              "balanced groups of 'groups' (a/g from every group) are two different routers; "
              "give one of them");
    if (f.n_experts % q.n_group != 0)
      gw.at("n_group").fail("n_group (" + std::to_string(q.n_group) + ") must divide n_experts (" +
                            std::to_string(f.n_experts) + ")");
    if (static_cast<long long>(q.topk_group) * (f.n_experts / q.n_group) < f.active)
      gw.at("topk_group")
          .fail("topk_group " + std::to_string(q.topk_group) + " groups of " +
                std::to_string(f.n_experts / q.n_group) + " experts hold fewer than the " +
                std::to_string(f.active) + " active experts");
  }
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
  const int base_heads = m.n_heads;
  if (heads) m.n_heads = positive_int(r, "n_heads");
  if (dhead) m.d_head = positive_int(r, "d_head");
  if (!heads && !dhead && !base && !partial)
    r.fail("n_heads", "required field is missing (give n_heads or d_head)");
  // Both given: the attention width n_heads·d_head is free (§11.2, Qwen3: 32 × 128 at
  // d_model 2048). One given: the other fills d_model.
  if (heads != dhead && m.d_model) {
    const char* key = heads ? "n_heads" : "d_head";
    const int given = heads ? m.n_heads : m.d_head;
    if (m.d_model % given != 0)
      r.fail(key, std::string(key) + " (" + std::to_string(given) + ") must divide d_model (" +
                      std::to_string(m.d_model) +
                      ") when the other of n_heads / d_head is not "
                      "given; give both for an attention width other than d_model");
    if (heads) m.d_head = m.d_model / m.n_heads;
    if (dhead) m.n_heads = m.d_model / m.d_head;
  } else if (!heads && !dhead && base && m.d_model != base->d_model && m.d_model) {
    // A target that changes d_model keeps the base's d_head and its ratio d_attn/d_model,
    // as μP width scaling does: the head count scales with the width.
    const long long scaled = static_cast<long long>(base->n_heads) * m.d_model;
    if (scaled % base->d_model != 0) {
      if (base->d_attn() == base->d_model)
        r.fail("d_model", "d_head (" + std::to_string(m.d_head) + ") must divide d_model (" +
                              std::to_string(m.d_model) + ")");
      r.fail("d_model", "the reference's " + std::to_string(base->n_heads) +
                            " heads scaled to "
                            "d_model " +
                            std::to_string(m.d_model) +
                            " are not a whole number; give "
                            "n_heads (and d_head)");
    }
    m.n_heads = static_cast<int>(scaled / base->d_model);
  }
  if (r.has("n_kv_heads")) {
    m.n_kv_heads = positive_int(r, "n_kv_heads");
  } else if (base && base->n_kv_heads > 0 && m.n_heads != base_heads && base_heads > 0) {
    // Inherited GQA keeps its group size (query heads per key/value head).
    const int group = base_heads / base->n_kv_heads;
    if (m.n_heads % group != 0)
      r.fail("n_heads", "the reference's GQA groups of " + std::to_string(group) +
                            " query heads per key/value head do not divide " +
                            std::to_string(m.n_heads) + " heads; give n_kv_heads");
    m.n_kv_heads = m.n_heads / group;
  }
  if (m.n_kv_heads > 0 && m.n_heads > 0 && m.n_heads % m.n_kv_heads != 0)
    r.fail(r.has("n_kv_heads") ? "n_kv_heads" : "n_heads",
           "n_kv_heads (" + std::to_string(m.n_kv_heads) + ") must divide n_heads (" +
               std::to_string(m.n_heads) + ")");

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
  if (auto t = r.opt_boolean("tie_embeddings")) m.tie_embeddings = *t;
  if (auto q = r.opt_boolean("qk_norm")) m.qk_norm = *q;
  // The layout needs at least one MoE block among n_layers.
  const FfnSpec& f = m.ffn;
  if (f.is_moe() && m.n_layers > 0 && m.moe_layers() == 0) {
    const Where w = r.has("ffn")
                        ? r.at("ffn").at(f.first_k_dense > 0 ? "first_k_dense" : "moe_every")
                        : r.at("n_layers");
    w.fail("first_k_dense " + std::to_string(f.first_k_dense) + " and moe_every " +
           std::to_string(f.moe_every) + " leave no MoE block among " + std::to_string(m.n_layers) +
           " layers");
  }
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
  // Fields past the first wave's format are written only when not at their default, so a
  // config without them keeps its canonical JSON (and its trials their ids).
  const RouterSpec& q = f.router;
  w.key("router").begin_object();
  if (q.gate != GateKind::kSigmoidRenorm) w.key("gate").value(to_string(q.gate));
  if (q.routed_scaling_factor != 1) w.key("routed_scaling_factor").value(q.routed_scaling_factor);
  w.key("aux_loss_coef").value(q.aux_loss_coef);
  if (q.z_loss_coef != 0) w.key("z_loss_coef").value(q.z_loss_coef);
  if (q.bias_update_rate != 0) w.key("bias_update_rate").value(q.bias_update_rate);
  if (q.group_limited())
    w.key("group_limited")
        .begin_object()
        .key("n_group")
        .value(q.n_group)
        .key("topk_group")
        .value(q.topk_group)
        .end_object();
  w.end_object();
  if (f.first_k_dense != 0) w.key("first_k_dense").value(f.first_k_dense);
  if (f.moe_every != 1) w.key("moe_every").value(f.moe_every);
  if (f.dense_d_ff != 0) w.key("dense_d_ff").value(f.dense_d_ff);
  w.end_object();
}

void write_json(JsonWriter& w, const ModelSpec& m) {
  w.begin_object().key("vocab").value(m.vocab).key("d_model").value(m.d_model);
  w.key("n_layers").value(m.n_layers).key("n_heads").value(m.n_heads).key("d_head").value(m.d_head);
  if (m.n_kv_heads != 0) w.key("n_kv_heads").value(m.n_kv_heads);
  w.key("seq_len").value(m.seq_len);
  write_json(w.key("ffn"), m.ffn);
  w.key("norm").value(to_string(m.norm)).key("activation").value(to_string(m.activation));
  if (m.tie_embeddings) w.key("tie_embeddings").value(true);
  if (m.qk_norm) w.key("qk_norm").value(true);
  w.end_object();
}

Json to_json(const FfnSpec& f) {
  return writer_to_json(f);
}
Json to_json(const ModelSpec& m) {
  return writer_to_json(m);
}

} // namespace mue
