// Tests of backends/libtorch: the model consumes the table exactly; Bridge I holds
// as an identity of forward passes and gradients; runs are deterministic and learn.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include <torch/version.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include <unistd.h>

#include "data.h"
#include "helpers.h"
#include "model.h"
#include "optim.h"
#include "trainer.h"
#include "transfer/transfer.h"

using namespace mue;
using namespace mue::torch_backend;

namespace {

RunConfig config(const char* ffn_json, int d = 64) {
  Json j = mue::test::parse(R"({
    "model": {"vocab": 256, "d_model": 64, "n_layers": 2, "n_heads": 4, "seq_len": 32,
              "ffn": {"kind": "dense", "d_ff": 64}},
    "train": {"batch_size": 8, "steps": 40, "eval": {"every": 20, "batches": 2},
              "data": {"kind": "synthetic"}},
    "hparams": {"lr": 0.004, "wd": 0.1, "init_std": 0.02}})");
  j["model"]["ffn"] = mue::test::parse(ffn_json);
  j["model"]["d_model"] = d;
  return parse_config(j, Where{"test.json", ""});
}

TrialSpec trial(const RunConfig& c) {
  TrialSpec s;
  s.config = c;
  s.threads = 1;
  return s;
}

} // namespace

TEST_CASE("Bridge I made concrete: dense H == N experts of H/N, all active, zero router") {
  torch::manual_seed(0);
  const int d = 32, H = 64, N = 4, h = H / N;
  RunConfig dc = config(R"({"kind": "dense", "d_ff": 64})", d);
  RunConfig mc = config(R"({"kind": "moe", "n_experts": 4, "active": 4, "d_expert": 16})", d);
  Parameterization dp = table_for(dc, "d"), mp = table_for(mc, "m");
  REQUIRE(dp.scalars.A.value == doctest::Approx(mp.scalars.A.value));
  REQUIRE(mp.scalars.route_scale.value == N);

  DenseFfn dense(d, H, Activation::kGelu, dp.scalars.A.value, ParamGroup::kFfnUp,
                 ParamGroup::kFfnDown);
  MoeFfn moe(d, mc.model.ffn, Activation::kGelu, mp.scalars.A.value, mp.scalars.route_scale.value);
  {
    torch::NoGradGuard ng;
    dense->w_up.normal_(0, 0.2);
    dense->w_down.normal_(0, 0.2);
    moe->router.zero_(); // sigmoid(0) for all: uniform gates 1/N after normalization
    for (int e = 0; e < N; ++e) {
      moe->w_up[e].copy_(dense->w_up.narrow(0, e * h, h));
      moe->w_down[e].copy_(dense->w_down.narrow(1, e * h, h));
    }
  }
  auto x = torch::randn({3, 5, d}, torch::kFloat64).to(torch::kFloat32).requires_grad_(true);
  auto x2 = x.detach().clone().requires_grad_(true);
  auto yd = dense->forward(x), ym = moe->forward(x2);
  CHECK(torch::allclose(yd, ym, 1e-5, 1e-6));
  auto w = torch::randn_like(yd);
  (yd * w).sum().backward();
  (ym * w).sum().backward();
  CHECK(torch::allclose(x.grad(), x2.grad(), 1e-5, 1e-6));
  for (int e = 0; e < N; ++e) {
    auto gu = moe->w_up.grad()[e], du = dense->w_up.grad().narrow(0, e * h, h);
    auto gd = moe->w_down.grad()[e], dd = dense->w_down.grad().narrow(1, e * h, h);
    CAPTURE((gu - du).abs().max().item<double>());
    CAPTURE(du.abs().max().item<double>());
    CAPTURE((gd - dd).abs().max().item<double>());
    CAPTURE(dd.abs().max().item<double>());
    CHECK(torch::allclose(gu, du, 1e-4, 1e-6));
    CHECK(torch::allclose(gd, dd, 1e-4, 1e-6));
  }
}

TEST_CASE("shared + routed experts: the output is R·Σπ·A·E_i + A·E_shared") {
  torch::manual_seed(1);
  RunConfig c = config(
      R"({"kind": "moe", "n_experts": 4, "active": 2, "d_expert": 16, "shared": 1, "d_shared": 16})",
      32);
  const double A = 0.7, R = 2;
  MoeFfn moe(32, c.model.ffn, Activation::kGelu, A, R);
  {
    torch::NoGradGuard ng;
    for (auto& p : moe->parameters())
      p.normal_(0, 0.3);
  }
  auto x = torch::randn({6, 32});
  auto y = moe->forward(x);
  // Recompute by hand, token by token.
  auto z = torch::linear(x, moe->router);
  auto s = torch::sigmoid(z);
  auto top = std::get<1>(z.topk(2, -1));
  auto expect = torch::zeros_like(x);
  for (int t = 0; t < 6; ++t) {
    double norm = 0;
    for (int k = 0; k < 2; ++k)
      norm += s[t][top[t][k].item<int64_t>()].item<double>();
    for (int k = 0; k < 2; ++k) {
      const auto e = top[t][k].item<int64_t>();
      auto out = torch::matmul(moe->w_down[e], torch::gelu(torch::matmul(moe->w_up[e], x[t])));
      expect[t] += R * A * (s[t][e].item<double>() / norm) * out;
    }
  }
  expect += moe->shared->forward(x);
  CHECK(torch::allclose(y, expect, 1e-4, 1e-5));
}

TEST_CASE("group routing selects exactly active/groups experts in each group") {
  torch::manual_seed(2);
  RunConfig c =
      config(R"({"kind": "moe", "n_experts": 16, "active": 8, "d_expert": 8, "groups": 4})", 32);
  MoeFfn moe(32, c.model.ffn, Activation::kGelu, 1, 8);
  {
    torch::NoGradGuard ng;
    for (auto& p : moe->parameters())
      p.normal_(0, 1.0);
  }
  const int T = 50;
  moe->forward(torch::randn({T, 32}));
  // Every token picks 2 of each group's 4 experts, so each group carries exactly a quarter of the
  // slots.
  for (int g = 0; g < 4; ++g) {
    double share = 0;
    for (int e = 4 * g; e < 4 * g + 4; ++e)
      share += moe->last_load[e];
    CHECK(share == doctest::Approx(0.25));
  }
}

TEST_CASE("routing_normalization per_group: gates sum to 1 inside each balanced group, R = a/g") {
  torch::manual_seed(3);
  RunConfig c =
      config(R"({"kind": "moe", "n_experts": 16, "active": 8, "d_expert": 8, "groups": 4})", 32);
  c.options.routing_normalization = RoutingNormalization::kPerGroup;
  const Parameterization p = table_for(c, "c.json");
  REQUIRE(p.per_group_gates);
  CHECK(p.scalars.route_scale.value == doctest::Approx(2)); // a/g
  for (GateKind kind : {GateKind::kSigmoidRenorm, GateKind::kSoftmaxRenorm}) {
    FfnSpec f = c.model.ffn;
    f.router.gate = kind;
    MoeFfn moe(32, f, Activation::kGelu, 1, p.scalars.route_scale.value);
    moe->per_group_gates = true;
    {
      torch::NoGradGuard ng;
      moe->router.normal_(0, 1.0);
    }
    const Routing r = moe->route(torch::randn({20, 32}));
    // idx lists each group's two picks in turn; their gates sum to 1, so R·Σ = a/g·g = a.
    const auto sums = r.gates.view({20, 4, 2}).sum(-1);
    CHECK(torch::allclose(sums, torch::ones_like(sums), 1e-5, 1e-6));
    // Global normalization (the default) sums to 1 over all eight.
    moe->per_group_gates = false;
    const auto all = moe->route(torch::randn({20, 32})).gates.sum(-1);
    CHECK(torch::allclose(all, torch::ones_like(all), 1e-5, 1e-6));
  }
  // The table says so only under per_group: global normalization leaves it off.
  c.options.routing_normalization = RoutingNormalization::kGlobal;
  CHECK_FALSE(table_for(c, "c.json").per_group_gates);
}

