#include "data.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "util/error.h"
#include "util/json.h"

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

std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
  return Rng{a * 0x100000001b3ULL ^ b}.next();
}

class SyntheticSource : public TokenSource {
public:
  SyntheticSource(const RunConfig& c)
      : vocab_(c.model.vocab), seq_(c.model.seq_len), batch_(c.train.batch_size),
        language_(c.train.data.seed), train_seed_(c.train.seed) {
    for (int i = 0; i < c.train.eval.batches; ++i)
      val_.push_back(make(mix(language_, 0x7a1ULL), i));
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
      auto s = synthetic_sequence(
          vocab_, language_, mix(stream, static_cast<std::uint64_t>(index) * batch_ + b), seq_ + 1);
      std::copy(s.begin(), s.end(), p + static_cast<std::ptrdiff_t>(b) * (seq_ + 1));
    }
    return t;
  }
  int vocab_, seq_, batch_;
  std::uint64_t language_, train_seed_;
  std::vector<torch::Tensor> val_;
};

} // namespace

std::vector<std::int64_t> synthetic_sequence(int vocab, std::uint64_t language_seed,
                                             std::uint64_t sequence_seed, int length) {
  Rng rng{sequence_seed};
  std::vector<std::int64_t> out;
  out.reserve(length);
  out.push_back(static_cast<std::int64_t>(rng.below(vocab)));
  int copy_left = 0, copy_from = 0;
  while (static_cast<int>(out.size()) < length) {
    const int pos = static_cast<int>(out.size());
    if (copy_left == 0 && pos >= 24 && rng.below(100) < 6) { // start an induction span
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
    const std::uint64_t r = rng.below(15); // weights 8:4:2:1 over 4 successors
    const int which = r < 8 ? 0 : r < 12 ? 1 : r < 14 ? 2 : 3;
    std::uint64_t succ = 0;
    for (int k = 0; k <= which; ++k)
      succ = table.below(vocab);
    out.push_back(static_cast<std::int64_t>(succ));
  }
  return out;
}

namespace {

// A read-only view of a file's bytes, memory-mapped (bin data can be large).
class MappedFile {
public:
  explicit MappedFile(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw RuntimeError("cannot open data file '" + path + "': " + std::strerror(errno));
    struct stat st {};
    ::fstat(fd, &st);
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        ::close(fd);
        throw RuntimeError("cannot map data file '" + path + "': " + std::strerror(errno));
      }
      data_ = static_cast<const unsigned char*>(p);
    }
    ::close(fd);
  }
  ~MappedFile() {
    if (data_) ::munmap(const_cast<unsigned char*>(data_), size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const unsigned char* data() const { return data_; }
  std::size_t size() const { return size_; }

private:
  const unsigned char* data_ = nullptr;
  std::size_t size_ = 0;
};

// Windows of seq_len + 1 tokens at seeded offsets of a token array (bytes of a
// text file, or little-endian uint16 of a nanoGPT-style .bin).
class ArraySource : public TokenSource {
public:
  ArraySource(const RunConfig& c, std::vector<std::shared_ptr<MappedFile>> files,
              int bytes_per_token, std::size_t train_begin, std::size_t train_end,
              std::size_t val_file, std::size_t val_begin, std::size_t val_end)
      : files_(std::move(files)), width_(bytes_per_token), seq_(c.model.seq_len),
        batch_(c.train.batch_size), train_seed_(c.train.seed) {
    train_ = {files_[0].get(), train_begin, train_end};
    val_span_ = {files_[val_file].get(), val_begin, val_end};
    for (const Span* sp : {&train_, &val_span_})
      if (sp->end - sp->begin < static_cast<std::size_t>(seq_ + 2))
        throw RuntimeError("data split has " + std::to_string(sp->end - sp->begin) +
                           " tokens, fewer than seq_len + 2 = " + std::to_string(seq_ + 2));
    for (int i = 0; i < c.train.eval.batches; ++i)
      val_.push_back(make(val_span_, mix(0x7a1ULL, 0), i));
  }
  torch::Tensor train_batch(std::int64_t step) override {
    return make(train_, mix(0x77a1ULL, train_seed_), step);
  }
  const std::vector<torch::Tensor>& val_batches() override { return val_; }

  // Largest token id in the data (bin files must fit the vocabulary).
  std::int64_t max_token() const {
    std::int64_t m = 0;
    for (const Span* sp : {&train_, &val_span_})
      for (std::size_t i = sp->begin; i < sp->end; ++i)
        m = std::max(m, token(*sp, i));
    return m;
  }

private:
  struct Span {
    const MappedFile* file;
    std::size_t begin, end; // in tokens
  };
  std::int64_t token(const Span& s, std::size_t i) const {
    const unsigned char* p = s.file->data() + i * width_;
    return width_ == 1 ? p[0] : static_cast<std::int64_t>(p[0] | (p[1] << 8));
  }
  torch::Tensor make(const Span& s, std::uint64_t stream, std::int64_t index) const {
    auto t = torch::empty({batch_, seq_ + 1}, torch::kInt64);
    auto* out = t.data_ptr<std::int64_t>();
    const std::size_t room = s.end - s.begin - static_cast<std::size_t>(seq_) - 1;
    for (int b = 0; b < batch_; ++b) {
      Rng rng{mix(stream, static_cast<std::uint64_t>(index) * batch_ + b)};
      const std::size_t at = s.begin + rng.below(room);
      for (int k = 0; k <= seq_; ++k)
        *out++ = token(s, at + k);
    }
    return t;
  }
  std::vector<std::shared_ptr<MappedFile>> files_;
  int width_, seq_, batch_;
  std::uint64_t train_seed_;
  Span train_{}, val_span_{};
  std::vector<torch::Tensor> val_;
};

std::string beside(const std::string& config_file, const std::string& path) {
  namespace fs = std::filesystem;
  if (fs::path(path).is_absolute() || config_file.empty() || config_file[0] == '<') return path;
  return (fs::path(config_file).parent_path() / path).string();
}

} // namespace

std::unique_ptr<TokenSource> make_source(const RunConfig& c, const std::string& file) {
  const DataSpec& d = c.train.data;
  if (d.kind == DataKind::kSynthetic) return std::make_unique<SyntheticSource>(c);
  const int width = d.kind == DataKind::kText ? 1 : 2;
  auto train_file = std::make_shared<MappedFile>(beside(file, d.path));
  std::vector<std::shared_ptr<MappedFile>> files{train_file};
  const std::size_t n = train_file->size() / width;
  std::unique_ptr<ArraySource> src;
  if (!d.val_path.empty()) {
    files.push_back(std::make_shared<MappedFile>(beside(file, d.val_path)));
    src = std::make_unique<ArraySource>(c, files, width, 0, n, 1, 0, files[1]->size() / width);
  } else {
    const auto split = static_cast<std::size_t>(static_cast<double>(n) * (1 - d.val_fraction));
    src = std::make_unique<ArraySource>(c, files, width, 0, split, 0, split, n);
  }
  if (d.kind == DataKind::kBin && src->max_token() >= c.model.vocab)
    Where{file, "/model/vocab"}.fail("the data holds token id " + std::to_string(src->max_token()) +
                                     ", which needs vocab > " + std::to_string(src->max_token()));
  return src;
}

} // namespace mue::torch_backend
