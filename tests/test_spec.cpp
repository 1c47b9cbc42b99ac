// Tests of src/spec: every validation rule fails at the JSON pointer of its field.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <unistd.h>

#include "helpers.h"
#include "spec/config.h"
#include "spec/paths.h"
#include "spec/sweep_spec.h"
#include "spec/target_spec.h"
#include "spec/trial.h"
#include "spec/validate.h"
#include "sweep/plan.h"

using namespace mue;
using mue::test::failure_of;
using mue::test::parse;

namespace {

const char* kConfig = R"({
  "model": {"vocab": 256, "d_model": 64, "n_layers": 2, "n_heads": 4, "seq_len": 32,
            "ffn": {"kind": "dense", "d_ff": 64}},
  "train": {"batch_size": 8, "steps": 20, "data": {"kind": "synthetic"}},
  "hparams": {"lr": 0.001, "wd": 0.1, "init_std": 0.02}
})";

const char* kMoe = R"({"kind": "moe", "n_experts": 8, "active": 2, "d_expert": 64})";

// One rule: set (or with `erase`, remove) the value at `at` and expect the parse
// to fail at `expect`.
struct Rule {
  const char* at;
  const char* value; // JSON text; nullptr = remove the field
  const char* expect;
};

Json with(const Json& base, const Rule& r) {
  Json j = base;
  Json::json_pointer p(r.at);
  if (r.value)
    j[p] = parse(r.value);
  else
    j[p.parent_pointer()].erase(p.back());
  return j;
}

void check_rules(const Json& base, const std::vector<Rule>& rules,
                 const std::function<void(const Json&)>& parse_fn) {
  REQUIRE_FALSE(failure_of([&] { parse_fn(base); }).failed);
  for (const auto& r : rules) {
    std::string at = r.at, value = r.value ? r.value : "<removed>";
    CAPTURE(at);
    CAPTURE(value);
    auto f = failure_of([&] { parse_fn(with(base, r)); });
    CHECK(f.failed);
    CHECK(f.pointer == r.expect);
    CHECK_FALSE(f.reason.empty());
  }
}

Json moe_config(const char* ffn = kMoe) {
  Json j = parse(kConfig);
  j["model"]["ffn"] = parse(ffn);
  return j;
}

void parse_cfg(const Json& j) {
  parse_config(j, Where{"c.json", ""});
}

} // namespace

TEST_CASE("model: each field's rule fails at its pointer") {
  check_rules(parse(kConfig),
              {
                  {"/model/vocab", nullptr, "/model/vocab"},
                  {"/model/vocab", "0", "/model/vocab"},
                  {"/model/d_model", "\"64\"", "/model/d_model"},
                  {"/model/d_model", "64.5", "/model/d_model"},
                  {"/model/d_model", "-64", "/model/d_model"},
                  {"/model/n_layers", nullptr, "/model/n_layers"},
                  {"/model/seq_len", "0", "/model/seq_len"},
                  {"/model/n_heads", nullptr, "/model/n_heads"},
                  {"/model/n_heads", "3", "/model/n_heads"},
                  {"/model/d_head", "0", "/model/d_head"},
                  {"/model/n_kv_heads", "3", "/model/n_kv_heads"}, // does not divide 4 heads
                  {"/model/n_kv_heads", "0", "/model/n_kv_heads"},
                  {"/model/tie_embeddings", "1", "/model/tie_embeddings"},
                  {"/model/qk_norm", "\"yes\"", "/model/qk_norm"},
                  {"/model/ffn/first_k_dense", "1", "/model/ffn/first_k_dense"}, // dense FFN
                  {"/model/ffn", nullptr, "/model/ffn"},
                  {"/model/ffn/kind", "\"conv\"", "/model/ffn/kind"},
                  {"/model/ffn/d_ff", "0", "/model/ffn/d_ff"},
                  {"/model/ffn/n_experts", "8", "/model/ffn/n_experts"}, // not a dense key
                  {"/model/norm", "\"batchnorm\"", "/model/norm"},
                  {"/model/activation", "\"tanh\"", "/model/activation"},
                  {"/model/d_modle", "64", "/model/d_modle"},
                  {"/model", "[]", "/model"},
              },
              parse_cfg);
}

TEST_CASE("model: d_head alone sets n_heads, a non-dividing d_head fails") {
  Json j = parse(kConfig);
  j["model"].erase("n_heads");
  j["model"]["d_head"] = 16;
  RunConfig c = parse_config(j, Where{"c.json", ""});
  CHECK(c.model.n_heads == 4);
  j["model"]["d_head"] = 24;
  CHECK(failure_of([&] { parse_cfg(j); }).pointer == "/model/d_head");
}