TEST_CASE("every parameter is in exactly one table group, init std matches the table") {
  RunConfig c =
      config(R"({"kind": "moe", "n_experts": 8, "active": 2, "d_expert": 64, "shared": 1})", 128);
  Parameterization p = table_for(c, "t");
  torch::manual_seed(3);
  Gpt model(c.model, p);
  model->initialize(p);
  auto grouped = model->grouped_parameters();
  const auto params = model->parameters();
  REQUIRE(grouped.size() == params.size());
  std::set<ParamGroup> seen;
  for (std::size_t i = 0; i < grouped.size(); ++i) {
    auto& [g, t] = grouped[i];
    CAPTURE(to_string(g));
    CHECK(t.is_same(params[i])); // the typed list is in named_parameters() order
    seen.insert(g);
    REQUIRE(p.groups.count(g) == 1);
    const double want = p.groups.at(g).init_std.value;
    if (g == ParamGroup::kNorm) {
      CHECK(t.eq(1).all().item<bool>());
      continue;
    }
    const double n = static_cast<double>(t.numel());
    const double got = t.std().item<double>();
    CHECK(std::abs(got - want) < 5 * want / std::sqrt(2 * n) + 1e-12); // sampling error of a std
  }
  const std::set<ParamGroup> want = {ParamGroup::kEmbedding,   ParamGroup::kAttnQkv,
                                     ParamGroup::kAttnOut,     ParamGroup::kNorm,
                                     ParamGroup::kUnembedding, ParamGroup::kRouter,
                                     ParamGroup::kExpertUp,    ParamGroup::kExpertDown,
                                     ParamGroup::kSharedUp,    ParamGroup::kSharedDown};
  CHECK((seen == want)); // parenthesized: doctest cannot print a set of enums
}

// §9 row 6: under eps_rule completep the blocks' norm gains and the final norm's gain train
// with different ε (the table's `norm` and `final_norm`), in AdamW groups of their own.
TEST_CASE("eps_rule completep: AdamW gives block gains and the final norm the table's ε") {
  RunConfig c = config(R"({"kind": "dense", "d_ff": 128})", 128);
  c.model.n_heads = 4;
  c.model.d_head = 32;
  c.model.n_layers = 4;
  BaseShape ref{c.model, c.train};
  ref.model.d_model = 32; // ρ_d = 4
  ref.model.n_heads = 1;
  ref.model.n_layers = 2; // m_L = 2
  ref.model.ffn.d_ff = 32;
  c.reference = ref;
  c.options.eps_rule = EpsRule::kCompleteP;
  const Parameterization p = table_for(c, "t");
  const double eps = c.train.optimizer.eps;
  REQUIRE(p.groups.count(ParamGroup::kFinalNorm) == 1);
  CHECK(p.groups.at(ParamGroup::kNorm).eps.value == doctest::Approx(eps / 8));
  CHECK(p.groups.at(ParamGroup::kFinalNorm).eps.value == doctest::Approx(eps / 4));
  // The eps each gain trains with, read back from the optimizer's param groups.
  auto eps_of = [](torch::optim::AdamW& opt, const torch::Tensor& t) {
    for (auto& pg : opt.param_groups())
      for (const auto& q : pg.params())
        if (q.is_same(t)) return static_cast<torch::optim::AdamWOptions&>(pg.options()).eps();
    FAIL("tensor not in the optimizer");
    return 0.0;
  };
  Gpt model(c.model, p);
  CHECK(model->final_norm_group == ParamGroup::kFinalNorm);
  model->initialize(p);
  CHECK(model->final_norm->gain.eq(1).all().item<bool>());
  auto opt = make_optimizer(model, p);
  CHECK(eps_of(*opt, model->final_norm->gain) == p.groups.at(ParamGroup::kFinalNorm).eps.value);
  for (const auto& b : model->blocks) {
    CHECK(eps_of(*opt, b->norm1->gain) == p.groups.at(ParamGroup::kNorm).eps.value);
    CHECK(eps_of(*opt, b->norm2->gain) == p.groups.at(ParamGroup::kNorm).eps.value);
  }
  CHECK(eps_of(*opt, model->embedding) == p.groups.at(ParamGroup::kFinalNorm).eps.value);
  // Global (the default): one `norm` group, ε, the final norm's gain in it.
  c.options.eps_rule = EpsRule::kGlobal;
  const Parameterization g = table_for(c, "t");
  CHECK(g.groups.count(ParamGroup::kFinalNorm) == 0);
  Gpt plain(c.model, g);
  CHECK(plain->final_norm_group == ParamGroup::kNorm);
  auto opt_g = make_optimizer(plain, g);
  CHECK(eps_of(*opt_g, plain->final_norm->gain) == eps);
  CHECK(eps_of(*opt_g, plain->blocks[0]->norm1->gain) == eps);
}

TEST_CASE("the optimizer gets each group's lr, wd and eps from the table, schedule shapes") {
  ScheduleSpec s;
  s.kind = ScheduleKind::kCosine;
  s.warmup_fraction = 0.1;
  s.min_lr_ratio = 0.1;
  CHECK(schedule_factor(s, 0, 100) == doctest::Approx(0.1));
  CHECK(schedule_factor(s, 9, 100) == doctest::Approx(1.0));
  CHECK(schedule_factor(s, 99, 100) == doctest::Approx(0.1));
  s.kind = ScheduleKind::kWsd;
  s.decay_fraction = 0.2;
  CHECK(schedule_factor(s, 50, 100) == doctest::Approx(1.0));
  CHECK(schedule_factor(s, 99, 100) == doctest::Approx(0.1));
  s.kind = ScheduleKind::kConstant;
  CHECK(schedule_factor(s, 99, 100) == doctest::Approx(1.0));
}

TEST_CASE("synthetic data is deterministic, in range, and has copy spans") {
  auto a = synthetic_sequence(256, 7, 11, 500), b = synthetic_sequence(256, 7, 11, 500);
  CHECK(a == b);
  CHECK(a != synthetic_sequence(256, 7, 12, 500));
  for (auto t : a)
    CHECK((t >= 0 && t < 256));
}

TEST_CASE("two CPU runs of the same spec give identical losses, the loss decreases") {
  RunConfig c = config(R"({"kind": "moe", "n_experts": 4, "active": 2, "d_expert": 32})");
  TrialResult r1 = train(trial(c), "t"), r2 = train(trial(c), "t");
  REQUIRE(r1.status == TrialStatus::kOk);
  REQUIRE(r1.curve.size() == r2.curve.size());
  for (std::size_t i = 0; i < r1.curve.size(); ++i)
    CHECK(r1.curve[i].train_loss == r2.curve[i].train_loss);
  CHECK(*r1.objective == *r2.objective);
  CHECK(r1.curve.back().train_loss < r1.curve.front().train_loss - 0.5);
  CHECK(*r1.final_val_loss < std::log(256.0) - 0.5);
  REQUIRE(r1.expert_load.size() == 2);
  double total = 0;
  for (double f : r1.expert_load[0])
    total += f;
  CHECK(total == doctest::Approx(1.0));
}

TEST_CASE("precision: fp32 is what auto means on CPU, bf16 asks for CUDA") {
  RunConfig c = config(R"({"kind": "dense", "d_ff": 64})");
  c.train.steps = 5;
  TrialResult automatic = train(trial(c), "t");
  c.train.precision = Precision::kFp32;
  TrialResult fp32 = train(trial(c), "t");
  REQUIRE(automatic.status == TrialStatus::kOk);
  CHECK(*automatic.objective == *fp32.objective);
  c.train.precision = Precision::kBf16;
  CHECK_THROWS_AS(train(trial(c), "t"), UsageError);
}

TEST_CASE("a huge LR is reported as diverged, not a crash") {
  RunConfig c = config(R"({"kind": "dense", "d_ff": 64})");
  c.hparams.lr = 10.0;
  TrialResult r = train(trial(c), "t");
  CHECK(r.status == TrialStatus::kDiverged);
  CHECK_FALSE(r.objective);
  CHECK(r.error.find("divergence threshold") != std::string::npos);
}

namespace {
std::string write_temp(const std::string& name, const std::string& bytes) {
  // Per-process name: parallel ctest runs of this binary must not share the file.
  const std::string path =
      (std::filesystem::temp_directory_path() / (std::to_string(::getpid()) + "-" + name)).string();
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  REQUIRE(out.good());
  REQUIRE(std::filesystem::file_size(path) == bytes.size());
  return path;
}
} // namespace

