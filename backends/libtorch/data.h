#pragma once
// Token batches for training and fixed validation batches.
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "spec/config.h"

namespace mue::torch_backend {

class TokenSource {
public:
  virtual ~TokenSource() = default;
  // [batch, seq_len + 1] int64 tokens for one training step; a pure function of
  // (data spec, train seed, step), so a run is reproducible and resumable.
  virtual torch::Tensor train_batch(std::int64_t step) = 0;
  // The same validation batches for every trial of a data spec.
  virtual const std::vector<torch::Tensor>& val_batches() = 0;
};

// `file` is the config's path: relative data paths are resolved beside it.
std::unique_ptr<TokenSource> make_source(const RunConfig& c, const std::string& file);

// The synthetic language (exposed for tests): a seeded sparse Markov chain over
// the vocabulary (4 successors per token, weights 8:4:2:1) mixed with copy spans
// that repeat an earlier stretch of the same sequence (induction).
std::vector<std::int64_t> synthetic_sequence(int vocab, std::uint64_t language_seed,
                                             std::uint64_t sequence_seed, int length);

} // namespace mue::torch_backend