TEST_CASE("MoE FFN: each shape rule fails at its pointer") {
  check_rules(
      moe_config(),
      {
          {"/model/ffn/active", "16", "/model/ffn/active"},
          {"/model/ffn/active", "0", "/model/ffn/active"},
          {"/model/ffn/n_experts", nullptr, "/model/ffn/n_experts"},
          {"/model/ffn/d_expert", nullptr, "/model/ffn/d_expert"},
          {"/model/ffn/groups", "3", "/model/ffn/groups"},
          {"/model/ffn/groups", "4", "/model/ffn/groups"}, // divides 8, not active 2
          {"/model/ffn/shared", "-1", "/model/ffn/shared"},
          {"/model/ffn/d_shared", "0", "/model/ffn/d_shared"},
          {"/model/ffn/total_width", "1000", "/model/ffn/total_width"},
          {"/model/ffn/active_width", "64", "/model/ffn/active_width"},
          {"/model/ffn/layout", "\"8e4a\"", "/model/ffn/active"},
          {"/model/ffn/layout", "\"8x2\"", "/model/ffn/layout"},
          {"/model/ffn/router", "{\"aux_loss_coef\": -1}", "/model/ffn/router/aux_loss_coef"},
          {"/model/ffn/router", "{\"kind\": \"softmax\"}", "/model/ffn/router/kind"},
          {"/model/ffn/d_ff", "64", "/model/ffn/d_ff"}, // not an MoE key
          {"/model/ffn/router", "{\"gate\": \"tanh\"}", "/model/ffn/router/gate"},
          {"/model/ffn/router", "{\"routed_scaling_factor\": 0}",
           "/model/ffn/router/routed_scaling_factor"},
          {"/model/ffn/router", "{\"z_loss_coef\": -0.1}", "/model/ffn/router/z_loss_coef"},
          {"/model/ffn/router", "{\"bias_update_rate\": -1}", "/model/ffn/router/bias_update_rate"},
          {"/model/ffn/router", "{\"group_limited\": {\"n_group\": 3, \"topk_group\": 1}}",
           "/model/ffn/router/group_limited/n_group"}, // 3 does not divide 8
          {"/model/ffn/router", "{\"group_limited\": {\"n_group\": 4, \"topk_group\": 5}}",
           "/model/ffn/router/group_limited/topk_group"},
          {"/model/ffn/router", "{\"group_limited\": {\"n_group\": 8, \"topk_group\": 1}}",
           "/model/ffn/router/group_limited/topk_group"}, // 1 group of 1 < a = 2
          {"/model/ffn/router", "{\"group_limited\": {\"n_group\": 4}}",
           "/model/ffn/router/group_limited/topk_group"},
          {"/model/ffn/first_k_dense", "1", "/model/ffn/dense_d_ff"}, // dense blocks need a width
          {"/model/ffn/first_k_dense", "-1", "/model/ffn/first_k_dense"},
          {"/model/ffn/moe_every", "0", "/model/ffn/moe_every"},
          {"/model/ffn/dense_d_ff", "64", "/model/ffn/dense_d_ff"}, // no dense block
      },
      parse_cfg);
  // Group-limited routing and balanced groups are two routers: one or the other.
  Json g = moe_config(R"({"kind": "moe", "layout": "8e2a2g", "d_expert": 8,
                          "router": {"group_limited": {"n_group": 4, "topk_group": 2}}})");
  CHECK(failure_of([&] { parse_cfg(g); }).pointer == "/model/ffn/router/group_limited");
  // The layout must leave at least one MoE block among n_layers (2 here).
  Json k = moe_config(R"({"kind": "moe", "layout": "8e2a", "d_expert": 8, "first_k_dense": 2,
                          "dense_d_ff": 32})");
  CHECK(failure_of([&] { parse_cfg(k); }).pointer == "/model/ffn/first_k_dense");
}

TEST_CASE("model: layer layout first_k_dense / moe_every places the MoE blocks") {
  auto model = [](const char* ffn, int layers) {
    Json j = moe_config(ffn);
    j["model"]["n_layers"] = layers;
    return parse_config(j, Where{"c.json", ""}).model;
  };
  auto moe_blocks = [](const ModelSpec& m) {
    std::string s;
    for (int i = 0; i < m.n_layers; ++i)
      s += m.ffn.moe_layer(i) ? 'M' : 'D';
    return s;
  };
  // DeepSeek-V3: the first 3 blocks dense, then every block MoE.
  ModelSpec ds = model(R"({"kind": "moe", "layout": "8e2a", "d_expert": 8, "first_k_dense": 3,
                           "dense_d_ff": 64})",
                       6);
  CHECK(moe_blocks(ds) == "DDDMMM");
  CHECK(ds.moe_layers() == 3);
  CHECK(ds.ffn.has_dense_layers(6));
  // Llama-4 Maverick / Switch: every other block, the second of each pair.
  ModelSpec alt = model(
      R"({"kind": "moe", "layout": "8e2a", "d_expert": 8, "moe_every": 2, "dense_d_ff": 64})", 6);
  CHECK(moe_blocks(alt) == "DMDMDM");
  ModelSpec both = model(R"({"kind": "moe", "layout": "8e2a", "d_expert": 8, "first_k_dense": 1,
                             "moe_every": 2, "dense_d_ff": 64})",
                         6);
  CHECK(moe_blocks(both) == "DDMDMD");
  ModelSpec all = model(kMoe, 4);
  CHECK(moe_blocks(all) == "MMMM");
  CHECK_FALSE(all.ffn.has_dense_layers(4));
}

TEST_CASE("model: the attention width is free when n_heads and d_head are both given, GQA") {
  Json j = parse(kConfig);
  j["model"]["n_heads"] = 8;
  j["model"]["d_head"] = 16; // 8 × 16 = 128 at d_model 64 (Qwen3's 2× attention width)
  j["model"]["n_kv_heads"] = 2;
  const ModelSpec m = parse_config(j, Where{"c.json", ""}).model;
  CHECK(m.d_attn() == 128);
  CHECK(m.kv_heads() == 2);
  // A wider target keeps d_head, the attention width ratio and the GQA group size.
  const ModelSpec wide = parse_model(parse(R"({"d_model": 128})"), Where{"t.json", "/model"}, &m);
  CHECK(wide.d_head == 16);
  CHECK(wide.n_heads == 16);
  CHECK(wide.d_attn() == 256);
  CHECK(wide.kv_heads() == 4);
  // MHA when n_kv_heads is absent.
  CHECK(parse_config(parse(kConfig), Where{"c.json", ""}).model.kv_heads() == 4);
}

TEST_CASE("MoE FFN: a renormalized gate with one selected expert is reported as degenerate") {
  auto ffn = [](const char* j) { return parse_ffn(parse(j), Where{"t.json", "/ffn"}); };
  CHECK(ffn(R"({"kind": "moe", "layout": "8e1a", "d_expert": 8})")
            .degenerate_gate(false)
            .find("8e1a: a = 1") == 0);
  CHECK(ffn(R"({"kind": "moe", "layout": "8e2a", "d_expert": 8})").degenerate_gate(false).empty());
  CHECK(ffn(R"({"kind": "dense", "d_ff": 8})").degenerate_gate(false).empty());
  // a/g = 1: degenerate only when each group is normalized on its own.
  const FfnSpec g = ffn(R"({"kind": "moe", "layout": "8e2a2g", "d_expert": 8})");
  CHECK(g.degenerate_gate(false).empty());
  CHECK(g.degenerate_gate(true).find("a/g = 1 with per_group normalization") != std::string::npos);
  // Every renormalized kind freezes at a = 1; the un-normalized kinds do not, and the
  // message names them as the fix.
  CHECK(ffn(R"({"kind": "moe", "layout": "8e1a", "d_expert": 8,
                "router": {"gate": "softmax_renorm"}})")
            .degenerate_gate(false)
            .find("'softmax' or 'sigmoid'") != std::string::npos);
  for (const char* kind : {"softmax", "sigmoid"}) {
    Json j = parse(R"({"kind": "moe", "layout": "8e1a", "d_expert": 8})");
    j["router"]["gate"] = kind;
    CHECK(parse_ffn(j, Where{"t.json", "/ffn"}).degenerate_gate(false).empty());
  }
}

