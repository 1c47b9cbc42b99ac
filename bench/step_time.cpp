// Benchmark: step time of muE's LibTorch backend vs PyTorch eager (bench/step_time.py,
// Debian's python3-torch) on the same tiny GPT, same threads, side by side: rounds
// alternate ours / theirs so drift of the machine hits both. Also dense vs MoE
// (8 experts, top-2, same active width d_ff = a·d_expert) in our backend, for each gate kind
// of docs/method.md §11.5 (sigmoid_renorm is the default MoE measured before the gate kinds).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <thread>

#include "bench_util.h"
#include "model.h"
#include "optim.h"
#include "runtime_info.h"
#include "transfer/transfer.h"
#include "util/fs.h"
#include "util/runtime.h"
#include "util/version.h"

using namespace mue;
using mue::bench::cpu_model;
using mue::bench::median;
using namespace mue::torch_backend;

namespace {

RunConfig bench_config(bool moe, GateKind gate = GateKind::kSigmoidRenorm) {
  Json j = Json::parse(R"({
    "model": {"vocab": 256, "d_model": 128, "n_layers": 4, "n_heads": 4, "seq_len": 128,
              "ffn": {"kind": "dense", "d_ff": 512}},
    "train": {"batch_size": 16, "steps": 100, "data": {"kind": "synthetic"}},
    "hparams": {"lr": 0.001, "wd": 0.1, "init_std": 0.02}})");
  if (moe)
    j["model"]["ffn"] =
        Json::parse(R"({"kind": "moe", "n_experts": 8, "active": 2, "d_expert": 256})");
  RunConfig c = parse_config(j, Where{"bench", ""});
  c.model.ffn.router.gate = gate;
  return c;
}

// Per-step seconds of `steps` timed steps after `warmup` untimed ones.
std::vector<double> ours(bool moe, int steps, int warmup,
                         GateKind gate = GateKind::kSigmoidRenorm) {
  RunConfig c = bench_config(moe, gate);
  Parameterization table = table_for(c, "bench");
  torch::manual_seed(0);
  Gpt model(c.model, table);
  model->initialize(table);
  auto opt = make_optimizer(model, table);
  auto params = model->parameters();
  const int T = c.model.seq_len, V = c.model.vocab;
  torch::manual_seed(1);
  std::vector<double> out;
  for (int i = 0; i < warmup + steps; ++i) {
    auto batch = torch::randint(0, V, {c.train.batch_size, T + 1}, torch::kInt64);
    auto t0 = std::chrono::steady_clock::now();
    auto logits = model->forward(batch.narrow(1, 0, T));
    auto loss = torch::nn::functional::cross_entropy(logits.reshape({-1, V}),
                                                     batch.narrow(1, 1, T).reshape({-1}));
    opt->zero_grad();
    loss.backward();
    torch::nn::utils::clip_grad_norm_(params, 1.0);
    opt->step();
    if (i >= warmup)
      out.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return out;
}

std::vector<double> theirs(const std::string& script, int threads, int steps, int warmup) {
  const std::string cmd = "/usr/bin/python3 " + script + " --threads " + std::to_string(threads) +
                          " --steps " + std::to_string(steps) + " --warmup " +
                          std::to_string(warmup);
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("cannot run " + cmd);
  std::string text;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p))
    text.append(buf, n);
  if (::pclose(p) != 0)
    throw std::runtime_error(
        "baseline failed (is python3-torch installed? scripts/install-deps --bench)");
  return Json::parse(text)["step_s"].get<std::vector<double>>();
}

} // namespace

int main(int argc, char** argv) {
  tune_malloc();
  const std::string root = argc > 1 ? argv[1] : ".";
  const int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(threads);
  const int rounds = 5, steps = 20, warmup = 3;
  std::vector<double> ours_dense, theirs_dense, ours_moe, ratio;
  // The other gate kinds, measured in the same rounds (sigmoid_renorm is ours_moe).
  const std::vector<GateKind> other_gates = {GateKind::kSoftmaxRenorm, GateKind::kSoftmax,
                                             GateKind::kSigmoid};
  std::map<std::string, std::vector<double>> gate_rounds;
  for (int r = 0; r < rounds; ++r) {
    const double a = median(ours(false, steps, warmup));
    const double b = median(theirs(root + "/bench/step_time.py", threads, steps, warmup));
    const double m = median(ours(true, steps, warmup));
    ours_dense.push_back(a);
    theirs_dense.push_back(b);
    ours_moe.push_back(m);
    gate_rounds[to_string(GateKind::kSigmoidRenorm)].push_back(m);
    ratio.push_back(a / b);
    std::fprintf(stderr, "round %d: ours %.4f s, pytorch eager %.4f s, ours MoE %.4f s", r + 1, a,
                 b, m);
    for (GateKind g : other_gates) {
      const double t = median(ours(true, steps, warmup, g));
      gate_rounds[to_string(g)].push_back(t);
      std::fprintf(stderr, ", %s %.4f s", to_string(g), t);
    }
    std::fprintf(stderr, "\n");
  }
  Json gate_median = Json::object(), gate_ratio = Json::object();
  for (const auto& [name, v] : gate_rounds) {
    gate_median[name] = median(v);
    gate_ratio[name] = median(v) / median(ours_dense);
  }
  auto info = runtime_info();
  Json result{
      {"bench", "step_time"},
      {"what", "tiny GPT (vocab 256, d_model 128, 4 layers, 4 heads, seq 128, batch 16, d_ff 512, "
               "AdamW, clip 1.0): "
               "median step time of 20 steps after 3 warmup, per round; median over rounds"},
      {"machine",
       {{"cores", std::thread::hardware_concurrency()}, {"cpu", cpu_model()}, {"gpu", nullptr}}},
      {"versions",
       {{"muE", std::string(version()) + " (git " + git_hash() + ")"},
        {"torch", info.torch_version}}},
      {"threads", threads},
      {"env",
       {{"OMP_WAIT_POLICY", std::getenv("OMP_WAIT_POLICY") ? std::getenv("OMP_WAIT_POLICY") : ""}}},
      {"rounds", rounds},
      {"median_step_s",
       {{"ours_dense", median(ours_dense)},
        {"pytorch_eager_dense", median(theirs_dense)},
        {"ours_moe_8e2a", median(ours_moe)}}},
      {"ratio_ours_over_pytorch", median(ratio)},
      {"ratio_moe_over_dense", median(ours_moe) / median(ours_dense)},
      {"goal_ratio_ours_over_pytorch", 0.8},
      {"per_round",
       {{"ours_dense", ours_dense}, {"pytorch_eager_dense", theirs_dense}, {"ours_moe", ours_moe}}},
      {"gate_kinds",
       {{"what", "MoE 8e2a (d_expert 256) step time per gate kind (docs/method.md §11.5) vs the "
                 "dense model of the same active width (d_ff 512 = a·d_expert = ours_dense), "
                 "measured in the same rounds; sigmoid_renorm is ours_moe"},
        {"median_step_s", gate_median},
        {"ratio_over_dense", gate_ratio},
        {"per_round", gate_rounds}}}};
  std::cout << result.dump() << "\n";
  write_file_atomic(root + "/bench/results/step_time.json", result.dump(2) + "\n");
  return 0;
}
