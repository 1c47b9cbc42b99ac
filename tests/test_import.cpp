// Tests of src/import: released models' config.json → muE models, and their CPU proxies.
// The fixtures under tests/fixtures/real/ are config.json-shaped files written from the
// released shapes; expected-shapes.json holds the same numbers typed apart from them.
#include <doctest/doctest.h>

#include <filesystem>

#include "helpers.h"
#include "import/hf_config.h"
#include "spec/target_spec.h"

using namespace mue;
using mue::test::failure_of;

namespace {

std::string real(const std::string& name) {
  return std::string(MUE_SOURCE_DIR) + "/tests/fixtures/real/" + name + ".json";
}

ImportedModel import_file(const std::string& name, bool approximate = true) {
  return import_hf_config(read_json_file(real(name)), Where{real(name), ""}, approximate);
}

} // namespace

TEST_CASE("every fixture imports to the released shapes (or is refused with its reason)") {
  const Json expected = read_json_file(real("expected-shapes"));
  int imported = 0;
  for (const auto& [name, e] : expected.items()) {
    CAPTURE(name);
    if (e.contains("refused")) {
      const auto f = failure_of([&] { import_file(name); });
      CHECK(f.pointer == "/model_type");
      CHECK(f.reason.find(e["refused"].get<std::string>()) != std::string::npos);
      continue;
    }
    const ImportedModel im = import_file(name);
    const ModelSpec& m = im.model;
    const FfnSpec& f = m.ffn;
    CHECK(m.d_model == e["d_model"]);
    CHECK(m.n_layers == e["n_layers"]);
    CHECK(m.n_heads == e["n_heads"]);
    CHECK(m.kv_heads() == e["n_kv_heads"]);
    CHECK(m.d_head == e["d_head"]);
    CHECK(f.n_experts == e["n_experts"]);
    CHECK(f.active == e["active"]);
    CHECK(f.d_expert == e["d_expert"]);
    CHECK(f.shared == e["shared"]);
    if (f.shared) CHECK(f.d_shared == e["d_shared"]);
    CHECK(std::string(to_string(f.router.gate)) == e["gate"]);
    CHECK(f.first_k_dense == e["first_k_dense"]);
    CHECK(f.moe_every == e["moe_every"]);
    if (e.contains("dense_d_ff")) CHECK(f.dense_d_ff == e["dense_d_ff"]);
    CHECK(m.tie_embeddings == e["tie"]);
    CHECK(m.qk_norm == e["qk_norm"]);
    if (e.contains("routed_scaling_factor"))
      CHECK(f.router.routed_scaling_factor == doctest::Approx(e["routed_scaling_factor"]));
    if (e.contains("n_group")) {
      CHECK(f.router.n_group == e["n_group"]);
      CHECK(f.router.topk_group == e["topk_group"]);
    }
    CHECK(m.activation == Activation::kSwiglu);
    ++imported;
  }
  CHECK(imported == 11);
}

TEST_CASE("a part muE cannot represent: exit 2 naming it, or recorded with --approximate") {
  // DeepSeek-V3: MLA, then multi-token prediction.
  const auto f = failure_of([] { import_file("deepseek-v3", false); });
  CHECK(f.pointer == "/kv_lora_rank");
  CHECK(f.reason.find("--approximate") != std::string::npos);
  const ImportedModel im = import_file("deepseek-v3", true);
  REQUIRE(im.approximations.size() == 2);
  CHECK(im.approximations[0].rfind("/kv_lora_rank: multi-head latent attention", 0) == 0);
  CHECK(im.approximations[1].rfind("/num_nextn_predict_layers", 0) == 0);
  // The update rate the config does not hold is a note, not silent.
  CHECK(im.notes.size() == 1);
  // Mixtral and Qwen3 need nothing approximated.
  CHECK(import_file("mixtral-8x7b", false).approximations.empty());
  CHECK(import_file("qwen3-30b-a3b", false).approximations.empty());
  // A sliding window in use is refused; null is no window.
  Json j = read_json_file(real("mixtral-8x7b"));
  j["sliding_window"] = 4096;
  CHECK(failure_of([&] {
          import_hf_config(j, Where{"c.json", ""}, false);
        }).pointer == "/sliding_window");
}