TEST_CASE("MoE FFN: the layout shorthand fills fields, claims are checked") {
  Json j = moe_config(R"({"kind": "moe", "layout": "128e8a4g1s", "d_expert": 16,
                          "d_shared": 32, "total_width": 2048, "active_width": 160})");
  RunConfig c = parse_config(j, Where{"c.json", ""});
  CHECK(c.model.ffn.n_experts == 128);
  CHECK(c.model.ffn.active == 8);
  CHECK(c.model.ffn.groups == 4);
  CHECK(c.model.ffn.shared == 1);
  CHECK(c.model.ffn.active_width() == 8 * 16 + 32);
  CHECK(c.model.ffn.layout_name() == "128e8a4g1s");
  // d_shared defaults to d_expert.
  Json k = moe_config(R"({"kind": "moe", "layout": "8e2a1s", "d_expert": 64})");
  CHECK(parse_config(k, Where{"c.json", ""}).model.ffn.active_width() == 3 * 64);
}

TEST_CASE("train: each field's rule fails at its pointer") {
  check_rules(
      parse(kConfig),
      {
          {"/train/batch_size", "0", "/train/batch_size"},
          {"/train/batch_size", nullptr, "/train/batch_size"},
          {"/train/steps", nullptr, "/train/steps"},
          {"/train/steps", "0", "/train/steps"},
          {"/train/tokens", "5120", "/train/tokens"}, // both steps and tokens
          {"/train/schedule", "{\"kind\": \"linear\"}", "/train/schedule/kind"},
          {"/train/schedule", "{\"warmup_fraction\": 1.0}", "/train/schedule/warmup_fraction"},
          {"/train/schedule", "{\"decay_fraction\": 0.2}", "/train/schedule/decay_fraction"},
          {"/train/schedule",
           "{\"kind\": \"wsd\", \"warmup_fraction\": 0.5, \"decay_fraction\": 0.6}",
           "/train/schedule/decay_fraction"},
          {"/train/schedule", "{\"min_lr_ratio\": 1.5}", "/train/schedule/min_lr_ratio"},
          {"/train/optimizer", "{\"kind\": \"sgd\"}", "/train/optimizer/kind"},
          {"/train/optimizer", "{\"beta1\": -0.1}", "/train/optimizer/beta1"},
          {"/train/optimizer", "{\"beta2\": 1}", "/train/optimizer/beta2"},
          {"/train/optimizer", "{\"eps\": 0}", "/train/optimizer/eps"},
          {"/train/optimizer", "{\"grad_clip\": -1}", "/train/optimizer/grad_clip"},
          {"/train/eval", "{\"every\": -1}", "/train/eval/every"},
          {"/train/eval", "{\"batches\": 0}", "/train/eval/batches"},
          {"/train/eval", "{\"every\": 100}", "/train/eval/every"}, // > 20 steps
          {"/train/seed", "-1", "/train/seed"},
          {"/train/data", "{\"kind\": \"parquet\"}", "/train/data/kind"},
          {"/train/data", "{\"kind\": \"text\"}", "/train/data/path"},
          {"/train/data", "{\"kind\": \"text\", \"path\": \"\"}", "/train/data/path"},
          {"/train/data", "{\"kind\": \"synthetic\", \"path\": \"x\"}", "/train/data/path"},
          {"/train/data", "{\"kind\": \"bin\", \"path\": \"a\", \"val_fraction\": 1}",
           "/train/data/val_fraction"},
          {"/train/data",
           "{\"kind\": \"bin\", \"path\": \"a\", \"val_path\": \"b\", \"val_fraction\": 0.1}",
           "/train/data/val_fraction"},
      },
      parse_cfg);
}

TEST_CASE("train: tokens resolve to steps and must be a whole number of steps") {
  Json j = parse(kConfig);
  j["train"].erase("steps");
  j["train"]["tokens"] = 8 * 32 * 50;
  RunConfig c = parse_config(j, Where{"c.json", ""});
  CHECK(c.train.steps == 50);
  j["train"]["tokens"] = 1000;
  CHECK(failure_of([&] { parse_cfg(j); }).pointer == "/train/tokens");
  // Steps given: tokens are derived.
  CHECK(parse_config(parse(kConfig), Where{"c.json", ""}).train.tokens == 8 * 32 * 20);
}

TEST_CASE("text data is byte-level: vocab must cover 256 symbols") {
  Json j = parse(kConfig);
  j["train"]["data"] = parse(R"({"kind": "text", "path": "corpus.txt"})");
  j["model"]["vocab"] = 100;
  CHECK(failure_of([&] { parse_cfg(j); }).pointer == "/model/vocab");
}

