#include "data.h"

#include "util/error.h"

namespace mue::torch_backend {

namespace {

// splitmix64: tiny, fast and identical on every platform (std distributions are not).
struct Rng {
  std::uint64_t s;
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::uint64_t below(std::uint64_t n) { return next() % n; }
};

std::uint64_t mix(std::uint64_t a, std::uint64_t b) { return Rng{a * 0x100000001b3ULL ^ b}.next(); }

class SyntheticSource : public TokenSource {
 public:
  SyntheticSource(const RunConfig& c)
      : vocab_(c.model.vocab), seq_(c.model.seq_len), batch_(c.train.batch_size),
        language_(c.train.data.seed), train_seed_(c.train.seed) {
    for (int i = 0; i < c.train.eval.batches; ++i) val_.push_back(make(mix(language_, 0x7a1ULL), i));
  }
  torch::Tensor train_batch(std::int64_t step) override {
    return make(mix(mix(language_, 0x77a1ULL), train_seed_), step);
  }
  const std::vector<torch::Tensor>& val_batches() override { return val_; }

 private:
  torch::Tensor make(std::uint64_t stream, std::int64_t index) {
    auto t = torch::empty({batch_, seq_ + 1}, torch::kInt64);
    auto* p = t.data_ptr<std::int64_t>();
    for (int b = 0; b < batch_; ++b) {
      auto s = synthetic_sequence(vocab_, language_, mix(stream, static_cast<std::uint64_t>(index) * batch_ + b), seq_ + 1);
      std::copy(s.begin(), s.end(), p + static_cast<std::ptrdiff_t>(b) * (seq_ + 1));
    }
    return t;
  }
  int vocab_, seq_, batch_;
  std::uint64_t language_, train_seed_;
  std::vector<torch::Tensor> val_;
};

}  // namespace

std::vector<std::int64_t> synthetic_sequence(int vocab, std::uint64_t language_seed,
                                             std::uint64_t sequence_seed, int length) {
  Rng rng{sequence_seed};
  std::vector<std::int64_t> out;
  out.reserve(length);
  out.push_back(static_cast<std::int64_t>(rng.below(vocab)));
  int copy_left = 0, copy_from = 0;
  while (static_cast<int>(out.size()) < length) {
    const int pos = static_cast<int>(out.size());
    if (copy_left == 0 && pos >= 24 && rng.below(100) < 6) {  // start an induction span
      copy_left = 8 + static_cast<int>(rng.below(9));
      copy_from = static_cast<int>(rng.below(pos - 16));
    }
    if (copy_left > 0) {
      out.push_back(out[copy_from++]);
      --copy_left;
      continue;
    }
    // Markov step: the successors of a token are a function of (language, token) only.
    const auto prev = static_cast<std::uint64_t>(out.back());
    Rng table{mix(language_seed, prev)};
    const std::uint64_t r = rng.below(15);  // weights 8:4:2:1 over 4 successors
    const int which = r < 8 ? 0 : r < 12 ? 1 : r < 14 ? 2 : 3;
    std::uint64_t succ = 0;
    for (int k = 0; k <= which; ++k) succ = table.below(vocab);
    out.push_back(static_cast<std::int64_t>(succ));
  }
  return out;
}

std::unique_ptr<TokenSource> make_source(const RunConfig& c) {
  if (c.train.data.kind == DataKind::kSynthetic) return std::make_unique<SyntheticSource>(c);
  throw RuntimeError(std::string("data kind '") + to_string(c.train.data.kind) +
                     "' is not implemented yet in the LibTorch backend (synthetic is)");
}

}  // namespace mue::torch_backend