TEST_CASE("import errors: unknown model_type lists the supported ones, fields at their pointer") {
  Json j = read_json_file(real("mixtral-8x7b"));
  j["model_type"] = "gpt2";
  auto f = failure_of([&] { import_hf_config(j, Where{"c.json", ""}, true); });
  CHECK(f.pointer == "/model_type");
  for (const auto& t : supported_model_types())
    CHECK(f.reason.find(t) != std::string::npos);
  j = read_json_file(real("mixtral-8x7b"));
  j.erase("hidden_size");
  CHECK(failure_of([&] {
          import_hf_config(j, Where{"c.json", ""}, true);
        }).pointer == "/hidden_size");
  j = read_json_file(real("mixtral-8x7b"));
  j["num_experts_per_tok"] = 9;
  CHECK(failure_of([&] {
          import_hf_config(j, Where{"c.json", ""}, true);
        }).pointer == "/num_experts_per_tok");
  j = read_json_file(real("mixtral-8x7b"));
  j["num_key_value_heads"] = 5;
  CHECK(failure_of([&] {
          import_hf_config(j, Where{"c.json", ""}, true);
        }).pointer == "/num_key_value_heads");
  j["num_key_value_heads"] = "8";
  CHECK(failure_of([&] {
          import_hf_config(j, Where{"c.json", ""}, true);
        }).pointer == "/num_key_value_heads");
  CHECK(failure_of([] { import_hf_config(Json::array(), Where{"c.json", ""}, true); }).failed);
}

TEST_CASE("proxies keep the pattern and shrink the widths") {
  ProxyShape p = parse_proxy("d_model=64,n_layers=4");
  CHECK(p.d_head == 16);
  // DeepSeek-V3: 256 experts, 8 active, one shared, group-limited, first 3 of 61 dense.
  const ModelSpec ds = make_proxy(import_file("deepseek-v3").model, p, nullptr);
  CHECK(ds.d_model == 64);
  CHECK(ds.n_layers == 4);
  CHECK(ds.ffn.n_experts == 256);
  CHECK(ds.ffn.active == 8);
  CHECK(ds.ffn.shared == 1);
  CHECK(ds.ffn.router.gate == GateKind::kSigmoidRenorm);
  CHECK(ds.ffn.router.n_group == 8);
  CHECK(ds.ffn.first_k_dense == 1); // 3 of 61 blocks, at least one
  CHECK(ds.ffn.d_expert == 18);     // 2048 × 64/7168
  CHECK(ds.moe_layers() == 3);
  // Qwen3: attention twice the model width, GQA groups of 8 query heads.
  const ModelSpec qw = make_proxy(import_file("qwen3-30b-a3b").model, p, nullptr);
  CHECK(qw.d_attn() == 128);
  CHECK(qw.n_heads / qw.kv_heads() == 8);
  CHECK(qw.qk_norm);
  // Granite: tied embeddings, GQA 3 → whole groups.
  const ModelSpec gr = make_proxy(import_file("granite-3.1-3b-a800m").model, p, nullptr);
  CHECK(gr.tie_embeddings);
  CHECK(gr.n_heads % gr.kv_heads() == 0);
  CHECK(gr.n_heads / gr.kv_heads() == 3);
  // Bad proxy text is a usage error naming the item.
  CHECK_THROWS_AS(parse_proxy("d_model=64,width=3"), UsageError);
  CHECK_THROWS_AS(parse_proxy("n_layers=2"), UsageError);
  CHECK_THROWS_AS(parse_proxy("d_model=-4"), UsageError);
}

TEST_CASE("import_targets writes one valid target per file, described, with warnings") {
  std::vector<std::string> warnings;
  const Json doc = import_targets({real("deepseek-v3"), real("mixtral-8x7b")}, {}, true,
                                  std::nullopt, &warnings);
  CHECK(parse_targets_spec(doc, Where{"t.json", ""}).targets.size() == 2);
  CHECK(doc["targets"][0]["name"] == "deepseek-v3");
  CHECK(doc["targets"][0]["model"].count("seq_len") == 0);
  const std::string desc = doc["targets"][0]["description"];
  CHECK(desc.find("Approximated (--approximate)") != std::string::npos);
  CHECK(desc.find("bias_update_rate 0.001") != std::string::npos);
  CHECK(warnings.size() == 2);
  // Proxies are named NAME-proxy and inherit the reference's vocabulary unless given.
  const Json px = import_targets({real("mixtral-8x7b")}, {"mx"}, false,
                                 parse_proxy("d_model=64,n_layers=2"), nullptr);
  CHECK(px["targets"][0]["name"] == "mx-proxy");
  CHECK(px["targets"][0]["model"].count("vocab") == 0);
  CHECK_THROWS_AS(import_targets({real("mixtral-8x7b")}, {"a", "b"}, false, std::nullopt, nullptr),
                  UsageError);
  CHECK(target_name_for("/x/Mixtral-8x7B/config.json") == "Mixtral-8x7B");
}