TEST_CASE("hparams: each field's rule fails at its pointer") {
  check_rules(
      parse(kConfig),
      {
          {"/hparams/lr", "0", "/hparams/lr"},
          {"/hparams/lr", "-0.001", "/hparams/lr"},
          {"/hparams/lr", nullptr, "/hparams/lr"},
          {"/hparams/wd", "-0.1", "/hparams/wd"},
          {"/hparams/init_std", "0", "/hparams/init_std"},
          {"/hparams/eps", "0", "/hparams/eps"},
          {"/hparams/beta1", "1", "/hparams/beta1"},
          {"/hparams/beta2", "-0.5", "/hparams/beta2"},
          {"/hparams/alpha_emb", "0", "/hparams/alpha_emb"},
          {"/hparams/alpha_out", "-1", "/hparams/alpha_out"},
          {"/hparams/alpha_attn", "\"2\"", "/hparams/alpha_attn"},
          {"/hparams/overrides", "{\"expert\": {}}", "/hparams/overrides/expert"},
          {"/hparams/overrides", "{\"router\": {\"lr\": 0}}", "/hparams/overrides/router/lr"},
          {"/hparams/overrides", "{\"router\": {\"momentum\": 1}}",
           "/hparams/overrides/router/momentum"},
          {"/backend", "{\"kind\": \"jax\"}", "/backend/kind"},
          {"/schema", "\"mue.sweep_spec/1\"", "/schema"},
          {"/$schema", "\"x\"", "/$schema"},
      },
      parse_cfg);
}

TEST_CASE("config round-trips through JSON") {
  RunConfig a = parse_config(
      moe_config(R"({"kind": "moe", "layout": "16e4a2g1s", "d_expert": 32})"), Where{"c.json", ""});
  RunConfig b = parse_config(to_json(a), Where{"c2.json", ""});
  CHECK(to_json(a) == to_json(b));
  // Every field of a real MoE's parts, and the α multipliers.
  Json j = moe_config(R"({"kind": "moe", "layout": "16e4a1s", "d_expert": 32, "first_k_dense": 1,
                          "moe_every": 1, "dense_d_ff": 96,
                          "router": {"gate": "softmax", "routed_scaling_factor": 2.5,
                                     "aux_loss_coef": 0.01, "z_loss_coef": 0.001,
                                     "bias_update_rate": 0.001,
                                     "group_limited": {"n_group": 4, "topk_group": 2}}})");
  j["model"]["n_heads"] = 8;
  j["model"]["d_head"] = 16;
  j["model"]["n_kv_heads"] = 2;
  j["model"]["tie_embeddings"] = true;
  j["model"]["qk_norm"] = true;
  j["hparams"]["alpha_emb"] = 10.0;
  j["hparams"]["alpha_out"] = 0.5;
  j["hparams"]["alpha_attn"] = 2.0;
  RunConfig c = parse_config(j, Where{"c.json", ""});
  CHECK(c.model.ffn.router.gate == GateKind::kSoftmax);
  CHECK(c.model.ffn.router.n_group == 4);
  CHECK(c.hparams.alpha_emb == 10.0);
  RunConfig d = parse_config(to_json(c), Where{"c2.json", ""});
  CHECK(to_json(c) == to_json(d));
  CHECK(d.model.tie_embeddings);
  CHECK(d.model.qk_norm);
  CHECK(d.model.n_kv_heads == 2);
  CHECK(d.model.ffn.dense_d_ff == 96);
  CHECK(d.hparams.alpha_attn == 2.0);
  // A config without the new fields writes none of them (its trials keep their ids).
  const std::string plain = to_json(a).dump();
  for (const char* key : {"gate", "n_kv_heads", "tie_embeddings", "qk_norm", "first_k_dense",
                          "z_loss_coef", "group_limited", "alpha_emb"})
    CHECK(plain.find(key) == std::string::npos);
}

TEST_CASE("transfer options: every choice and range, file-level then per target") {
  Where w{"t.json", "/options"};
  auto bad = [&](const char* text) { return failure_of([&] { parse_options(parse(text), w); }); };
  CHECK(bad(R"({"head_rule": "x"})").pointer == "/options/head_rule");
  CHECK(bad(R"({"wd_width_scaling": "x"})").pointer == "/options/wd_width_scaling");
  CHECK(bad(R"({"router_rule": "x"})").pointer == "/options/router_rule");
  CHECK(bad(R"({"duration_exponent": 2})").pointer == "/options/duration_exponent");
  CHECK(bad(R"({"beta_scaling": "x"})").pointer == "/options/beta_scaling");
  CHECK(bad(R"({"eps_rule": "x"})").pointer == "/options/eps_rule");
  CHECK(bad(R"({"depth_alpha": 0.2})").pointer == "/options/depth_alpha");
  CHECK(bad(R"({"routing_normalization": "x"})").pointer == "/options/routing_normalization");
  CHECK(bad(R"({"attention_scale": "x"})").pointer == "/options/attention_scale");
  CHECK(bad(R"({"wd_embedding": "yes"})").pointer == "/options/wd_embedding");
  CHECK(bad(R"({"head": "mup"})").pointer == "/options/head");

  TransferOptions d;
  CHECK(d.head_rule == HeadRule::kMup);
  CHECK(d.duration_exponent == 0.2813);
  CHECK(d.depth_alpha == 1.0);
  Json targets = parse(R"({"options": {"head_rule": "mup", "eps_rule": "completep"},
      "targets": [{"name": "a"}, {"name": "b", "options": {"head_rule": "blog"}}]})");
  TargetsSpec t = parse_targets_spec(targets, Where{"t.json", ""});
  CHECK(t.targets[0].options.head_rule == HeadRule::kMup);
  CHECK(t.targets[1].options.head_rule == HeadRule::kBlog);
  CHECK(t.targets[1].options.eps_rule == EpsRule::kCompleteP); // inherited from the file
}

namespace {
const char* kSweep = R"({
  "name": "s",
  "model": {"vocab": 256, "d_model": 64, "n_layers": 2, "n_heads": 4, "seq_len": 32,
            "ffn": {"kind": "dense", "d_ff": 64}},
  "train": {"batch_size": 8, "steps": 20, "seed": 7, "data": {"kind": "synthetic"}},
  "hparams": {"wd": 0.1, "init_std": 0.02},
  "axes": {"lr": {"log2_grid": [-10, -8, 0.5]}}
})";
void parse_sw(const Json& j) {
  parse_sweep_spec(j, Where{"s.json", ""});
}
} // namespace

