#include "import/hf_config.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "spec/schemas.h"
#include "spec/target_spec.h"
#include "transfer/trace.h"
#include "util/error.h"

namespace mue {
namespace {

// Lenient reading of a config.json: released configs hold many fields muE does not use
// (rope, token ids, dtypes), so unknown keys are fine; the fields muE reads are typed and
// checked, and the fields that change the architecture in a way muE cannot represent are
// refused or, with `approximate`, recorded.
class HfReader {
public:
  HfReader(const Json& j, Where where, bool approximate, ImportedModel& out)
      : j_(j), where_(std::move(where)), approximate_(approximate), out_(out) {}

  const Where& where() const { return where_; }
  bool approximating() const { return approximate_; }
  ImportedModel& out() const { return out_; }
  // The reader of a nested object (text_config, attn_config), with the same settings.
  HfReader nested(const char* key) const {
    return HfReader(j_[key], where_.at(key), approximate_, out_);
  }
  bool has(const char* key) const { return j_.contains(key) && !j_[key].is_null(); }
  const Json& raw(const char* key) const { return j_[key]; }

  int positive(const char* key) const {
    if (!has(key)) where_.at(key).fail("required field is missing");
    const int v = to_int(as_integer(j_[key], where_.at(key)), where_.at(key));
    if (v <= 0) where_.at(key).fail("must be a positive integer, got " + std::to_string(v));
    return v;
  }
  int positive_or(const char* key, int def) const { return has(key) ? positive(key) : def; }
  int non_negative_or(const char* key, int def) const {
    if (!has(key)) return def;
    const int v = to_int(as_integer(j_[key], where_.at(key)), where_.at(key));
    if (v < 0) where_.at(key).fail("must be >= 0, got " + std::to_string(v));
    return v;
  }
  double number_or(const char* key, double def) const {
    if (!has(key)) return def;
    const double v = as_number(j_[key], where_.at(key));
    require_non_negative(v, where_.at(key));
    return v;
  }
  bool boolean_or(const char* key, bool def) const {
    if (!has(key)) return def;
    if (!j_[key].is_boolean())
      where_.at(key).fail("must be true or false, got " + json_type_name(j_[key]));
    return j_[key].get<bool>();
  }
  std::string string_or(const char* key, const std::string& def) const {
    return has(key) ? as_string(j_[key], where_.at(key)) : def;
  }