TEST_CASE("text data: windows are byte-exact slices of the file, train and val do not overlap") {
  std::string text;
  for (int i = 0; i < 400; ++i)
    text += "In the beginning was the word " + std::to_string(i) + ". ";
  const std::string path = write_temp("mue-test-text.txt", text);
  RunConfig c = config(R"({"kind": "dense", "d_ff": 64})");
  c.train.data.kind = DataKind::kText;
  c.train.data.path = path;
  c.train.data.val_fraction = 0.25;
  auto src = make_source(c, "config.json");
  auto batch = src->train_batch(3);
  REQUIRE(batch.size(1) == c.model.seq_len + 1);
  std::string window;
  for (int k = 0; k <= c.model.seq_len; ++k)
    window += static_cast<char>(batch[0][k].item<std::int64_t>());
  const auto at = text.find(window);
  CHECK(at != std::string::npos);
  CHECK(at + window.size() <= text.size() * 3 / 4 + 1); // from the training part
  CHECK(torch::equal(src->train_batch(3), batch));      // a pure function of the step
  TrialResult r = train(trial(c), "config.json");
  CHECK(r.status == TrialStatus::kOk);
  CHECK(r.curve.back().train_loss < r.curve.front().train_loss);
  std::filesystem::remove(path);
}

TEST_CASE("bin data: uint16 tokens, and a token past the vocabulary is an input error") {
  std::string bytes;
  for (int i = 0; i < 2000; ++i) {
    const std::uint16_t t = static_cast<std::uint16_t>((i * 7) % 300);
    bytes += static_cast<char>(t & 0xFF);
    bytes += static_cast<char>(t >> 8);
  }
  const std::string path = write_temp("mue-test-tokens.bin", bytes);
  RunConfig c = config(R"({"kind": "dense", "d_ff": 64})");
  c.train.data.kind = DataKind::kBin;
  c.train.data.path = path;
  auto f = mue::test::failure_of([&] { make_source(c, "config.json"); });
  CHECK(f.pointer == "/model/vocab");
  c.model.vocab = 300;
  auto src = make_source(c, "config.json");
  auto b = src->train_batch(0);
  // Consecutive tokens of the sequence t_i = 7i mod 300.
  for (int k = 0; k < c.model.seq_len; ++k)
    CHECK((b[0][k + 1].item<std::int64_t>() - b[0][k].item<std::int64_t>() + 300) % 300 == 7);
  std::filesystem::remove(path);
}

#include "coord_check.h"

TEST_CASE("coord-check: table slopes ~0 for hidden activations, standard parameterization grows") {
  RunConfig c = config(R"({"kind": "dense", "d_ff": 32})", 32);
  c.model.n_heads = 2;
  c.model.d_head = 16;
  CoordCheckOptions o;
  o.widths = {32, 64, 128, 256};
  o.steps = 5;
  auto mup = coord_check(c, "t", o);
  o.standard = true;
  auto sp = coord_check(c, "t", o);
  for (const char* g : {"attn", "ffn", "embedding"}) {
    CAPTURE(g);
    CHECK(std::abs(mup.report["slopes"]["init_rms"][g].get<double>()) < 0.2);
    CHECK(std::abs(mup.report["slopes"]["delta_rms"][g].get<double>()) < 0.3);
  }
  for (const char* g : {"attn", "ffn"}) {
    CAPTURE(g);
    CHECK(sp.report["slopes"]["init_rms"][g].get<double>() > 0.75);
    CHECK(sp.report["slopes"]["delta_rms"][g].get<double>() > 0.75);
  }
  CHECK_FALSE(sp.stable);
  // The head rule shows in the logits: the default (mup) keeps their updates width-stable,
  // the blog's head shrinks them ~1/ρ_d.
  CHECK(mup.report["slopes"]["delta_rms"]["logits"].get<double>() > -0.5);
  CHECK(mup.stable);
  c.options.head_rule = HeadRule::kBlog;
  o.standard = false;
  auto blog_head = coord_check(c, "t", o);
  CHECK(blog_head.report["slopes"]["delta_rms"]["logits"].get<double>() < -0.7);
  CHECK_FALSE(blog_head.stable);
}

#include "fused.h"

namespace {
std::vector<TrialSpec> pack_of(const std::vector<std::array<double, 3>>& hp, int steps = 20) {
  std::vector<TrialSpec> out;
  for (const auto& [lr, wd, std] : hp) {
    RunConfig c = config(R"({"kind": "dense", "d_ff": 64})", 32);
    c.model.n_heads = 2;
    c.model.d_head = 16;
    c.train.steps = steps;
    c.train.eval.every = 10;
    c.hparams.lr = lr;
    c.hparams.wd = wd;
    c.hparams.init_std = std;
    out.push_back(trial(c));
  }
  return out;
}
} // namespace

TEST_CASE("fused pack of 4 (different lr, wd, init std) = 4 separate runs, to float tolerance") {
  // Not bit-exact: a batched matmul over the trial dimension and the per-trial loss mean
  // sum in another order than the separate runs' kernels (float reassociation, ~1e-6).
  auto specs = pack_of(
      {{{0.002, 0.1, 0.02}}, {{0.008, 0.0, 0.01}}, {{0.004, 0.3, 0.04}}, {{0.016, 0.1, 0.005}}});
  REQUIRE(pack_key(specs[0]) == pack_key(specs[3]));
  auto fused = train_pack(specs, "t");
  REQUIRE(fused.size() == 4);
  for (std::size_t k = 0; k < 4; ++k) {
    CAPTURE(k);
    TrialResult alone = train(specs[k], "t");
    CHECK(fused[k].id == specs[k].id());
    REQUIRE(fused[k].status == TrialStatus::kOk);
    REQUIRE(fused[k].curve.size() == alone.curve.size());
    for (std::size_t i = 0; i < alone.curve.size(); ++i)
      CHECK(fused[k].curve[i].train_loss ==
            doctest::Approx(alone.curve[i].train_loss).epsilon(1e-5));
    CHECK(*fused[k].objective == doctest::Approx(*alone.objective).epsilon(1e-5));
  }
}

TEST_CASE("a diverging trial in a pack is frozen and recorded, the others are undisturbed") {
  auto two = pack_of({{{0.002, 0.1, 0.02}}, {{0.008, 0.1, 0.01}}});
  auto three = two;
  three.push_back(pack_of({{{0.004, 0.1, 0.02}}})[0]);
  auto base = train_pack(two, "t");
  auto with_bad = train_pack(three, "t", {false, false, true});
  CHECK(with_bad[2].status == TrialStatus::kDiverged);
  CHECK_FALSE(with_bad[2].objective);
  for (std::size_t k = 0; k < 2; ++k) {
    REQUIRE(with_bad[k].status == TrialStatus::kOk);
    REQUIRE(with_bad[k].curve.size() == base[k].curve.size());
    for (std::size_t i = 0; i < base[k].curve.size(); ++i)
      CHECK(with_bad[k].curve[i].train_loss ==
            doctest::Approx(base[k].curve[i].train_loss).epsilon(1e-6));
    CHECK(*with_bad[k].objective == doctest::Approx(*base[k].objective).epsilon(1e-6));
  }
  // A genuinely huge LR diverges inside a pack too, without a crash.
  auto huge = pack_of({{{0.002, 0.1, 0.02}}, {{10.0, 0.1, 0.02}}});
  auto r = train_pack(huge, "t");
  CHECK(r[0].status == TrialStatus::kOk);
  CHECK(r[1].status == TrialStatus::kDiverged);
}

TEST_CASE("eps_rule completep in a fused pack (the final norm its own group) = separate runs") {
  auto specs = pack_of({{{0.002, 0.1, 0.02}}, {{0.008, 0.0, 0.01}}});
  for (auto& sp : specs) {
    BaseShape ref{sp.config.model, sp.config.train};
    ref.model.d_model = 16; // ρ_d = 2
    ref.model.n_heads = 1;
    ref.model.n_layers = 1; // m_L = 2
    sp.config.reference = ref;
    sp.config.options.eps_rule = EpsRule::kCompleteP;
  }
  REQUIRE(pack_key(specs[0]) == pack_key(specs[1]));
  auto fused = train_pack(specs, "t");
  for (std::size_t k = 0; k < specs.size(); ++k) {
    CAPTURE(k);
    TrialResult alone = train(specs[k], "t");
    REQUIRE(fused[k].status == TrialStatus::kOk);
    CHECK(*fused[k].objective == doctest::Approx(*alone.objective).epsilon(1e-5));
  }
}

TEST_CASE("pack keys: MoE is not fused, another seed or shape is another pack") {
  auto a = pack_of({{{0.002, 0.1, 0.02}}})[0];
  TrialSpec moe_t =
      trial(config(R"({"kind": "moe", "n_experts": 4, "active": 2, "d_expert": 16})"));
  CHECK(pack_key(moe_t).empty());
  TrialSpec b = a;
  b.config.train.seed = 7;
  CHECK(pack_key(a) != pack_key(b));
  b = a;
  b.config.hparams.lr = 0.5;
  CHECK(pack_key(a) == pack_key(b));
  CHECK_THROWS_AS(train_pack({a, moe_t}, "t"), RuntimeError);
}