TEST_CASE("sweep spec: each rule fails at its pointer") {
  check_rules(parse(kSweep),
              {
                  {"/name", nullptr, "/name"},
                  {"/name", "\"\"", "/name"},
                  {"/axes", "{}", "/axes"},
                  {"/axes", nullptr, "/axes"},
                  {"/axes/lr", "[]", "/axes/lr"},
                  {"/axes/lr", "[0.001, 0.001]", "/axes/lr/1"},
                  {"/axes/lr", "[0.001, -1]", "/axes/lr/1"},
                  {"/axes/lr", "[0, 0.001]", "/axes/lr/0"},
                  {"/axes/lr", "[0.001, \"x\"]", "/axes/lr/1"},
                  {"/axes/lr", "{\"log2_grid\": [-10, -8]}", "/axes/lr/log2_grid"},
                  {"/axes/lr", "{\"log2_grid\": [-8, -10, 1]}", "/axes/lr/log2_grid/1"},
                  {"/axes/lr", "{\"log2_grid\": [-10, -8, -1]}", "/axes/lr/log2_grid/2"},
                  {"/axes/lr", "{\"log2_grid\": [-20, 20, 0.01]}", "/axes/lr/log2_grid"},
                  {"/axes/lr", "{\"grid\": [1, 2, 3]}", "/axes/lr/log2_grid"},
                  {"/axes/momentum", "[0.9]", "/axes/momentum"},
                  {"/axes/~1data~1x", "[1]", "/axes/~1data~1x"},
                  {"/axes/~1hparams~1lr", "[0.1]", "/axes/lr"}, // same field; keys are read sorted
                  {"/axes/~1model~1d_model", "[64, 66]", "/axes/~1model~1d_model/1"},
                  {"/axes/~1model~1d_modl", "[64]", "/axes/~1model~1d_modl/0"},
                  {"/axes/~1model~1vocab~1x", "[64]", "/axes/~1model~1vocab~1x"},
                  {"/seeds", "0", "/seeds"},
                  {"/seeds", "[]", "/seeds"},
                  {"/seeds", "[1, 1]", "/seeds/1"},
                  {"/seeds", "[-1]", "/seeds/0"},
                  {"/objective", "{\"kind\": \"best\"}", "/objective/kind"},
                  {"/objective", "{\"kind\": \"mean_last_k\"}", "/objective/k"},
                  {"/objective", "{\"kind\": \"mean_last_k\", \"k\": 0}", "/objective/k"},
                  {"/trial_timeout_s", "0", "/trial_timeout_s"},
                  {"/divergence_loss", "-1", "/divergence_loss"},
                  {"/hparams/init_std", "-1", "/hparams/init_std"},
                  {"/model/n_heads", "5", "/model/n_heads"},
                  {"/budget", "1", "/budget"},
              },
              parse_sw);
}

TEST_CASE("sweep spec: a missing swept-or-fixed hparam is an error at /hparams") {
  Json j = parse(kSweep);
  j["axes"] = parse(R"({"wd": [0.0, 0.1]})");
  j["hparams"].erase("wd");
  CHECK(failure_of([&] { parse_sw(j); }).pointer == "/hparams/lr");
}

TEST_CASE("sweep spec: log2 grid expands to exact powers of two, inclusive") {
  SweepSpec s = parse_sweep_spec(parse(kSweep), Where{"s.json", ""});
  REQUIRE(s.axes.size() == 1);
  REQUIRE(s.axes[0].values.size() == 5);
  CHECK(s.axes[0].pointer == "/hparams/lr");
  CHECK(s.axes[0].values.front() == std::exp2(-10));
  CHECK(s.axes[0].values.back() == doctest::Approx(std::exp2(-8)));
  CHECK(s.seeds == std::vector<std::uint64_t>{7});
  CHECK(s.grid_points() == 5);
}

TEST_CASE("sweep spec: seeds as a count start at the train seed, pointer axes set any field") {
  Json j = parse(kSweep);
  j["seeds"] = 3;
  j["axes"]["/train/batch_size"] = parse("[8, 16]");
  SweepSpec s = parse_sweep_spec(j, Where{"s.json", ""});
  CHECK(s.seeds == std::vector<std::uint64_t>{7, 8, 9});
  CHECK(s.grid_points() == 10);
  // config_at writes every axis value and the seed.
  std::size_t bs = s.axes[0].key == "/train/batch_size" ? 0 : 1;
  std::vector<double> point(2);
  point[bs] = 16;
  point[1 - bs] = 0.004;
  RunConfig c = config_at(s, point, 9, Where{"s.json", ""});
  CHECK(c.train.batch_size == 16);
  CHECK(c.hparams.lr == 0.004);
  CHECK(c.train.seed == 9);
}

TEST_CASE("sweep spec: the α multipliers are axes by name (docs/method.md §11.10)") {
  Json j = parse(kSweep);
  j["axes"]["alpha_out"] = parse("[0.5, 1, 2]");
  j["axes"]["alpha_emb"] = parse("{\"log2_grid\": [0, 2, 1]}");
  SweepSpec s = parse_sweep_spec(j, Where{"s.json", ""});
  CHECK(s.grid_points() == 5 * 3 * 3);
  std::vector<double> point(3);
  for (std::size_t i = 0; i < 3; ++i)
    point[i] = s.axes[i].key == "alpha_out" ? 2 : s.axes[i].key == "alpha_emb" ? 4 : 0.001;
  const RunConfig c = config_at(s, point, 7, Where{"s.json", ""});
  CHECK(c.hparams.alpha_out == 2.0);
  CHECK(c.hparams.alpha_emb == 4.0);
  CHECK_FALSE(c.hparams.alpha_attn);
  // A non-positive α is refused at its axis.
  j["axes"]["alpha_out"] = parse("[0, 1]");
  CHECK(failure_of([&] { parse_sw(j); }).pointer == "/axes/alpha_out/0");
}

TEST_CASE("config: tied embeddings with head_rule blog are refused at the field (§11.4)") {
  Json j = parse(kConfig);
  j["model"]["tie_embeddings"] = true;
  CHECK_NOTHROW(parse_cfg(j)); // head_rule mup (the default): the two roles agree
  j["options"]["head_rule"] = "blog";
  const auto f = failure_of([&] { parse_cfg(j); });
  CHECK(f.pointer == "/model/tie_embeddings");
  CHECK(f.reason.find("head_rule: mup") != std::string::npos);
  j["options"]["parameterization"] = "standard"; // the baseline has no head rule
  CHECK_NOTHROW(parse_cfg(j));
}