  // A part muE cannot represent: InputError naming it, or with `approximate` the change is
  // recorded (`what` is the part, `becomes` what the target has instead).
  // Without --approximate, every such part is collected and import_hf_config fails after
  // the family's reader with all of them (the first one's pointer).
  void approximate(const char* key, const std::string& what, const std::string& becomes) const {
    if (!approximate_ && out_.approximations.empty()) first_unrepresentable_ = where_.at(key);
    out_.approximations.push_back(where_.at(key).pointer + ": " + what + " → " + becomes);
  }
  // The first part that needs --approximate, when the reader is strict.
  static inline Where first_unrepresentable_;

private:
  const Json& j_;
  Where where_;
  bool approximate_;
  ImportedModel& out_;
};

// The attention and embedding fields most families share (Llama-style names).
void llama_attention(const HfReader& r, ModelSpec& m, bool tie_default) {
  m.vocab = r.positive("vocab_size");
  m.d_model = r.positive("hidden_size");
  m.n_layers = r.positive("num_hidden_layers");
  m.n_heads = r.positive("num_attention_heads");
  m.n_kv_heads = r.positive_or("num_key_value_heads", m.n_heads);
  if (r.has("head_dim")) {
    m.d_head = r.positive("head_dim");
  } else {
    if (m.d_model % m.n_heads != 0)
      r.where()
          .at("num_attention_heads")
          .fail("num_attention_heads (" + std::to_string(m.n_heads) +
                ") must divide hidden_size (" + std::to_string(m.d_model) +
                ") when head_dim is not given");
    m.d_head = m.d_model / m.n_heads;
  }
  if (m.n_heads % m.n_kv_heads != 0)
    r.where()
        .at("num_key_value_heads")
        .fail("num_key_value_heads (" + std::to_string(m.n_kv_heads) +
              ") must divide num_attention_heads (" + std::to_string(m.n_heads) + ")");
  if (m.n_kv_heads == m.n_heads) m.n_kv_heads = 0; // multi-head attention
  m.tie_embeddings = r.boolean_or("tie_word_embeddings", tie_default);
  m.norm = NormKind::kRmsNorm;
  const std::string act = r.string_or("hidden_act", "silu");
  if (act != "silu" && act != "swish")
    r.where()
        .at("hidden_act")
        .fail("hidden_act '" + act +
              "': muE's gated FFN is SwiGLU "
              "(silu); other gated activations are not represented");
  m.activation = Activation::kSwiglu;
  if (r.has("sliding_window") && r.boolean_or("use_sliding_window", true))
    r.approximate("sliding_window", "sliding-window attention", "full causal attention");
  if (r.boolean_or("attention_bias", false))
    r.approximate("attention_bias", "biases in the attention projections", "no biases");
}

FfnSpec moe(int n, int a, int h) {
  FfnSpec f;
  f.kind = FfnKind::kMoe;
  f.n_experts = n;
  f.active = a;
  f.d_expert = h;
  f.d_shared = h;
  return f;
}

void check_top_k(const HfReader& r, const FfnSpec& f, const char* key) {
  if (f.active > f.n_experts)
    r.where().at(key).fail("experts per token (" + std::to_string(f.active) +
                           ") exceed the number of experts (" + std::to_string(f.n_experts) + ")");
}

// Qwen2-MoE / Qwen3-MoE: MoE every decoder_sparse_step-th block unless listed in
// mlp_only_layers (dense blocks of width intermediate_size).
void qwen_layout(const HfReader& r, ModelSpec& m) {
  FfnSpec& f = m.ffn;
  f.moe_every = r.positive_or("decoder_sparse_step", 1);
  if (f.moe_every > 1) f.dense_d_ff = r.positive("intermediate_size");
  if (!r.has("mlp_only_layers")) return;
  const Json& list = as_array(r.raw("mlp_only_layers"), r.where().at("mlp_only_layers"));
  if (list.empty()) return;
  // The first k blocks dense is first_k_dense k; any other list is approximated.
  bool prefix = f.moe_every == 1;
  for (std::size_t i = 0; i < list.size() && prefix; ++i)
    prefix =
        as_integer(list[i], r.where().at("mlp_only_layers").at(i)) == static_cast<std::int64_t>(i);
  if (prefix && static_cast<int>(list.size()) < m.n_layers) {
    f.first_k_dense = static_cast<int>(list.size());
    f.dense_d_ff = r.positive("intermediate_size");
    return;
  }
  r.approximate("mlp_only_layers", "an explicit list of dense blocks",
                "the regular layout of decoder_sparse_step");
}

void mixtral(const HfReader& r, ImportedModel& out) {
  ModelSpec& m = out.model;
  llama_attention(r, m, false);
  m.ffn = moe(r.positive("num_local_experts"), r.positive("num_experts_per_tok"),
              r.positive("intermediate_size"));
  check_top_k(r, m.ffn, "num_experts_per_tok");
  m.ffn.router.gate = GateKind::kSoftmaxRenorm; // softmax of the selected logits
  m.ffn.router.aux_loss_coef = r.number_or("router_aux_loss_coef", 0);
  if (r.number_or("router_jitter_noise", 0) > 0)
    r.approximate("router_jitter_noise", "multiplicative router jitter", "no jitter");
}

void qwen_moe(const HfReader& r, ImportedModel& out, bool qwen3) {
  ModelSpec& m = out.model;
  llama_attention(r, m, false);
  m.ffn = moe(r.positive("num_experts"), r.positive("num_experts_per_tok"),
              r.positive("moe_intermediate_size"));
  check_top_k(r, m.ffn, "num_experts_per_tok");
  m.ffn.router.gate =
      r.boolean_or("norm_topk_prob", false) ? GateKind::kSoftmaxRenorm : GateKind::kSoftmax;
  m.ffn.router.aux_loss_coef = r.number_or("router_aux_loss_coef", 0);
  qwen_layout(r, m);
  if (qwen3) {
    m.qk_norm = true; // Qwen3 always normalizes q and k per head (RMSNorm over head_dim)
  } else {
    // Qwen2: biases on q, k, v always; a shared expert scaled by its own sigmoid gate.
    r.approximate("model_type", "biases on the q, k, v projections (Qwen2 attention)", "no biases");
    if (r.non_negative_or("shared_expert_intermediate_size", 0) > 0) {
      m.ffn.shared = 1;
      m.ffn.d_shared = r.positive("shared_expert_intermediate_size");
      r.approximate("shared_expert_intermediate_size",
                    "a shared expert scaled by its own sigmoid gate σ(w·x)",
                    "a shared expert added unscaled");
    }
  }
}

void deepseek(const HfReader& r, ImportedModel& out, bool v3) {
  ModelSpec& m = out.model;
  llama_attention(r, m, false);
  if (r.has("kv_lora_rank") || r.has("q_lora_rank")) {
    const int v_head = r.positive_or("v_head_dim", m.d_head);
    r.approximate(r.has("kv_lora_rank") ? "kv_lora_rank" : "q_lora_rank",
                  "multi-head latent attention (MLA: low-rank q/kv, decoupled rope head)",
                  "multi-head attention of " + std::to_string(m.n_heads) + " heads × v_head_dim " +
                      std::to_string(v_head));
    m.d_head = v_head;
    m.n_kv_heads = 0;
  }
  FfnSpec& f = m.ffn;
  f = moe(r.positive("n_routed_experts"), r.positive("num_experts_per_tok"),
          r.positive("moe_intermediate_size"));
  check_top_k(r, f, "num_experts_per_tok");
  f.shared = r.non_negative_or("n_shared_experts", 0);
  f.d_shared = f.d_expert;
  const std::string scoring = r.string_or("scoring_func", v3 ? "sigmoid" : "softmax");
  if (scoring != "softmax" && scoring != "sigmoid")
    r.where()
        .at("scoring_func")
        .fail("scoring_func '" + scoring + "': expected softmax or sigmoid");
  const bool renorm = r.boolean_or("norm_topk_prob", v3);
  f.router.gate = scoring == "sigmoid" ? (renorm ? GateKind::kSigmoidRenorm : GateKind::kSigmoid)
                                       : (renorm ? GateKind::kSoftmaxRenorm : GateKind::kSoftmax);
  const double scale =
      r.has("routed_scaling_factor")
          ? as_number(r.raw("routed_scaling_factor"), r.where().at("routed_scaling_factor"))
          : 1.0;
  if (scale <= 0) r.where().at("routed_scaling_factor").fail("must be > 0");
  f.router.routed_scaling_factor = scale;
  f.router.aux_loss_coef = r.number_or("aux_loss_alpha", 0);
  const std::string method = r.string_or("topk_method", v3 ? "noaux_tc" : "greedy");
  const int n_group = r.positive_or("n_group", 1), topk_group = r.positive_or("topk_group", 1);
  if (method == "noaux_tc") {
    // Aux-loss-free balancing; its update rate is a training setting, not in config.json.
    f.router.bias_update_rate = 0.001;
    out.notes.push_back("bias_update_rate 0.001: DeepSeek-V3's bias update speed γ from its "
                        "paper (config.json does not hold it)");
  } else if (method != "greedy" && method != "group_limited_greedy") {
    r.where()
        .at("topk_method")
        .fail("topk_method '" + method + "': expected greedy, group_limited_greedy or noaux_tc");
  }
  if (n_group > 1 && method != "greedy") {
    if (topk_group > n_group || f.n_experts % n_group != 0)
      r.where()
          .at("topk_group")
          .fail("n_group " + std::to_string(n_group) + " / topk_group " +
                std::to_string(topk_group) + " do not fit " + std::to_string(f.n_experts) +
                " experts");
    f.router.n_group = n_group;
    f.router.topk_group = topk_group;
    if (method == "group_limited_greedy")
      r.approximate("topk_method", "group scores as the best expert's score (V2)",
                    "group scores as the sum of the best two (V3)");
  }
  f.first_k_dense = r.non_negative_or("first_k_dense_replace", 0);
  const int freq = r.positive_or("moe_layer_freq", 1);
  if (freq != 1)
    r.approximate("moe_layer_freq", "MoE on blocks i with i % " + std::to_string(freq) + " == 0",
                  "moe_every " + std::to_string(freq) + " after first_k_dense");
  f.moe_every = freq;
  if (f.first_k_dense > 0 || f.moe_every > 1) f.dense_d_ff = r.positive("intermediate_size");
  if (r.non_negative_or("num_nextn_predict_layers", 0) > 0)
    r.approximate("num_nextn_predict_layers", "multi-token prediction modules",
                  "next-token prediction only");
}

void olmoe(const HfReader& r, ImportedModel& out) {
  ModelSpec& m = out.model;
  llama_attention(r, m, false);
  m.ffn = moe(r.positive("num_experts"), r.positive("num_experts_per_tok"),
              r.positive("intermediate_size"));
  check_top_k(r, m.ffn, "num_experts_per_tok");
  m.ffn.router.gate =
      r.boolean_or("norm_topk_prob", false) ? GateKind::kSoftmaxRenorm : GateKind::kSoftmax;
  m.ffn.router.aux_loss_coef = r.number_or("router_aux_loss_coef", 0);
  m.ffn.router.z_loss_coef = r.number_or("router_z_loss_coef", 0);
  // OLMoE normalizes q and k over the whole attention width, one gain per channel.
  r.approximate("model_type", "QK-norm over the whole attention width (OLMoE)",
                "QK-norm over each head's d_head");
  m.qk_norm = true;
  if (r.has("clip_qkv")) r.approximate("clip_qkv", "clipping of q, k, v", "no clipping");
}

void granite(const HfReader& r, ImportedModel& out) {
  ModelSpec& m = out.model;
  llama_attention(r, m, true);
  m.ffn = moe(r.positive("num_local_experts"), r.positive("num_experts_per_tok"),
              r.positive("intermediate_size"));
  check_top_k(r, m.ffn, "num_experts_per_tok");
  m.ffn.router.gate = GateKind::kSoftmaxRenorm; // top-k on the logits, softmax over them
  m.ffn.router.aux_loss_coef = r.number_or("router_aux_loss_coef", 0);
  std::string own;
  for (const char* k :
       {"embedding_multiplier", "residual_multiplier", "logits_scaling", "attention_multiplier"})
    if (r.has(k))
      own += (own.empty() ? "" : ", ") + std::string(k) + " " +
             fmt(as_number(r.raw(k), r.where().at(k)));
  if (!own.empty())
    out.notes.push_back("the model's own μP multipliers (" + own +
                        ") are hyperparameters muE's table replaces");
}

void dbrx(const HfReader& r, ImportedModel& out) {
  ModelSpec& m = out.model;
  m.vocab = r.positive("vocab_size");
  m.d_model = r.positive("d_model");
  m.n_layers = r.positive("n_layers");
  m.n_heads = r.positive("n_heads");
  if (m.d_model % m.n_heads != 0) r.where().at("n_heads").fail("n_heads must divide d_model");
  m.d_head = m.d_model / m.n_heads;
  m.tie_embeddings = r.boolean_or("tie_word_embeddings", false);
  m.activation = Activation::kSwiglu;
  m.norm = NormKind::kLayerNorm;
  if (!r.has("attn_config")) r.where().at("attn_config").fail("required field is missing");
  if (!r.has("ffn_config")) r.where().at("ffn_config").fail("required field is missing");
  const HfReader attn = r.nested("attn_config");
  m.n_kv_heads = attn.positive_or("kv_n_heads", m.n_heads);
  if (m.n_heads % m.n_kv_heads != 0)
    attn.where().at("kv_n_heads").fail("kv_n_heads must divide n_heads");
  if (m.n_kv_heads == m.n_heads) m.n_kv_heads = 0;
  if (attn.has("clip_qkv")) attn.approximate("clip_qkv", "clipping of q, k, v", "no clipping");
  const HfReader ffn = r.nested("ffn_config");
  m.ffn = moe(ffn.positive("moe_num_experts"), ffn.positive("moe_top_k"),
              ffn.positive("ffn_hidden_size"));
  check_top_k(ffn, m.ffn, "moe_top_k");
  if (ffn.has("ffn_act_fn")) {
    const HfReader act = ffn.nested("ffn_act_fn");
    const std::string name = act.string_or("name", "silu");
    if (name != "silu" && name != "swish")
      act.where().at("name").fail("ffn_act_fn '" + name + "': muE's gated FFN is SwiGLU (silu)");
  }
  // moe_normalize_expert_weights p: the selected softmax weights divided by their L_p norm;
  // p = 1 is softmax over the selected, absent is no renormalization.
  m.ffn.router.gate = GateKind::kSoftmax;
  if (ffn.has("moe_normalize_expert_weights")) {
    m.ffn.router.gate = GateKind::kSoftmaxRenorm;
    const double p = as_number(ffn.raw("moe_normalize_expert_weights"),
                               ffn.where().at("moe_normalize_expert_weights"));
    if (p != 1)
      ffn.approximate("moe_normalize_expert_weights",
                      "gates renormalized by their L" + fmt(p) + " norm",
                      "gates renormalized to sum 1 (L1, softmax_renorm)");
  }
  if (ffn.number_or("moe_jitter_eps", 0) > 0)
    ffn.approximate("moe_jitter_eps", "multiplicative router jitter", "no jitter");
  m.ffn.router.aux_loss_coef = ffn.number_or("moe_loss_weight", 0);
}

void llama4(const HfReader& top, ImportedModel& out) {
  // llama4 nests the text model in text_config; llama4_text is the text model itself.
  const bool nested = top.has("text_config");
  const HfReader r = nested ? top.nested("text_config") : top;
  ModelSpec& m = out.model;
  llama_attention(r, m, false);
  m.ffn = moe(r.positive("num_local_experts"), r.positive("num_experts_per_tok"),
              r.positive("intermediate_size"));
  check_top_k(r, m.ffn, "num_experts_per_tok");
  m.ffn.shared = 1; // one shared expert of the experts' width
  m.ffn.router.gate = GateKind::kSigmoid;
  m.ffn.router.aux_loss_coef = r.number_or("router_aux_loss_coef", 0);
  m.ffn.moe_every = r.positive_or("interleave_moe_layer_step", 1);
  if (m.ffn.moe_every > 1) m.ffn.dense_d_ff = r.positive("intermediate_size_mlp");
  r.approximate("num_experts_per_tok",
                "the router's sigmoid gate applied to the expert input (Llama-4)",
                "the gate applied to the expert output");
  if (r.boolean_or("use_qk_norm", false)) {
    m.qk_norm = true;
    r.approximate("use_qk_norm", "QK L2-norm without gains on the rope blocks only",
                  "QK-norm (RMSNorm with gains) in every block");
  }
  if (r.has("attention_chunk_size"))
    r.approximate("attention_chunk_size", "chunked attention", "full causal attention");
  if (r.has("moe_layers")) {
    // An explicit list: fine when it is the interleave pattern, else approximated by it.
    const Json& list = as_array(r.raw("moe_layers"), r.where().at("moe_layers"));
    std::vector<int> want;
    for (int i = 0; i < m.n_layers; ++i)
      if (m.ffn.moe_layer(i)) want.push_back(i);
    std::vector<int> got;
    for (std::size_t i = 0; i < list.size(); ++i)
      got.push_back(to_int(as_integer(list[i], r.where().at("moe_layers").at(i)),
                           r.where().at("moe_layers").at(i)));
    if (got != want)
      r.approximate("moe_layers", "an explicit list of MoE blocks",
                    "MoE every " + std::to_string(m.ffn.moe_every) + " block(s)");
  }
}

using Family = std::function<void(const HfReader&, ImportedModel&)>;

const std::map<std::string, Family>& families() {
  static const std::map<std::string, Family> f = {
      {"mixtral", mixtral},
      {"qwen2_moe", [](const HfReader& r, ImportedModel& o) { qwen_moe(r, o, false); }},
      {"qwen3_moe", [](const HfReader& r, ImportedModel& o) { qwen_moe(r, o, true); }},
      {"deepseek_v2", [](const HfReader& r, ImportedModel& o) { deepseek(r, o, false); }},
      {"deepseek_v3", [](const HfReader& r, ImportedModel& o) { deepseek(r, o, true); }},
      {"olmoe", olmoe},
      {"granitemoe", granite},
      {"dbrx", dbrx},
      {"llama4", llama4},
      {"llama4_text", llama4},
  };
  return f;
}

// MoE model types muE knows and refuses, with the part it cannot represent.
const std::map<std::string, std::string>& refused() {
  static const std::map<std::string, std::string> r = {
      {"switch_transformers",
       "an encoder-decoder with expert capacity (token dropping); muE's models are decoder-only "
       "and route every token"},
      {"jetmoe", "mixture-of-attention-heads (attention experts); muE's experts are FFNs only"},
  };
  return r;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v)
    s += (s.empty() ? "" : ", ") + x;
  return s;
}

} // namespace