// ---------------------------------------------------------------------------
// backends/run_trial.h: the one entry point picks the backend; the MUE_FAULT hook.

#include "run_trial.h"

namespace {
// Sets MUE_FAULT for one scope.
struct FaultEnv {
  explicit FaultEnv(const char* v) { ::setenv("MUE_FAULT", v, 1); }
  ~FaultEnv() { ::unsetenv("MUE_FAULT"); }
};
} // namespace

TEST_CASE("run_trial runs a command spec through the command backend, beside the result file") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("mue-run-trial-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  RunConfig c = config(R"({"kind": "dense", "d_ff": 64})");
  c.backend.kind = BackendKind::kCommand;
  // A trainer that writes an invalid result: LibTorch would have trained (status ok).
  c.backend.argv = {"/bin/sh", "-c", "echo nope > \"$0\"", "{result_json}"};
  const TrialSpec spec = trial(c);
  RunTrialOptions o;
  o.result_file = (dir / "r.json").string();
  const TrialResult r = run_trial(spec, (dir / "spec.json").string(), o);
  CHECK(r.id == spec.id());
  CHECK(r.status == TrialStatus::kFailed);
  CHECK(r.error.find("not valid JSON") != std::string::npos);
  CHECK(fs::exists(dir / (spec.id() + ".cmd") / "trial.json"));
  // A missing command: a failed result from the worker, an InputError up front for muE train.
  c.backend.argv = {"./no-such-trainer"};
  CHECK(run_trial(trial(c), (dir / "spec.json").string(), o).status == TrialStatus::kFailed);
  o.check_command = true;
  CHECK(mue::test::failure_of([&] {
          run_trial(trial(c), (dir / "spec.json").string(), o);
        }).pointer == "/backend/argv/0");
  fs::remove_all(dir);
}

TEST_CASE("MUE_FAULT: kinds by trial-id prefix, malformed is a UsageError, garbage is torn") {
  {
    FaultEnv env("crash:abc,nan:x1,garbage:x2");
    CHECK(fault_for("abc123") == Fault::kCrash);
    CHECK(fault_for("x1") == Fault::kNan);
    CHECK(fault_for("x2-more") == Fault::kGarbage);
    CHECK(fault_for("zzz") == Fault::kNone);
  }
  CHECK(fault_for("abc") == Fault::kNone);
  {
    FaultEnv env("boom:abc");
    CHECK_THROWS_AS(fault_for("abc"), UsageError);
  }
  {
    FaultEnv env("crash:");
    CHECK_THROWS_AS(fault_for("abc"), UsageError);
  }
  const TrialSpec spec = trial(config(R"({"kind": "dense", "d_ff": 64})"));
  {
    FaultEnv env(("garbage:" + spec.id()).c_str());
    CHECK_THROWS(Json::parse(worker_output(spec, "t.json", "")));
    CHECK_THROWS(Json::parse(worker_output(TrialPack{{spec, spec}}, "t.json")));
  }
  {
    TrialSpec quick = spec;
    quick.config.train.steps = 4;
    quick.config.train.eval.every = 2;
    FaultEnv env(("nan:" + quick.id()).c_str());
    const TrialResult r =
        parse_trial_result(Json::parse(worker_output(quick, "t.json", "")), Where{"r.json", ""});
    CHECK(r.status == TrialStatus::kDiverged);
    CHECK(r.curve.back().step == 2);
  }
}

TEST_CASE("router_rule=readout: the router's logit multiplier 1/ρ_d reaches the MoE layer") {
  RunConfig c = config(R"({"kind": "moe", "n_experts": 4, "active": 2, "d_expert": 32})", 128);
  const RunConfig base = config(R"({"kind": "dense", "d_ff": 64})", 64);
  c.reference = BaseShape{base.model, base.train};
  c.options.router_rule = RouterRule::kReadout;
  const Parameterization p = table_for(c, "t");
  REQUIRE(p.groups.at(ParamGroup::kRouter).multiplier.value == doctest::Approx(0.5));
  Gpt model(c.model, p);
  CHECK(model->blocks[0]->moe->router_mult == doctest::Approx(0.5));
  c.options.router_rule = RouterRule::kHidden;
  CHECK(Gpt(c.model, table_for(c, "t"))->blocks[0]->moe->router_mult == 1);
  // Logits × 1/2 with weights W route exactly like weights W/2 without a multiplier.
  torch::manual_seed(4);
  MoeFfn half(128, c.model.ffn, Activation::kGelu, 1, 2, 0.5),
      plain(128, c.model.ffn, Activation::kGelu, 1, 2);
  {
    torch::NoGradGuard ng;
    for (auto& q : half->parameters())
      q.normal_(0, 0.3);
    plain->router.copy_(half->router * 0.5);
    plain->w_up.copy_(half->w_up);
    plain->w_down.copy_(half->w_down);
  }
  auto x = torch::randn({5, 128});
  CHECK(torch::allclose(half->forward(x), plain->forward(x), 1e-5, 1e-6));
}

// ---------------------------------------------------------------------------
// Parts of real MoE models (docs/method.md §11): attention width and GQA (§11.3), tied
// embeddings (§11.4), gate kinds (§11.5), group-limited routing (§11.6), layer layout
// (§11.7), QK-norm (§11.8), router losses and the aux-free bias (§11.9), α (§11.10).

namespace {

constexpr std::array<GateKind, 4> kGateKinds = {GateKind::kSigmoidRenorm, GateKind::kSoftmaxRenorm,
                                                GateKind::kSoftmax, GateKind::kSigmoid};

// A config whose model object also takes the fields of `model_patch` (a JSON object).
RunConfig config_with(const std::string& ffn_json, int d, const std::string& model_patch) {
  Json j = mue::test::parse(R"({
    "model": {"vocab": 256, "d_model": 64, "n_layers": 2, "n_heads": 4, "seq_len": 32,
              "ffn": {"kind": "dense", "d_ff": 64}},
    "train": {"batch_size": 8, "steps": 40, "eval": {"every": 20, "batches": 2},
              "data": {"kind": "synthetic"}},
    "hparams": {"lr": 0.004, "wd": 0.1, "init_std": 0.02}})");
  j["model"]["ffn"] = mue::test::parse(ffn_json);
  j["model"]["d_model"] = d;
  const Json patch = mue::test::parse(model_patch);
  for (auto it = patch.begin(); it != patch.end(); ++it)
    j["model"][it.key()] = it.value();
  return parse_config(j, Where{"test.json", ""});
}

FfnSpec ffn_of(const std::string& json) {
  return parse_ffn(mue::test::parse(json), Where{"test.json", ""});
}

// The MoE FFN's spec with gate kind g and the given router fields (JSON object members).
FfnSpec moe_spec(int N, int a, int h, GateKind g, const std::string& router_fields = "") {
  std::string json = R"({"kind": "moe", "n_experts": )" + std::to_string(N) + R"(, "active": )" +
                     std::to_string(a) + R"(, "d_expert": )" + std::to_string(h) +
                     R"(, "router": {"gate": ")" + to_string(g) + "\"" +
                     (router_fields.empty() ? "" : ", " + router_fields) + "}}";
  return ffn_of(json);
}

// 1/π₀ of docs/method.md §11.5: a selected expert's gate when every score is equal.
double inverse_pi0(const FfnSpec& f) {
  switch (f.router.gate) {
  case GateKind::kSigmoidRenorm:
  case GateKind::kSoftmaxRenorm:
    return f.active;
  case GateKind::kSoftmax:
    return f.n_experts;
  case GateKind::kSigmoid:
    return 2;
  }
  return 0;
}

// Expert e of `moe` on one token x [d] (gelu), before any gate or multiplier.
torch::Tensor expert_out(const MoeFfn& moe, int64_t e, const torch::Tensor& x) {
  return torch::matmul(moe->w_down[e], torch::gelu(torch::matmul(moe->w_up[e], x)));
}

