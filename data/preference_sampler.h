// Batches of preference pairs for DPO: the documents come in pairs (2k
// chosen, 2k+1 rejected: data/preference_pairs.h), and a batch of B rows
// holds B/2 whole pairs, each sequence in a row of its own starting at
// position 0, padded to S (token 0, no loss) — chosen and rejected of a pair
// are adjacent rows, so they always share a micro-batch. A pair whose longer
// sequence exceeds S tokens is left out and counted. Each epoch visits every
// pair once in an order shuffled by (seed, epoch); the position is a
// DataPosition (sampler "pairs"), so a resume continues exactly.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "data/batch_sampler.h"
#include "data/document_set.h"
#include "data/packed_sampler.h"

namespace horizon::data {

class PreferenceSampler {
 public:
  /// UserError if batch is odd or not positive, the documents do not pair up,
  /// or no pair fits in `seq` tokens.
  PreferenceSampler(std::shared_ptr<const DocumentSet> documents, int64_t batch, int64_t seq, uint64_t seed,
                    bool shuffle = true);
  /// The next batch; Batch::documents names the document of every row.
  Batch next();
  /// Every kept pair once, in stored order, in batches of `batch` rows (the
  /// last one padded with repeats of its first pair): the reference pass.
  std::vector<Batch> all_batches() const;
  DataPosition state() const { return position_; }
  void set_state(const DataPosition& p);
  int64_t steps_for_epochs(int64_t epochs) const;
  int64_t pairs() const { return static_cast<int64_t>(kept_.size()); }
  int64_t dropped_pairs() const { return dropped_; }

  /// Row `row` of `out`: document `doc` from position 0, targets on its loss tokens, padding after.
  static void fill_row(const DocumentSet& docs, int64_t doc, Batch& out, int64_t row);

 private:
  const std::vector<int64_t>& order(int64_t epoch) const;
  Batch make_batch(const std::vector<int64_t>& pairs) const;

  std::shared_ptr<const DocumentSet> docs_;
  int64_t batch_, seq_;
  bool shuffle_;
  std::vector<int64_t> kept_;  // pair indices (documents 2k, 2k+1) that fit
  int64_t dropped_ = 0;
  DataPosition position_;
  mutable int64_t order_epoch_ = -1;
  mutable std::vector<int64_t> order_;
};

}  // namespace horizon::data