const std::vector<std::string>& supported_model_types() {
  static const std::vector<std::string> v = [] {
    std::vector<std::string> out;
    for (const auto& [k, f] : families())
      out.push_back(k);
    return out;
  }();
  return v;
}

ImportedModel import_hf_config(const Json& j, const Where& where, bool approximate) {
  if (!j.is_object()) where.fail("a config.json must be a JSON object");
  ImportedModel out;
  const HfReader r(j, where, approximate, out);
  if (!r.has("model_type"))
    where.at("model_type")
        .fail("required field is missing; supported: " + joined(supported_model_types()));
  out.model_type = as_string(j["model_type"], where.at("model_type"));
  if (auto it = refused().find(out.model_type); it != refused().end())
    where.at("model_type").fail("'" + out.model_type + "' is " + it->second);
  auto it = families().find(out.model_type);
  if (it == families().end())
    where.at("model_type")
        .fail("model_type '" + out.model_type +
              "' is not one muE imports; supported: " + joined(supported_model_types()));
  if (r.has("is_encoder_decoder") && r.boolean_or("is_encoder_decoder", false))
    where.at("is_encoder_decoder").fail("an encoder-decoder cannot be represented");
  HfReader::first_unrepresentable_ = Where{};
  it->second(r, out);
  if (!approximate && !out.approximations.empty()) {
    std::string all;
    for (const auto& a : out.approximations)
      all += "\n  " + a;
    HfReader::first_unrepresentable_.fail(
        std::to_string(out.approximations.size()) +
        " part(s) cannot be represented in muE's model format; rerun with --approximate to "
        "use what follows each arrow instead (recorded in the target's description):" +
        all);
  }
  // The shapes must make a valid muE model: parse its JSON form as a model would be.
  Json mj = to_json(out.model);
  mj["seq_len"] = 1;
  parse_model(mj, where);
  return out;
}