// π of the selected experts `idx` [T, a] from logits z [T, N], written out per kind (§11.5).
torch::Tensor gates_by_hand(GateKind g, const torch::Tensor& z, const torch::Tensor& idx) {
  auto sel = z.gather(1, idx);
  switch (g) {
  case GateKind::kSigmoidRenorm: {
    auto s = 1 / (1 + (-sel).exp());
    return s / s.sum(-1, true);
  }
  case GateKind::kSoftmaxRenorm:
    return sel.exp() / sel.exp().sum(-1, true);
  case GateKind::kSoftmax:
    return sel.exp() / z.exp().sum(-1, true);
  case GateKind::kSigmoid:
    return 1 / (1 + (-sel).exp());
  }
  return {};
}

void randomize(torch::nn::Module& m, double std) {
  torch::NoGradGuard ng;
  for (auto& p : m.parameters())
    p.normal_(0, std);
}

} // namespace

TEST_CASE("gate kinds: with equal scores R·π₀ = 1 for every kind, the routed sum is A·Σ_S E_i") {
  torch::manual_seed(10);
  const int d = 16;
  const double A = 0.7;
  for (GateKind g : kGateKinds) {
    CAPTURE(to_string(g));
    const FfnSpec f = moe_spec(6, 2, 8, g);
    const double R = inverse_pi0(f);
    RunConfig c = config(R"({"kind": "dense", "d_ff": 64})", d);
    c.model.ffn = f;
    CHECK(table_for(c, "t").scalars.route_scale.value == doctest::Approx(R)); // the table's R
    MoeFfn moe(d, f, Activation::kGelu, A, R);
    randomize(*moe, 0.3);
    {
      torch::NoGradGuard ng;
      moe->router.zero_(); // equal scores for every expert
    }
    moe->to(torch::kFloat64);
    auto x = torch::randn({10, d}, torch::kFloat64);
    const Routing r = moe->route(x);
    CHECK(((r.gates * R) - 1).abs().max().item<double>() < 1e-12);
    auto y = moe->forward(x);
    auto expect = torch::zeros_like(x);
    for (int64_t t = 0; t < 10; ++t)
      for (int64_t k = 0; k < 2; ++k)
        expect[t] += A * expert_out(moe, r.idx[t][k].item<int64_t>(), x[t]);
    CHECK(torch::allclose(y, expect, 1e-10, 1e-12));
  }
}

TEST_CASE("gate kinds: each gate equals its formula on random router weights") {
  torch::manual_seed(11);
  const int d = 16, T = 12;
  for (GateKind g : kGateKinds) {
    CAPTURE(to_string(g));
    const FfnSpec f = moe_spec(8, 3, 8, g);
    const double A = 0.6, R = 1.7, mult = 0.5;
    MoeFfn moe(d, f, Activation::kGelu, A, R, mult);
    randomize(*moe, 0.5);
    moe->to(torch::kFloat64);
    auto x = torch::randn({T, d}, torch::kFloat64);
    const Routing r = moe->route(x);
    auto z = torch::matmul(x, moe->router.t()) * mult;
    CHECK(torch::allclose(r.logits, z, 1e-12, 1e-14));
    // The selected set: the top 3 logits (σ and softmax are monotone).
    auto top = std::get<1>(z.topk(3, -1));
    CHECK(torch::equal(std::get<0>(r.idx.sort(-1)), std::get<0>(top.sort(-1))));
    auto want = gates_by_hand(g, z, r.idx);
    CHECK(torch::allclose(r.gates, want, 1e-10, 1e-13));
    if (g == GateKind::kSoftmaxRenorm) { // = softmax over N, taken at S, renormalized
      auto full = z.softmax(-1).gather(1, r.idx);
      CHECK(torch::allclose(r.gates, full / full.sum(-1, true), 1e-10, 1e-13));
    }
    if (f.router.renormalized())
      CHECK(torch::allclose(r.gates.sum(-1), torch::ones({T}, torch::kFloat64)));
    else if (g == GateKind::kSoftmax) // the unselected experts keep their share
      CHECK((r.gates.sum(-1) < 1 - 1e-6).all().item<bool>());
    // The forward: R·A·Σ_S π_i E_i(x), token by token.
    auto y = moe->forward(x);
    auto expect = torch::zeros_like(x);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t k = 0; k < 3; ++k)
        expect[t] += R * A * want[t][k] * expert_out(moe, r.idx[t][k].item<int64_t>(), x[t]);
    CHECK(torch::allclose(y, expect, 1e-10, 1e-12));
  }
}

TEST_CASE("degenerate gate: at a = 1 the renormalized kinds give the router no gradient") {
  // docs/method.md §11.5: one selected expert under a renormalized gate has π ≡ 1, so the
  // cross-entropy does not reach W_r; softmax (π = p_i < 1) and sigmoid (σ(z_i)) do.
  for (GateKind g : kGateKinds) {
    CAPTURE(to_string(g));
    RunConfig c = config(R"({"kind": "moe", "n_experts": 4, "active": 1, "d_expert": 16})", 32);
    c.model.ffn.router.gate = g;
    const Parameterization p = table_for(c, "t");
    torch::manual_seed(12);
    Gpt model(c.model, p);
    model->initialize(p);
    model->to(torch::kFloat64);
    auto batch = torch::randint(0, 256, {4, c.model.seq_len + 1}, torch::kInt64);
    auto logits = model->forward(batch.narrow(1, 0, c.model.seq_len));
    auto loss = torch::nn::functional::cross_entropy(
        logits.reshape({-1, 256}), batch.narrow(1, 1, c.model.seq_len).reshape({-1}));
    loss.backward();
    for (const auto& b : model->blocks) {
      REQUIRE(b->moe);
      REQUIRE(b->moe->router.grad().defined());
      const double gmax = b->moe->router.grad().abs().max().item<double>();
      CAPTURE(gmax);
      if (c.model.ffn.router.renormalized())
        CHECK(gmax < 1e-12);
      else
        CHECK(gmax > 1e-8);
      CHECK(b->moe->w_up.grad().abs().max().item<double>() > 1e-8); // the experts still learn
    }
  }
}

namespace {

ModelSpec attention_spec(int d, int H, int dh, int kv, bool qk_norm = false) {
  ModelSpec m;
  m.vocab = 16;
  m.d_model = d;
  m.n_layers = 1;
  m.n_heads = H;
  m.d_head = dh;
  m.n_kv_heads = kv;
  m.seq_len = 8;
  m.qk_norm = qk_norm;
  return m;
}

// Causal multi-head attention as it was written before GQA: w_qkv viewed as [B, T, 3, H, dh].
torch::Tensor mha_by_hand(const torch::Tensor& x, const torch::Tensor& w_qkv,
                          const torch::Tensor& w_out, int64_t H, int64_t dh, double scale) {
  const auto B = x.size(0), T = x.size(1);
  auto qkv = torch::linear(x, w_qkv).view({B, T, 3, H, dh}).permute({2, 0, 3, 1, 4});
  auto q = qkv[0], k = qkv[1], v = qkv[2];
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
  auto y = at::scaled_dot_product_attention(q, k, v, {}, 0.0, /*is_causal=*/true, scale);
#else
  auto mask = torch::ones({T, T}, torch::TensorOptions().dtype(torch::kBool)).triu(1);
  auto att = torch::matmul(q, k.transpose(-2, -1)) * scale;
  att = att.masked_fill(mask, -std::numeric_limits<float>::infinity()).softmax(-1);
  auto y = torch::matmul(att, v);
#endif
  return torch::linear(y.transpose(1, 2).reshape({B, T, H * dh}), w_out);
}

} // namespace

TEST_CASE("GQA with n_kv_heads = n_heads is today's multi-head attention, bit for bit") {
  torch::manual_seed(13);
  for (int kv : {0, 4}) { // absent, or given equal to n_heads
    CAPTURE(kv);
    Attention attn(attention_spec(32, 4, 8, kv), 0.125);
    CHECK(attn->w_qkv.sizes() == torch::IntArrayRef({96, 32})); // [3d, d] as q, k, v
    CHECK(attn->w_out.sizes() == torch::IntArrayRef({32, 32}));
    CHECK_FALSE(attn->q_norm.defined());
    randomize(*attn, 0.3);
    auto x = torch::randn({2, 8, 32});
    CHECK(torch::equal(attn->forward(x), mha_by_hand(x, attn->w_qkv, attn->w_out, 4, 8, 0.125)));
  }
}

