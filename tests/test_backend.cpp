// Tests of backends/libtorch: the model consumes the table exactly; Bridge I holds
// as an identity of forward passes and gradients; runs are deterministic and learn.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>

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
