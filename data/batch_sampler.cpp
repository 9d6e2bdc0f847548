// Window sampling for training (seeded) and evaluation (evenly spaced).
#include "data/batch_sampler.h"

#include <algorithm>

#include "support/error.h"

namespace horizon::data {

BatchSampler::BatchSampler(TokenSplit split, int64_t batch, int64_t seq, uint64_t seed)
    : split_(std::move(split)), batch_(batch), seq_(seq), state_(seed) {
  if (batch_ < 1) throw_user_error(split_.source, "--batch", "must be at least 1, got " + std::to_string(batch_), "");
  if (seq_ < 1) throw_user_error(split_.source, "--seq", "must be at least 1, got " + std::to_string(seq_), "");
  const auto n = static_cast<int64_t>(split_.tokens.size());
  if (n < seq_ + 1) {
    std::string fix = n >= 2 ? "use --seq " + std::to_string(n - 1) + " or less, or more data"
                             : "use more data (or a smaller validation fraction)";
    throw_user_error(split_.source, split_.name + " split",
                     "has " + std::to_string(n) + " tokens, but --seq " + std::to_string(seq_) + " needs windows of " +
                         std::to_string(seq_ + 1),
                     fix);
  }
}

// SplitMix64 (Steele, Lea, Flood 2014): passes BigCrush, and its state is one word.
uint64_t BatchSampler::next_u64() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Uniform in [0, bound) without modulo bias: reject the lowest (2^64 mod bound)
// values so the rest divide evenly into `bound` classes.
uint64_t BatchSampler::below(uint64_t bound) {
  const uint64_t threshold = (0 - bound) % bound;
  for (;;) {
    uint64_t x = next_u64();
    if (x >= threshold) return x % bound;
  }
}

void BatchSampler::fill_row(Batch& b, int64_t row, int64_t start) const {
  const int32_t* w = split_.tokens.data() + start;
  std::copy(w, w + seq_, b.tokens.begin() + row * seq_);
  std::copy(w + 1, w + seq_ + 1, b.targets.begin() + row * seq_);
}

Batch BatchSampler::next() {
  Batch b{batch_, seq_, std::vector<int32_t>(batch_ * seq_), std::vector<int32_t>(batch_ * seq_), {}, {}};
  const auto starts = static_cast<uint64_t>(split_.tokens.size()) - static_cast<uint64_t>(seq_);
  for (int64_t r = 0; r < batch_; ++r) fill_row(b, r, static_cast<int64_t>(below(starts)));
  return b;
}

std::vector<Batch> BatchSampler::validation_batches(int64_t n) const {
  std::vector<Batch> out;
  if (n <= 0) return out;
  const uint64_t windows = static_cast<uint64_t>(n) * static_cast<uint64_t>(batch_);
  const uint64_t last_start = split_.tokens.size() - static_cast<uint64_t>(seq_) - 1;
  for (int64_t i = 0; i < n; ++i) {
    Batch b{batch_, seq_, std::vector<int32_t>(batch_ * seq_), std::vector<int32_t>(batch_ * seq_), {}, {}};
    for (int64_t r = 0; r < batch_; ++r) {
      // Window k starts at k/(windows-1) of the way through: first and last windows touch the ends.
      const uint64_t k = static_cast<uint64_t>(i * batch_ + r);
      const uint64_t start =
          windows == 1 ? 0 : static_cast<uint64_t>(static_cast<unsigned __int128>(k) * last_start / (windows - 1));
      fill_row(b, r, static_cast<int64_t>(start));
    }
    out.push_back(std::move(b));
  }
  return out;
}

}  // namespace horizon::data