TEST_CASE("GQA and MQA equal MHA whose query heads share copies of their group's k and v") {
  torch::manual_seed(14);
  struct Case {
    int d, H, dh, kv;
    bool qk_norm;
  };
  // GQA, MQA, d_attn = 2·d_model (§11.2), and GQA under QK-norm (gains applied per kv head).
  for (const Case& s : {Case{32, 4, 8, 2, false}, Case{32, 4, 8, 1, false},
                        Case{32, 4, 16, 2, false}, Case{32, 4, 8, 2, true}}) {
    CAPTURE(s.kv);
    CAPTURE(s.dh);
    CAPTURE(s.qk_norm);
    Attention gqa(attention_spec(s.d, s.H, s.dh, s.kv, s.qk_norm), 0.2);
    Attention mha(attention_spec(s.d, s.H, s.dh, 0, s.qk_norm), 0.2);
    CHECK(gqa->w_qkv.sizes() == torch::IntArrayRef({(s.H + 2 * s.kv) * s.dh, s.d}));
    CHECK(gqa->w_out.sizes() == torch::IntArrayRef({s.d, s.H * s.dh}));
    randomize(*gqa, 0.3);
    gqa->to(torch::kFloat64);
    mha->to(torch::kFloat64);
    {
      torch::NoGradGuard ng;
      const int64_t qd = s.H * s.dh, group = s.H / s.kv;
      mha->w_qkv.narrow(0, 0, qd).copy_(gqa->w_qkv.narrow(0, 0, qd));
      for (int64_t h = 0; h < s.H; ++h) {
        const int64_t j = h / group; // the kv head of query head h
        mha->w_qkv.narrow(0, qd + h * s.dh, s.dh).copy_(gqa->w_qkv.narrow(0, qd + j * s.dh, s.dh));
        mha->w_qkv.narrow(0, 2 * qd + h * s.dh, s.dh)
            .copy_(gqa->w_qkv.narrow(0, qd + (s.kv + j) * s.dh, s.dh));
      }
      mha->w_out.copy_(gqa->w_out);
      if (s.qk_norm) {
        mha->q_norm.copy_(gqa->q_norm);
        mha->k_norm.copy_(gqa->k_norm);
      }
    }
    auto x = torch::randn({2, 8, s.d}, torch::kFloat64);
    CHECK(torch::allclose(gqa->forward(x), mha->forward(x), 1e-10, 1e-12));
  }
}

TEST_CASE("QK-norm: gains in `norm` and its optimizer group, q and k rows unit-RMS per head") {
  RunConfig c = config(R"({"kind": "dense", "d_ff": 64})", 32);
  c.model.qk_norm = true;
  const Parameterization p = table_for(c, "t");
  torch::manual_seed(15);
  Gpt model(c.model, p);
  model->initialize(p);
  const auto grouped = model->grouped_parameters();
  const auto params = model->parameters();
  REQUIRE(grouped.size() == params.size());
  for (std::size_t i = 0; i < grouped.size(); ++i)
    CHECK(grouped[i].second.is_same(params[i]));
  auto group_of = [&](const torch::Tensor& t) {
    for (const auto& [g, q] : grouped)
      if (q.is_same(t)) return std::optional<ParamGroup>(g);
    return std::optional<ParamGroup>();
  };
  auto opt = make_optimizer(model, p);
  auto opt_group_of = [&](const torch::Tensor& t) -> const torch::optim::OptimizerParamGroup* {
    for (const auto& pg : opt->param_groups())
      for (const auto& q : pg.params())
        if (q.is_same(t)) return &pg;
    return nullptr;
  };
  for (const auto& b : model->blocks) {
    REQUIRE(b->attn->q_norm.defined());
    for (const auto& gain : {b->attn->q_norm, b->attn->k_norm}) {
      CHECK(gain.sizes() == torch::IntArrayRef({c.model.d_head}));
      CHECK(gain.eq(1).all().item<bool>());
      CHECK((group_of(gain) == ParamGroup::kNorm));
      const auto* pg = opt_group_of(gain);
      REQUIRE(pg != nullptr);
      CHECK(pg == opt_group_of(b->norm1->gain)); // the norm group
      CHECK(static_cast<const torch::optim::AdamWOptions&>(pg->options()).lr() ==
            p.groups.at(ParamGroup::kNorm).lr.value);
    }
  }
  auto x = torch::randn({2, 8, 32}) * 3;
  Attention attn = model->blocks[0]->attn;
  auto [q, k, v] = attn->heads(x);
  auto unit = [](const torch::Tensor& t) {
    return (t.pow(2).mean(-1) - 1).abs().max().item<double>() < 1e-4;
  };
  CHECK(unit(q));
  CHECK(unit(k));
  CHECK_FALSE(unit(v)); // v is not normalized
  {
    torch::NoGradGuard ng;
    attn->q_norm.fill_(2);
  }
  CHECK(((std::get<0>(attn->heads(x)).pow(2).mean(-1) - 4).abs().max().item<double>() < 1e-3));
}

TEST_CASE("tied embeddings: one matrix, one optimizer group, logits = norm(x)·Eᵀ × output mult") {
  RunConfig c = config(R"({"kind": "dense", "d_ff": 64})", 32);
  c.model.tie_embeddings = true;
  Parameterization p = table_for(c, "t");
  p.groups.erase(ParamGroup::kUnembedding); // the contract: a tied table has no such group
  p.groups[ParamGroup::kEmbedding].multiplier = Traced(2.5, "test α_emb");
  p.scalars.output_multiplier = Traced(0.5, "test output multiplier");
  torch::manual_seed(16);
  Gpt model(c.model, p);
  model->initialize(p);
  CHECK_FALSE(model->unembedding.defined());
  for (const auto& item : model->named_parameters())
    CHECK(item.key().find("unembedding") == std::string::npos);
  const auto grouped = model->grouped_parameters();
  REQUIRE(grouped.size() == model->parameters().size());
  for (const auto& [g, t] : grouped)
    CHECK((g != ParamGroup::kUnembedding));
  auto opt = make_optimizer(model, p);
  int seen = 0;
  std::size_t total = 0;
  for (const auto& pg : opt->param_groups()) {
    total += pg.params().size();
    for (const auto& q : pg.params())
      if (q.is_same(model->embedding)) {
        ++seen;
        CHECK(static_cast<const torch::optim::AdamWOptions&>(pg.options()).lr() ==
              p.groups.at(ParamGroup::kEmbedding).lr.value);
      }
  }
  CHECK(seen == 1);
  CHECK(total == model->parameters().size());
  // The forward by hand: α_emb on the input only, E itself in the logits.
  auto tokens = torch::randint(0, 256, {2, 16}, torch::kInt64);
  auto x = model->embedding.index_select(0, tokens.reshape({-1})).view({2, 16, 32}) * 2.5;
  for (auto& b : model->blocks)
    x = b->forward(x);
  auto want = torch::linear(model->final_norm->forward(x), model->embedding) * 0.5;
  auto logits = model->forward(tokens);
  CHECK(torch::allclose(logits, want, 1e-5, 1e-7));
  // Both roles send gradient into the one matrix: rows never looked up learn from the logits.
  logits.sum().backward();
  CHECK(model->embedding.grad().abs().sum().item<double>() > 0);
}

namespace {
// The layered MoE model of the layout tests: 5 blocks, block 0 dense (first_k_dense 1), then
// every second block MoE (moe_every 2): MoE at 2 and 4.
RunConfig layered_config() {
  return config_with(R"({"kind": "moe", "n_experts": 4, "active": 2, "d_expert": 16, "shared": 1,
                         "d_shared": 8, "first_k_dense": 1, "moe_every": 2, "dense_d_ff": 48})",
                     32, R"({"n_layers": 5})");
}

// The table of a layered model with ffn_* groups (copied from the experts' when the transfer
// gives none) and distinct down multipliers, so each FFN kind's A can be told apart.
Parameterization layered_table(const RunConfig& c) {
  Parameterization p = table_for(c, "t");
  if (!p.groups.count(ParamGroup::kFfnUp))
    p.groups[ParamGroup::kFfnUp] = p.groups[ParamGroup::kExpertUp];
  if (!p.groups.count(ParamGroup::kFfnDown))
    p.groups[ParamGroup::kFfnDown] = p.groups[ParamGroup::kExpertDown];
  p.groups[ParamGroup::kFfnDown].multiplier = Traced(0.37, "test");
  p.groups[ParamGroup::kExpertDown].multiplier = Traced(0.61, "test");
  p.groups[ParamGroup::kSharedDown].multiplier = Traced(0.83, "test");
  p.groups[ParamGroup::kFfnUp].init_std = Traced(0.5, "test");
  return p;
}
} // namespace