namespace {
void parse_tg(const Json& j) {
  parse_targets_spec(j, Where{"t.json", ""});
}
} // namespace

TEST_CASE("targets: each rule fails at its pointer") {
  Json base = parse(R"({"targets": [{"name": "a", "model": {"ffn": {"kind": "moe", "n_experts": 8,
                        "active": 2, "d_expert": 64}}, "train": {"batch_size": 16}}]})");
  check_rules(
      base,
      {
          {"/targets", "[]", "/targets"},
          {"/targets", "{}", "/targets"},
          {"/targets/0/name", "\"a b\"", "/targets/0/name"},
          {"/targets/0/name", "\"../x\"", "/targets/0/name"},
          {"/targets/1", "{\"name\": \"a\"}", "/targets/1/name"},
          {"/targets/0/model/ffn/active", "9", "/targets/0/model/ffn/active"},
          {"/targets/0/model/d_model", "0", "/targets/0/model/d_model"},
          {"/targets/0/model/widht", "1", "/targets/0/model/widht"},
          {"/targets/0/train/batch_size", "-2", "/targets/0/train/batch_size"},
          {"/targets/0/options", "{\"router_rule\": \"x\"}", "/targets/0/options/router_rule"},
          {"/targets/0/reference", "{}", "/targets/0/reference"},
          {"/options", "{\"eps_rule\": 1}", "/options/eps_rule"},
      },
      parse_tg);
  // Tokens that are not a whole number of steps are valid in a partial train;
  // only resolution against the reference can check them (next test).
  Json j = base;
  j["targets"][0]["train"]["tokens"] = 100;
  CHECK_FALSE(failure_of([&] { parse_tg(j); }).failed);
}

TEST_CASE("targets: resolve inherits from the reference, a new width keeps d_head") {
  RunConfig ref = parse_config(parse(kConfig), Where{"c.json", ""});
  Json tj = parse(R"({"targets": [
      {"name": "wide", "model": {"d_model": 128}},
      {"name": "big-batch", "train": {"batch_size": 16}},
      {"name": "long", "train": {"steps": 40}},
      {"name": "odd", "model": {"d_model": 72}},
      {"name": "bad-tokens", "train": {"tokens": 1000}}]})");
  TargetsSpec t = parse_targets_spec(tj, Where{"t.json", ""});
  Where w{"t.json", "/targets/0"};
  ModelSpec m;
  TrainSpec tr;
  resolve_target(t.targets[0], ref.model, ref.train, w, m, tr);
  CHECK(m.d_model == 128);
  CHECK(m.d_head == 16);
  CHECK(m.n_heads == 8);
  CHECK(tr.tokens == ref.train.tokens);
  resolve_target(t.targets[1], ref.model, ref.train, w, m, tr);
  CHECK(tr.tokens == ref.train.tokens); // same tokens: half the steps
  CHECK(tr.steps == ref.train.steps / 2);
  resolve_target(t.targets[2], ref.model, ref.train, w, m, tr);
  CHECK(tr.tokens == 2 * ref.train.tokens);
  auto f = failure_of([&] {
    resolve_target(t.targets[3], ref.model, ref.train, Where{"t.json", "/targets/3"}, m, tr);
  });
  CHECK(f.pointer == "/targets/3/model/d_model"); // 72 is not a multiple of d_head 16
  f = failure_of([&] {
    resolve_target(t.targets[4], ref.model, ref.train, Where{"t.json", "/targets/4"}, m, tr);
  });
  CHECK(f.pointer == "/targets/4/train/tokens");
}

TEST_CASE("trial id: stable, changes with what matters, not with how it runs") {
  TrialSpec a;
  a.config = parse_config(parse(kConfig), Where{"c.json", ""});
  TrialSpec b = a;
  b.threads = 8;
  b.device = "cuda";
  CHECK(a.id() == b.id());
  CHECK(a.id().size() == 16);
  TrialSpec c = a;
  c.config.hparams.lr *= 2;
  CHECK(a.id() != c.id());
  // Round trip keeps the id.
  TrialSpec d = parse_trial_spec(to_json(a), Where{"t.json", ""});
  CHECK(d.id() == a.id());
  CHECK(a.divergence_threshold() == doctest::Approx(1.5 * std::log(256.0)));
}

TEST_CASE("train precision: auto is the unwritten default (ids of older specs unchanged), bad "
          "values fail") {
  TrialSpec a;
  a.config = parse_config(parse(kConfig), Where{"c.json", ""});
  CHECK(a.config.train.precision == Precision::kAuto);
  CHECK_FALSE(to_json(a)["config"]["train"].contains("precision"));
  Json j = to_json(a.config);
  j["train"]["precision"] = "fp32";
  TrialSpec b = a;
  b.config = parse_config(j, Where{"c.json", ""});
  CHECK(b.config.train.precision == Precision::kFp32);
  CHECK(to_json(b)["config"]["train"]["precision"] == "fp32");
  CHECK(a.id() != b.id());
  j["train"]["precision"] = "fp16";
  CHECK(failure_of([&] { parse_config(j, Where{"c.json", ""}); }).pointer == "/train/precision");
}

TEST_CASE("trial spec: base_dir is how it runs, not part of the id, it must be absolute") {
  TrialSpec a;
  a.config = parse_config(parse(kConfig), Where{"c.json", ""});
  TrialSpec b = a;
  b.base_dir = "/data/sweeps";
  CHECK(a.id() == b.id());
  CHECK(parse_trial_spec(to_json(b), Where{"t", ""}).base_dir == "/data/sweeps");
  Json j = to_json(b);
  j["base_dir"] = "relative/dir";
  CHECK(failure_of([&] { parse_trial_spec(j, Where{"t", ""}); }).pointer == "/base_dir");
}