ProxyShape parse_proxy(const std::string& text) {
  ProxyShape p;
  if (text.empty()) throw UsageError("--proxy needs d_model=N (e.g. d_model=64,n_layers=2)");
  std::set<std::string> given;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto eq = item.find('=');
    const std::string key = item.substr(0, eq);
    int* field = key == "d_model"    ? &p.d_model
                 : key == "n_layers" ? &p.n_layers
                 : key == "d_head"   ? &p.d_head
                 : key == "vocab"    ? &p.vocab
                                     : nullptr;
    if (eq == std::string::npos || !field)
      throw UsageError("--proxy: '" + item +
                       "' is not KEY=VALUE with KEY one of d_model, n_layers, d_head, vocab");
    const std::string v = item.substr(eq + 1);
    std::size_t used = 0;
    int x = 0;
    try {
      x = std::stoi(v, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != v.size() || x <= 0)
      throw UsageError("--proxy: " + key + "=" + v + " is not a positive integer");
    if (!given.insert(key).second) throw UsageError("--proxy: " + key + " is given twice");
    *field = x;
  }
  if (p.d_model == 0) throw UsageError("--proxy needs d_model=N (e.g. d_model=64,n_layers=2)");
  return p;
}

ModelSpec make_proxy(const ModelSpec& real, const ProxyShape& p, std::vector<std::string>* notes) {
  auto note = [&](const std::string& s) {
    if (notes) notes->push_back(s);
  };
  const double s = static_cast<double>(p.d_model) / real.d_model;
  auto scaled = [&](int w) { return std::max(4, static_cast<int>(std::lround(w * s))); };
  ModelSpec m = real;
  m.d_model = p.d_model;
  m.n_layers = p.n_layers ? p.n_layers : std::min(real.n_layers, 4);
  m.vocab = p.vocab; // 0: the reference's
  m.seq_len = 0;
  // Heads: the attention-width ratio d_attn/d at d_head, rounded to whole GQA groups.
  const int group = real.n_heads / real.kv_heads();
  const double ratio = static_cast<double>(real.d_attn()) / real.d_model;
  int heads = static_cast<int>(std::lround(ratio * p.d_model / p.d_head));
  heads = std::max(group, (heads + group / 2) / group * group);
  m.d_head = p.d_head;
  m.n_heads = heads;
  m.n_kv_heads = real.n_kv_heads ? heads / group : 0;
  if (m.d_attn() != static_cast<long long>(std::lround(ratio * p.d_model)))
    note("heads " + std::to_string(heads) + " × d_head " + std::to_string(p.d_head) + " = " +
         std::to_string(m.d_attn()) + ": whole GQA groups of " + std::to_string(group) +
         " (the real d_attn/d_model is " + fmt(ratio) + ")");
  FfnSpec& f = m.ffn;
  if (f.is_moe()) {
    f.d_expert = scaled(real.ffn.d_expert);
    f.d_shared = scaled(real.ffn.d_shared);
    if (f.dense_d_ff) f.dense_d_ff = scaled(real.ffn.dense_d_ff);
    if (f.first_k_dense > 0) {
      const int k = std::max(1, static_cast<int>(std::lround(static_cast<double>(f.first_k_dense) *
                                                             m.n_layers / real.n_layers)));
      if (k != f.first_k_dense)
        note("first_k_dense " + std::to_string(real.ffn.first_k_dense) + " → " + std::to_string(k) +
             " for " + std::to_string(m.n_layers) + " blocks");
      f.first_k_dense = std::min(k, m.n_layers - 1);
      if (f.first_k_dense == 0 && f.moe_every == 1) {
        f.dense_d_ff = 0;
        note("no dense block in " + std::to_string(m.n_layers) + " block(s): all MoE");
      }
    }
    if (m.moe_layers() == 0)
      throw UsageError("--proxy: n_layers " + std::to_string(m.n_layers) +
                       " leaves no MoE block in this layout (moe_every " +
                       std::to_string(f.moe_every) + "); give more layers");
  } else {
    f.d_ff = scaled(real.ffn.d_ff);
  }
  return m;
}