TEST_CASE("layer layout: first_k_dense and moe_every give each block its FFN kind, width and A") {
  const RunConfig c = layered_config();
  const Parameterization p = layered_table(c);
  torch::manual_seed(17);
  Gpt model(c.model, p);
  model->initialize(p);
  const std::array<bool, 5> moe_at = {false, false, true, false, true};
  REQUIRE(model->blocks.size() == 5);
  int dense_blocks = 0;
  for (int i = 0; i < 5; ++i) {
    CAPTURE(i);
    Block b = model->blocks[static_cast<std::size_t>(i)];
    CHECK(b->index == i);
    REQUIRE(static_cast<bool>(b->moe) == moe_at[static_cast<std::size_t>(i)]);
    REQUIRE(static_cast<bool>(b->dense) != moe_at[static_cast<std::size_t>(i)]);
    if (b->dense) {
      ++dense_blocks;
      CHECK(b->dense->w_up.sizes() == torch::IntArrayRef({48, 32})); // dense_d_ff
      CHECK(b->dense->w_down.sizes() == torch::IntArrayRef({32, 48}));
      CHECK(b->dense->A == 0.37); // ffn_down's multiplier
      CHECK((b->dense->up_group == ParamGroup::kFfnUp));
      CHECK((b->dense->down_group == ParamGroup::kFfnDown));
      CHECK(std::abs(b->dense->w_up.std().item<double>() - 0.5) < 0.05); // ffn_up's init
      auto x = torch::randn({3, 32});
      auto want =
          0.37 * torch::linear(torch::gelu(torch::linear(x, b->dense->w_up)), b->dense->w_down);
      CHECK(torch::allclose(b->dense->forward(x), want, 1e-5, 1e-7));
    } else {
      CHECK(b->moe->A == 0.61);         // expert_down's
      CHECK(b->moe->shared->A == 0.83); // shared_down's
      CHECK(b->moe->w_up.size(1) == 16);
    }
  }
  CHECK(dense_blocks == 3);
  // grouped_parameters: named_parameters() order, ffn_* exactly for the dense blocks.
  const auto grouped = model->grouped_parameters();
  const auto named = model->named_parameters();
  REQUIRE(grouped.size() == named.size());
  std::map<ParamGroup, int> count;
  for (std::size_t i = 0; i < grouped.size(); ++i) {
    const auto& [g, t] = grouped[i];
    const std::string& name = named[i].key();
    CAPTURE(name);
    CHECK(t.is_same(named[i].value()));
    ++count[g];
    if (g == ParamGroup::kFfnUp || g == ParamGroup::kFfnDown)
      CHECK(name.find(".ffn.") != std::string::npos);
    if (g == ParamGroup::kExpertUp || g == ParamGroup::kRouter || g == ParamGroup::kSharedUp)
      CHECK(name.find(".moe.") != std::string::npos);
  }
  CHECK(count[ParamGroup::kFfnUp] == 3);
  CHECK(count[ParamGroup::kFfnDown] == 3);
  CHECK(count[ParamGroup::kExpertUp] == 2);
  CHECK(count[ParamGroup::kExpertDown] == 2);
  CHECK(count[ParamGroup::kRouter] == 2);
  CHECK(count[ParamGroup::kSharedDown] == 2);
  model->forward(torch::randint(0, 256, {2, 8}, torch::kInt64));
  const auto load = model->expert_load();
  REQUIRE(load.size() == 2); // one per MoE block
  CHECK(load[0].size() == 4);
  // A table without the dense blocks' groups is refused by name.
  Parameterization bare = p;
  bare.groups.erase(ParamGroup::kFfnUp);
  bare.groups.erase(ParamGroup::kFfnDown);
  try {
    Gpt broken(c.model, bare);
    FAIL("a layered model built without ffn_down in the table");
  } catch (const RuntimeError& e) {
    CHECK(std::string(e.what()).find("ffn_down") != std::string::npos);
  }
}

TEST_CASE("group-limited routing selects only experts of the topk_group best groups") {
  torch::manual_seed(18);
  const int d = 16, T = 300;
  for (GateKind g : {GateKind::kSigmoidRenorm, GateKind::kSoftmax, GateKind::kSoftmaxRenorm}) {
    CAPTURE(to_string(g));
    const FfnSpec f = moe_spec(16, 4, 4, g, R"("group_limited": {"n_group": 4, "topk_group": 2})");
    REQUIRE(f.router.group_limited());
    MoeFfn moe(d, f, Activation::kGelu, 1, 1);
    randomize(*moe, 1.0);
    moe->to(torch::kFloat64);
    auto x = torch::randn({T, d}, torch::kFloat64);
    const Routing r = moe->route(x);
    const bool sig = g == GateKind::kSigmoidRenorm;
    auto scores = sig ? torch::sigmoid(r.logits) : r.logits.softmax(-1);
    // Group score: the sum of the group's top-2 expert scores; keep the best 2 groups.
    auto gscore = std::get<0>(scores.view({T, 4, 4}).topk(2, -1)).sum(-1);
    auto best = std::get<1>(gscore.topk(2, -1));
    auto free_top = std::get<1>(r.logits.topk(4, -1)); // what an unlimited router picks
    int binds = 0;
    for (int64_t t = 0; t < T; ++t) {
      std::set<int64_t> kept = {best[t][0].item<int64_t>(), best[t][1].item<int64_t>()};
      std::set<int64_t> chosen;
      for (int64_t k = 0; k < 4; ++k) {
        const int64_t e = r.idx[t][k].item<int64_t>();
        chosen.insert(e);
        CHECK(kept.count(e / 4) == 1);
      }
      CHECK(chosen.size() == 4);
      // Exactly the top 4 by score among the kept groups' experts.
      auto masked = scores[t].clone();
      for (int64_t e = 0; e < 16; ++e)
        if (!kept.count(e / 4)) masked[e] = -1.0;
      auto want = std::get<1>(masked.topk(4));
      for (int64_t k = 0; k < 4; ++k)
        CHECK(chosen.count(want[k].item<int64_t>()) == 1);
      for (int64_t k = 0; k < 4; ++k)
        if (!kept.count(free_top[t][k].item<int64_t>() / 4)) {
          ++binds;
          break;
        }
    }
    CHECK(binds > 0); // the limit changed some token's choice
    CHECK(torch::allclose(r.gates, gates_by_hand(g, r.logits, r.idx), 1e-10, 1e-13));
  }
}

TEST_CASE("router losses: z-loss and aux loss train but the reported loss is cross-entropy only") {
  // The z-loss of one block: z_loss_coef · mean over tokens of (logsumexp z)².
  torch::manual_seed(19);
  const FfnSpec f = moe_spec(8, 2, 8, GateKind::kSoftmax, R"("z_loss_coef": 0.5)");
  MoeFfn moe(16, f, Activation::kGelu, 1, 8);
  randomize(*moe, 0.5);
  moe->to(torch::kFloat64);
  auto x = torch::randn({20, 16}, torch::kFloat64);
  moe->forward(x);
  auto z = torch::matmul(x, moe->router.t());
  CHECK(moe->last_z_loss.item<double>() ==
        doctest::Approx(0.5 * z.exp().sum(-1).log().pow(2).mean().item<double>()).epsilon(1e-12));
  CHECK(moe->last_aux_loss.item<double>() == 0); // its coefficient is 0

  // Whole runs: the first reported loss (before any step) is the same with and without the
  // router losses; after it they differ, because the router losses trained.
  RunConfig plain = config(R"({"kind": "moe", "n_experts": 4, "active": 2, "d_expert": 32})");
  plain.train.steps = 8;
  plain.train.eval.every = 4;
  RunConfig with = plain;
  with.model.ffn.router.z_loss_coef = 0.05;
  with.model.ffn.router.aux_loss_coef = 0.01;
  const TrialResult r0 = train(trial(plain), "t"), r1 = train(trial(with), "t");
  REQUIRE(r0.status == TrialStatus::kOk);
  REQUIRE(r1.status == TrialStatus::kOk);
  CHECK_FALSE(r0.z_loss);
  CHECK_FALSE(r0.aux_loss);
  REQUIRE(r1.z_loss);
  REQUIRE(r1.aux_loss);
  CHECK(*r1.z_loss > 0);
  CHECK(*r1.aux_loss > 0);
  // Two MoE blocks with logits near 0 at init: z ≈ 2 · 0.05 · ln²4; aux ≈ 2 · 0.01 · 1.
  CHECK(*r1.z_loss == doctest::Approx(2 * 0.05 * std::pow(std::log(4.0), 2)).epsilon(0.2));
  CHECK(*r1.aux_loss == doctest::Approx(2 * 0.01).epsilon(0.2));
  REQUIRE(r0.curve.size() == r1.curve.size());
  CHECK(r0.curve.front().step == 1);
  CHECK(r1.curve.front().train_loss == r0.curve.front().train_loss);
  CHECK(r1.curve.back().train_loss != r0.curve.back().train_loss);
  CHECK(*r1.objective == *r1.final_val_loss); // final_val_loss, of the cross-entropy only
  // A dense model reports neither.
  const TrialResult dense = train(trial(config(R"({"kind": "dense", "d_ff": 64})")), "t");
  CHECK_FALSE(dense.z_loss);
  CHECK_FALSE(dense.aux_loss);
}