TEST_CASE("trial spec: device and threads are checked") {
  TrialSpec a;
  a.config = parse_config(parse(kConfig), Where{"c.json", ""});
  Json j = to_json(a);
  j["device"] = "tpu";
  CHECK(failure_of([&] { parse_trial_spec(j, Where{"t", ""}); }).pointer == "/device");
  j = to_json(a);
  j["threads"] = 0;
  CHECK(failure_of([&] { parse_trial_spec(j, Where{"t", ""}); }).pointer == "/threads");
}

TEST_CASE("trial result: a diverged run's NaN loss survives the JSON round trip (as null)") {
  TrialResult r;
  r.id = "abc";
  r.status = TrialStatus::kDiverged;
  r.curve.push_back(CurvePoint{2, std::numeric_limits<double>::quiet_NaN(), std::nullopt, 0.01});
  const std::string text = to_json(r).dump();
  CHECK(text.find("NaN") == std::string::npos);
  TrialResult back = parse_trial_result(Json::parse(text), Where{"r.json", ""});
  CHECK(back.status == TrialStatus::kDiverged);
  REQUIRE(back.curve.size() == 1);
  CHECK(std::isnan(back.curve[0].train_loss));
}

TEST_CASE("trial result: round trip, and an ok result must carry its objective") {
  TrialResult r;
  r.id = "abc";
  r.status = TrialStatus::kOk;
  r.objective = 2.5;
  r.final_val_loss = 2.4;
  r.curve.push_back({10, 3.0, 2.9, 0.001});
  r.curve.push_back({20, 2.6, std::nullopt, 0.0005});
  TrialResult s = parse_trial_result(to_json(r), Where{"r.json", ""});
  CHECK(to_json(s) == to_json(r));
  Json j = to_json(r);
  j["objective"] = nullptr;
  CHECK(failure_of([&] { parse_trial_result(j, Where{"r", ""}); }).pointer == "/objective");
  j = to_json(r);
  j["status"] = "crashed";
  CHECK(failure_of([&] { parse_trial_result(j, Where{"r", ""}); }).pointer == "/status");
}

TEST_CASE("detect_kind: by schema first, then by shape") {
  CHECK(detect_kind(parse(R"({"schema": "mue.targets/1"})"), "f") == SpecKind::kTargets);
  CHECK(detect_kind(parse(R"({"axes": {}})"), "f") == SpecKind::kSweepSpec);
  CHECK(detect_kind(parse(R"({"targets": []})"), "f") == SpecKind::kTargets);
  CHECK(detect_kind(parse(R"({"model": {}})"), "f") == SpecKind::kConfig);
  CHECK(failure_of([] { detect_kind(parse(R"({"x": 1})"), "f"); }).pointer == "");
  CHECK(failure_of([] { detect_kind(parse(R"({"schema": "mue.nope/1"})"), "f"); }).pointer ==
        "/schema");
  CHECK(failure_of([] { detect_kind(parse("[]"), "f"); }).failed);
}

// ---- relative paths: beside the file that names them, kept through every hop (issue 15) ----

namespace {
Json text_config(const std::string& path) {
  Json j = parse(kConfig);
  j["train"]["data"] = Json{{"kind", "text"}, {"path", path}, {"val_fraction", 0.1}};
  return j;
}
} // namespace

TEST_CASE("paths: data paths are anchored beside the file that names them") {
  auto data_of = [](const Json& j, const std::string& file) {
    return parse_config(j, Where{file, ""}).train.data;
  };
  CHECK(data_of(text_config("corpus.txt"), "/sp/dir/c.json").path == "/sp/dir/corpus.txt");
  CHECK(data_of(text_config("../data/x.txt"), "/sp/dir/c.json").path == "/sp/data/x.txt");
  CHECK(data_of(text_config("/abs/x.txt"), "/sp/dir/c.json").path == "/abs/x.txt");
  // A relative file name is relative to the working directory, as the user typed it.
  const std::string cwd = std::filesystem::current_path().lexically_normal().string();
  CHECK(data_of(text_config("corpus.txt"), "runs/c.json").path == cwd + "/runs/corpus.txt");
  // Not from a file: nothing to anchor to; the path stays as written.
  CHECK(data_of(text_config("corpus.txt"), "<stdin>").path == "corpus.txt");
  CHECK(data_of(text_config("corpus.txt"), "").path == "corpus.txt");
  Json bin = parse(kConfig);
  bin["train"]["data"] = parse(R"({"kind": "bin", "path": "t.bin", "val_path": "v/val.bin"})");
  const DataSpec b = data_of(bin, "/sp/c.json");
  CHECK(b.path == "/sp/t.bin");
  CHECK(b.val_path == "/sp/v/val.bin");
  // The reference shape a config carries is anchored too.
  Json withref = text_config("corpus.txt");
  withref["reference"] = Json{{"model", withref["model"]}, {"train", withref["train"]}};
  CHECK(parse_config(withref, Where{"/sp/c.json", ""}).reference->train.data.path ==
        "/sp/corpus.txt");
}

TEST_CASE("paths: a command backend's argv[0] with '/' and its cwd are anchored") {
  auto backend = [](const char* text, const std::string& file) {
    return parse_backend(parse(text), Where{file, "/backend"});
  };
  const BackendSpec a =
      backend(R"({"kind": "command", "argv": ["./train.py", "x/y"]})", "/sp/s.json");
  CHECK(a.argv[0] == "/sp/train.py");
  CHECK(a.argv[1] == "x/y"); // arguments are the command's business
  CHECK(a.cwd == "/sp");     // default: the folder of the file that names the backend
  CHECK(
      backend(R"({"kind": "command", "argv": ["python3"], "cwd": "work/.."})", "/sp/s.json").cwd ==
      "/sp");
  CHECK(backend(R"({"kind": "command", "argv": ["python3"], "cwd": "/w"})", "/sp/s.json").cwd ==
        "/w");
  CHECK(backend(R"({"kind": "command", "argv": ["python3"]})", "/sp/s.json").argv[0] == "python3");
  const BackendSpec s = backend(R"({"kind": "command", "argv": ["./t.py"]})", "<stdin>");
  CHECK(s.argv[0] == "./t.py");
  CHECK(s.cwd.empty());
}