TEST_CASE("strict import names every part that needs --approximate, each at its field") {
  const auto f = failure_of([] { import_file("deepseek-v3", false); });
  CHECK(f.reason.rfind("2 part(s) cannot be represented", 0) == 0);
  CHECK(f.reason.find("/num_nextn_predict_layers") != std::string::npos);
  const ImportedModel l4 = import_file("llama-4-scout-17b-16e");
  REQUIRE(l4.approximations.size() == 3);
  CHECK(l4.approximations[1].rfind("/text_config/use_qk_norm", 0) == 0);
  CHECK(l4.approximations[2].rfind("/text_config/attention_chunk_size", 0) == 0);
  CHECK(import_file("dbrx").approximations.at(0).rfind("/attn_config/clip_qkv", 0) == 0);
}

TEST_CASE("import edge cases: layouts, activations, gate norms, names, small proxies") {
  // Qwen: dense first blocks listed in mlp_only_layers are first_k_dense exactly.
  Json q = read_json_file(real("qwen3-30b-a3b"));
  q["mlp_only_layers"] = Json::parse("[0, 1]");
  ModelSpec m = import_hf_config(q, Where{"q.json", ""}, false).model;
  CHECK(m.ffn.first_k_dense == 2);
  CHECK(m.ffn.dense_d_ff == 6144);
  q["mlp_only_layers"] = Json::parse("[3, 7]");
  CHECK(failure_of([&] {
          import_hf_config(q, Where{"q.json", ""}, false);
        }).pointer == "/mlp_only_layers");
  // DBRX: another activation is refused; an L2 gate norm and jitter are approximated.
  Json d = read_json_file(real("dbrx"));
  d["ffn_config"]["ffn_act_fn"]["name"] = "gelu";
  CHECK(failure_of([&] {
          import_hf_config(d, Where{"d.json", ""}, true);
        }).pointer == "/ffn_config/ffn_act_fn/name");
  d = read_json_file(real("dbrx"));
  d["ffn_config"]["moe_normalize_expert_weights"] = 2;
  d["ffn_config"]["moe_jitter_eps"] = 0.01;
  const ImportedModel im = import_hf_config(d, Where{"d.json", ""}, true);
  CHECK(im.approximations.size() == 3);
  // Llama-4: an irregular list of MoE blocks is approximated, the interleave pattern is not.
  Json l = read_json_file(real("llama-4-scout-17b-16e"));
  l["text_config"]["moe_layers"] = Json::parse("[0, 5, 7]");
  CHECK(import_hf_config(l, Where{"l.json", ""}, true).approximations.size() == 4);
  // Names: ./config.json takes its folder's name, a Hugging Face snapshot its repository's.
  CHECK(target_name_for("/m/mixtral/./config.json") == "mixtral");
  CHECK(target_name_for(
            "/c/hub/models--mistralai--Mixtral-8x7B-v0.1/snapshots/41bd4c9e/config.json") ==
        "Mixtral-8x7B-v0.1");
  CHECK_THROWS_AS(import_targets({real("dbrx"), real("dbrx")}, {}, true, std::nullopt, nullptr),
                  UsageError);
  // A one-block proxy of DeepSeek: no room for a dense block, so none (and no dense width).
  const ModelSpec one =
      make_proxy(import_file("deepseek-v3").model, parse_proxy("d_model=64,n_layers=1"), nullptr);
  CHECK(one.ffn.first_k_dense == 0);
  CHECK(one.ffn.dense_d_ff == 0);
  CHECK_THROWS_AS(parse_proxy(""), UsageError);
  CHECK_THROWS_AS(parse_proxy("d_model=64,d_model=32"), UsageError);
}
