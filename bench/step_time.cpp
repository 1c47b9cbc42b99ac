// Benchmark worker: per-step times of muE's LibTorch backend on the tiny GPT of bench/step_time
// (dense d_ff 512, or MoE 8 experts top-2 with d_expert 256: the same active width), one JSON
// line on stdout. bench/step_time runs it from both builds (torch 2.x and Debian's 1.13)
// alternating with the same model in PyTorch eager (bench/step_time.py).
#include <algorithm>
#include <chrono>
#include <iostream>
#include <limits>
#include <string>

#include "model.h"
#include "optim.h"
#include "runtime_info.h"
#include "transfer/transfer.h"
#include "util/runtime.h"
#include "util/version.h"

using namespace mue;
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

// Seconds per forward + backward of `f` on fresh leaf inputs: median of `reps` after 5 warmups.
template <class F> double op_time(F f, const std::vector<torch::Tensor>& inputs, int reps) {
  std::vector<double> t;
  for (int i = 0; i < reps + 5; ++i) {
    std::vector<torch::Tensor> in;
    for (const auto& x : inputs)
      in.push_back(x.detach().clone().requires_grad_(true));
    const auto t0 = std::chrono::steady_clock::now();
    f(in).sum().backward();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (i >= 5) t.push_back(s);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// The two CPU ops torch 2.x offers fused kernels for, at the benchmark model's shapes
// ([B, H, T, d_head] = [16, 4, 128, 32]; [B, T, d] = [16, 128, 128]): what model.cpp uses
// against the explicit composition it replaced, forward + backward.
Json op_times(int reps) {
  torch::manual_seed(0);
  const int64_t B = 16, H = 4, T = 128, dh = 32, d = 128;
  const double scale = 1.0 / dh;
  auto q = torch::randn({B, H, T, dh}), k = torch::randn({B, H, T, dh}),
       v = torch::randn({B, H, T, dh});
  auto explicit_attention = [&](std::vector<torch::Tensor>& in) {
    auto mask = torch::ones({T, T}, torch::kBool).triu(1);
    auto att = torch::matmul(in[0], in[1].transpose(-2, -1)) * scale;
    att = att.masked_fill(mask, -std::numeric_limits<float>::infinity()).softmax(-1);
    return torch::matmul(att, in[2]);
  };
  Json j{{"attention_explicit_s", op_time(explicit_attention, {q, k, v}, reps)}};
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
  auto sdpa = [&](std::vector<torch::Tensor>& in) {
    return at::scaled_dot_product_attention(in[0], in[1], in[2], {}, 0.0, true, scale);
  };
  j["attention_sdpa_s"] = op_time(sdpa, {q, k, v}, reps);
#endif
  auto x = torch::randn({B, T, d}), g = torch::ones({d});
  auto explicit_rms = [](std::vector<torch::Tensor>& in) {
    return in[0] * torch::rsqrt(in[0].pow(2).mean(-1, true) + 1e-6) * in[1];
  };
  j["rms_norm_explicit_s"] = op_time(explicit_rms, {x, g}, reps);
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  auto fused_rms = [d](std::vector<torch::Tensor>& in) {
    return at::rms_norm(in[0], {d}, in[1], 1e-6);
  };
  j["rms_norm_aten_s"] = op_time(fused_rms, {x, g}, reps);
#endif
  return j;
}

} // namespace

int main(int argc, char** argv) {
  tune_malloc();
  std::string model = "dense";
  int threads = 1, steps = 20, warmup = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--model" && (v == "dense" || v == "moe" || v == "ops"))
      model = v;
    else if (k == "--threads")
      threads = std::stoi(v);
    else if (k == "--steps")
      steps = std::stoi(v);
    else if (k == "--warmup")
      warmup = std::stoi(v);
    else {
      std::cerr << "usage: bench_step_time [--model dense|moe|ops] [--threads N] [--steps N] "
                   "[--warmup N]\n";
      return 2;
    }
  }
  torch::set_num_threads(threads);
  const auto info = runtime_info();
  if (model == "ops") {
    std::cout << Json{{"ops", op_times(std::max(steps, 20))}, {"torch", info.torch_version}}.dump()
              << "\n";
    return 0;
  }
  const auto times = ours(model == "moe", steps, warmup);
  Json out{{"step_s", times},
           {"torch", info.torch_version},
           {"threads", at::get_num_threads()},
           {"cuda_compiled", info.cuda_compiled},
           {"blas", info.blas},
           {"muE", std::string(version()) + " (git " + git_hash() + ")"}};
  std::cout << out.dump() << "\n";
  return 0;
}