TEST_CASE("paths: sweep spec -> spec.json -> trials keep the files the spec named") {
  Json j = parse(kSweep);
  j["train"]["data"] = parse(R"({"kind": "text", "path": "corpus.txt"})");
  const SweepSpec s = parse_sweep_spec(j, Where{"/sp/sweeps/s.json", ""});
  CHECK(s.base["train"]["data"]["path"] == "/sp/sweeps/corpus.txt");
  const std::vector<PlannedTrial> plan = plan_sweep(s, "/sp/sweeps/s.json");
  CHECK(plan.front().spec.config.train.data.path == "/sp/sweeps/corpus.txt");
  // The canonical spec.json in another folder (muE fit DIR reads it): same files, same ids.
  const SweepSpec again = parse_sweep_spec(to_json(s), Where{"/runs/ref/spec.json", ""});
  const std::vector<PlannedTrial> replan = plan_sweep(again, "/runs/ref/spec.json");
  CHECK(replan.front().spec.config.train.data.path == "/sp/sweeps/corpus.txt");
  REQUIRE(replan.size() == plan.size());
  for (std::size_t i = 0; i < plan.size(); ++i)
    CHECK(replan[i].spec.id() == plan[i].spec.id());
}

TEST_CASE("paths: configs written from a config (sweep.json, transfer.json, emitted) keep them") {
  const RunConfig a = parse_config(text_config("corpus.txt"), Where{"/sp/c.json", ""});
  const RunConfig b = parse_config(to_json(a), Where{"/elsewhere/configs/t.json", ""});
  CHECK(b.train.data.path == "/sp/corpus.txt");
  TrialSpec ta, tb;
  ta.config = a;
  tb.config = b;
  CHECK(ta.id() == tb.id());
}

TEST_CASE("paths: a target's own data resolves beside the targets file, others inherit") {
  const RunConfig ref = parse_config(text_config("corpus.txt"), Where{"/sp/c.json", ""});
  const Json tj = parse(R"({"targets": [
      {"name": "wide", "model": {"d_model": 128}},
      {"name": "own", "train": {"data": {"kind": "text", "path": "other.txt"}}}]})");
  const TargetsSpec t = parse_targets_spec(tj, Where{"/tg/targets.json", ""});
  ModelSpec m;
  TrainSpec tr;
  resolve_target(t.targets[0], ref.model, ref.train, Where{"/tg/targets.json", "/targets/0"}, m,
                 tr);
  CHECK(tr.data.path == "/sp/corpus.txt");
  resolve_target(t.targets[1], ref.model, ref.train, Where{"/tg/targets.json", "/targets/1"}, m,
                 tr);
  CHECK(tr.data.path == "/tg/other.txt");
}

TEST_CASE("paths: a trial spec is read as written, base_dir says where its paths resolve") {
  TrialSpec a;
  a.config = parse_config(text_config("corpus.txt"), Where{"<stdin>", ""});
  a.base_dir = "/sp";
  const Json j = to_json(a);
  const TrialSpec back = parse_trial_spec(j, Where{"/runs/trials/x.spec.json", ""});
  CHECK(back.config.train.data.path == "corpus.txt");
  CHECK(back.id() == a.id());
  CHECK(back.id() == j["id"].get<std::string>());
}

TEST_CASE("paths: a missing or unreadable data file is bad input at the field naming it") {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("mue-test-paths-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "sub");
  std::ofstream(dir / "corpus.txt") << "hello world\n";
  const std::string cfg = (dir / "c.json").string();
  const RunConfig ok = parse_config(text_config("corpus.txt"), Where{cfg, ""});
  CHECK_NOTHROW(check_data_files(ok.train, Where{cfg, "/train"}));
  const RunConfig missing = parse_config(text_config("nothing.txt"), Where{cfg, ""});
  try {
    check_data_files(missing.train, Where{cfg, "/train"});
    FAIL("no error for a missing data file");
  } catch (const InputError& e) {
    CHECK(e.file() == cfg);
    CHECK(e.pointer() == "/train/data/path");
    CHECK(e.reason() == "cannot open data file '" + (dir / "nothing.txt").string() +
                            "': No such file or directory");
  }
  const RunConfig folder = parse_config(text_config("sub"), Where{cfg, ""});
  const auto f = failure_of([&] { check_data_files(folder.train, Where{cfg, "/train"}); });
  CHECK(f.pointer == "/train/data/path");
  CHECK(f.reason.find("is a directory") != std::string::npos);
  Json bin = parse(kConfig);
  bin["train"]["data"] = parse(R"({"kind": "bin", "path": "corpus.txt", "val_path": "v.bin"})");
  const RunConfig noval = parse_config(bin, Where{cfg, ""});
  CHECK(failure_of([&] {
          check_data_files(noval.train, Where{"x.json", "/targets/2/train"});
        }).pointer == "/targets/2/train/data/val_path");
  // As written (a trial spec): relative to base_dir.
  const RunConfig rel = parse_config(text_config("corpus.txt"), Where{"<stdin>", ""});
  CHECK_NOTHROW(check_data_files(rel.train, Where{"t", "/config/train"}, dir.string()));
  CHECK(failure_of([&] {
          check_data_files(rel.train, Where{"t", "/config/train"}, (dir / "sub").string());
        }).failed);
  // With seq_len, each split must hold one window of seq_len + 2 tokens: 12 bytes, 10% held
  // out, leave 10 training and 2 validation tokens.
  CHECK_NOTHROW(check_data_files(ok.train, Where{cfg, "/train"}, "", 0));
  const auto small = failure_of([&] { check_data_files(ok.train, Where{cfg, "/train"}, "", 8); });
  CHECK(small.pointer == "/train/data/path");
  CHECK(small.reason ==
        "the validation split of this data file has 2 tokens, fewer than seq_len + 2 = 10");
  CHECK(failure_of([&] {
          check_data_files(ok.train, Where{cfg, "/train"}, "", 9);
        }).reason.find("the training split of this data file has 10 tokens") == 0);
  // Synthetic data reads no file.
  CHECK_NOTHROW(
      check_data_files(parse_config(parse(kConfig), Where{cfg, ""}).train, Where{cfg, ""}));
  std::filesystem::remove_all(dir);
}