std::string target_name_for(const std::string& path) {
  const std::filesystem::path p = std::filesystem::absolute(path).lexically_normal();
  std::string stem = p.stem().string();
  if (stem == "config" && p.has_parent_path()) {
    std::filesystem::path dir = p.parent_path();
    // A Hugging Face cache: models--ORG--NAME/snapshots/<commit>/config.json → NAME.
    if (dir.parent_path().filename() == "snapshots") {
      const std::string repo = dir.parent_path().parent_path().filename().string();
      const auto cut = repo.rfind("--");
      stem = cut == std::string::npos ? repo : repo.substr(cut + 2);
    } else if (!dir.filename().empty()) {
      stem = dir.filename().string();
    }
  }
  std::string out;
  for (char c : stem)
    out +=
        (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-') ? c : '-';
  while (!out.empty() && out.front() == '.')
    out.erase(out.begin());
  if (out.empty()) out = "imported";
  return out.substr(0, 64);
}

namespace {

std::string shape_summary(const ModelSpec& m) {
  std::string s = "d_model " + std::to_string(m.d_model) + ", " + std::to_string(m.n_layers) +
                  " blocks, " + std::to_string(m.n_heads) + " heads × " + std::to_string(m.d_head);
  if (m.n_kv_heads) s += " (" + std::to_string(m.n_kv_heads) + " KV)";
  const FfnSpec& f = m.ffn;
  s += ", " + f.layout_name() + " of width " + std::to_string(f.d_expert) + ", gate " +
       to_string(f.router.gate);
  if (f.first_k_dense) s += ", first " + std::to_string(f.first_k_dense) + " dense";
  if (f.moe_every > 1) s += ", MoE every " + std::to_string(f.moe_every);
  if (m.tie_embeddings) s += ", tied";
  if (m.qk_norm) s += ", QK-norm";
  return s;
}

} // namespace

Json import_targets(const std::vector<std::string>& files, const std::vector<std::string>& names,
                    bool approximate, const std::optional<ProxyShape>& proxy,
                    std::vector<std::string>* warnings) {
  if (!names.empty() && names.size() != files.size())
    throw UsageError("--name: give one name per config file (" + std::to_string(files.size()) +
                     " files, " + std::to_string(names.size()) + " names)");
  Json targets = Json::array();
  for (std::size_t i = 0; i < files.size(); ++i) {
    const std::string& file = files[i];
    const Where where{file, ""};
    ImportedModel im = import_hf_config(read_json_file(file), where, approximate);
    std::string name = names.empty() ? target_name_for(file) : names[i];
    for (const auto& t : targets)
      if (t["name"] == (proxy ? name.substr(0, 58) + "-proxy" : name))
        throw UsageError("two config files give the target name '" + name +
                         "'; name them with --name (one per file)");
    std::string desc = "Imported from " + std::filesystem::path(file).filename().string() +
                       " (model_type " + im.model_type + "): " + shape_summary(im.model) + ".";
    ModelSpec model = im.model;
    std::vector<std::string> notes = im.notes;
    if (proxy) {
      std::vector<std::string> proxy_notes;
      model = make_proxy(im.model, *proxy, &proxy_notes);
      name = name.substr(0, 58) + "-proxy";
      desc = "CPU proxy of a model imported from " +
             desc.substr(std::string("Imported from ").size()) + " Proxy: " + shape_summary(model) +
             ".";
      notes.insert(notes.end(), proxy_notes.begin(), proxy_notes.end());
    }
    if (!im.approximations.empty()) {
      desc += " Approximated (--approximate):";
      for (const auto& a : im.approximations) {
        desc += " " + a + ";";
        if (warnings) warnings->push_back(file + ": " + a);
      }
      desc.back() = '.';
    }
    for (const auto& n : notes)
      desc += " Note: " + n + ".";
    Json mj = to_json(model);
    mj.erase("seq_len"); // the training context: the reference's
    if (model.vocab == 0) mj.erase("vocab");
    targets.push_back(Json{{"name", name}, {"description", desc}, {"model", mj}});
  }
  Json doc{{"schema", kTargetsSchema}, {"targets", targets}};
  parse_targets_spec(doc, Where{"(imported targets)", ""});
  return doc;
}

} // namespace mue