TEST_CASE("aux-free bias: moves the selection, never a gate, and moves towards balance") {
  torch::manual_seed(20);
  const int d = 16, T = 400;
  const FfnSpec f = moe_spec(4, 2, 8, GateKind::kSigmoidRenorm, R"("bias_update_rate": 0.05)");
  MoeFfn moe(d, f, Activation::kGelu, 1, 2);
  REQUIRE(moe->expert_bias.defined());
  CHECK(moe->expert_bias.eq(0).all().item<bool>());
  for (const auto& p : moe->parameters()) // a buffer, not a parameter
    CHECK_FALSE(p.is_same(moe->expert_bias));
  CHECK(moe->named_buffers().contains("expert_bias"));
  randomize(*moe, 0.3);
  {
    torch::NoGradGuard ng;
    moe->router[0] += 0.3; // expert 0 is preferred by the inputs' positive mean below
  }
  auto x = torch::randn({T, d}) + 1;
  const Routing before = moe->route(x);
  {
    torch::NoGradGuard ng;
    moe->expert_bias[3] = 5; // far above any σ: expert 3 is always selected
  }
  const Routing biased = moe->route(x);
  CHECK((biased.idx == 3).any(-1).all().item<bool>());
  CHECK_FALSE(torch::equal(biased.idx, before.idx));
  // The gates of the selected set are σ(z_S)/Σσ(z_S): the bias is not in them.
  CHECK(torch::allclose(biased.gates, gates_by_hand(f.router.gate, biased.logits, biased.idx), 1e-5,
                        1e-7));
  CHECK(torch::equal(biased.logits, before.logits));

  // The update: + rate below the mean load, − rate above it.
  {
    torch::NoGradGuard ng;
    moe->expert_bias.zero_();
  }
  moe->forward(x);
  const auto counts = moe->last_counts.to(torch::kFloat64);
  const double mean = counts.mean().item<double>();
  const double max_load_before = *std::max_element(moe->last_load.begin(), moe->last_load.end());
  CHECK(max_load_before > 0.3); // skewed towards expert 0
  moe->update_bias();
  for (int e = 0; e < 4; ++e) {
    const double n = counts[e].item<double>();
    CHECK(moe->expert_bias[e].item<double>() == doctest::Approx(n < mean   ? 0.05
                                                                : n > mean ? -0.05
                                                                           : 0.0));
  }
  for (int s = 0; s < 30; ++s) {
    moe->forward(x);
    moe->update_bias();
  }
  moe->forward(x);
  const double max_load_after = *std::max_element(moe->last_load.begin(), moe->last_load.end());
  CAPTURE(max_load_before);
  CAPTURE(max_load_after);
  CHECK(max_load_after < max_load_before - 0.05);
  CHECK(moe->expert_bias[0].item<double>() < 0);

  // In training the trainer updates the bias after each step: from step 2 on the selection
  // (and so the loss) differs from a run without the bias; step 1 is the same.
  RunConfig plain = config(R"({"kind": "moe", "n_experts": 4, "active": 2, "d_expert": 32})");
  plain.train.steps = 6;
  plain.train.eval.every = 3;
  RunConfig with = plain;
  with.model.ffn.router.bias_update_rate = 0.05;
  const TrialResult r0 = train(trial(plain), "t"), r1 = train(trial(with), "t");
  REQUIRE(r1.status == TrialStatus::kOk);
  CHECK(r1.curve.front().train_loss == r0.curve.front().train_loss);
  CHECK(r1.curve.back().train_loss != r0.curve.back().train_loss);
}

TEST_CASE("a model with every part of §11 trains through train()") {
  // softmax gate, GQA, QK-norm, tied embeddings, a dense first block, z-loss, aux-free bias,
  // group-limited routing, α multipliers.
  RunConfig c = config_with(
      R"({"kind": "moe", "n_experts": 8, "active": 2, "d_expert": 16, "first_k_dense": 1,
          "dense_d_ff": 64, "router": {"gate": "softmax", "z_loss_coef": 0.001,
          "aux_loss_coef": 0.01, "bias_update_rate": 0.001,
          "group_limited": {"n_group": 4, "topk_group": 2}}})",
      64, R"({"n_layers": 3, "n_heads": 4, "n_kv_heads": 2, "qk_norm": true,
              "tie_embeddings": true})");
  c.hparams.alpha_emb = 2.0;
  c.hparams.alpha_out = 0.5;
  c.hparams.alpha_attn = 1.5;
  c.train.steps = 30;
  c.train.eval.every = 10;
  const TrialResult r = train(trial(c), "t");
  REQUIRE(r.status == TrialStatus::kOk);
  for (const auto& pt : r.curve)
    CHECK(std::isfinite(pt.train_loss));
  CHECK(r.curve.back().train_loss < r.curve.front().train_loss);
  CHECK(std::isfinite(*r.objective));
  REQUIRE(r.z_loss);
  REQUIRE(r.aux_loss);
  CHECK(r.expert_load.size() == 2); // blocks 1 and 2
}

TEST_CASE("pack keys: what the stacked model lacks runs alone, α is part of the key") {
  const TrialSpec a = pack_of({{{0.002, 0.1, 0.02}}})[0];
  REQUIRE_FALSE(pack_key(a).empty());
  auto alone = [&](const std::function<void(ModelSpec&)>& change) {
    TrialSpec t = a;
    change(t.config.model);
    return pack_key(t).empty();
  };
  CHECK(alone([](ModelSpec& m) { m.n_kv_heads = 1; }));
  CHECK(alone([](ModelSpec& m) { m.d_head = 32; })); // d_attn = 64 ≠ d_model = 32
  CHECK(alone([](ModelSpec& m) { m.qk_norm = true; }));
  CHECK(alone([](ModelSpec& m) { m.tie_embeddings = true; }));
  CHECK_FALSE(alone([](ModelSpec& m) { m.n_kv_heads = m.n_heads; })); // that is MHA
  TrialSpec b = a;
  b.config.hparams.alpha_emb = 2;
  CHECK_FALSE(pack_key(b).empty());
  CHECK(pack_key(a) != pack_key(b));
  TrialSpec b2 = b;
  b2.config.hparams.lr = 0.01;
  CHECK(pack_key(b) == pack_key(b2));
  for (auto set : {+[](HParams& h) { h.alpha_out = 2; }, +[](HParams& h) { h.alpha_attn = 2; }}) {
    TrialSpec t = a;
    set(t.config.hparams);
    CHECK(pack_key(a) != pack_key(t));
  }
}

TEST_CASE("fused pack with α multipliers = separate runs") {
  auto specs = pack_of({{{0.002, 0.1, 0.02}}, {{0.008, 0.0, 0.01}}}, 10);
  for (auto& s : specs) {
    s.config.hparams.alpha_emb = 3.0;
    s.config.hparams.alpha_out = 0.5;
    s.config.hparams.alpha_attn = 2.0;
  }
  REQUIRE(pack_key(specs[0]) == pack_key(specs[1]));
  const auto fused = train_pack(specs, "t");
  const auto plain = train_pack(pack_of({{{0.002, 0.1, 0.02}}, {{0.008, 0.0, 0.01}}}, 10), "t");
  for (std::size_t k = 0; k < specs.size(); ++k) {
    CAPTURE(k);
    const TrialResult alone = train(specs[k], "t");
    REQUIRE(fused[k].status == TrialStatus::kOk);
    CHECK(*fused[k].objective == doctest::Approx(*alone.objective).epsilon(1e-5));
    CHECK(*fused[k].objective != doctest::Approx(*plain[k].objective).epsilon(1e-5)); // α acted
  }
}
