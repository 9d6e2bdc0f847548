// Training batches: B windows of S+1 consecutive tokens drawn from a split,
// the first S as input and the last S as next-token targets. Draws come from
// our own SplitMix64 generator and bounded draw (not std::uniform_int_
// distribution, whose output differs between standard libraries), so a seed
// gives the same batches with any compiler, and the whole sampler state is
// one integer that a checkpoint can store.
#pragma once

#include <cstdint>
#include <vector>

#include "data/token_dataset.h"

namespace horizon::data {

/// One batch, row-major [batch, seq].
struct Batch {
  int64_t batch = 0, seq = 0;
  std::vector<int32_t> tokens;   // window[0 .. S-1]
  std::vector<int32_t> targets;  // window[1 .. S]: tokens shifted by one; < 0: no loss
  // Packed documents only (empty: one document per row): each token's position
  // within its document, restarting at 0, and its document's index in the row.
  std::vector<int32_t> positions, segments;
  // Preference pairs only (data/preference_sampler.h): the document of each row.
  std::vector<int64_t> documents = {};
};

class BatchSampler {
 public:
  /// UserError if the split is shorter than seq+1 tokens (the message says
  /// how many there are and which --seq would fit) or batch/seq are not positive.
  BatchSampler(TokenSplit split, int64_t batch, int64_t seq, uint64_t seed);

  /// The next random batch; windows start anywhere in the split.
  Batch next();

  /// `n` batches of windows spread evenly over the split, the same on every
  /// call and independent of next(): a fixed evaluation set.
  std::vector<Batch> validation_batches(int64_t n) const;

  /// Generator state, for checkpoint and resume: set_state(state()) continues
  /// the exact sequence of batches.
  uint64_t state() const { return state_; }
  void set_state(uint64_t state) { state_ = state; }

  int64_t batch() const { return batch_; }
  int64_t seq() const { return seq_; }

 private:
  uint64_t next_u64();
  uint64_t below(uint64_t bound);
  void fill_row(Batch& b, int64_t row, int64_t start) const;

  TokenSplit split_;
  int64_t batch_, seq_;
  uint64_t state_;
};

}  // namespace horizon::data
