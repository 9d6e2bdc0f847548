// Training rows of packed documents. Each epoch visits every document once,
// in an order shuffled by (seed, epoch); rows of S positions are filled with
// whole documents in that order, and a document that does not fit the rest of
// a row starts the next one (the rest is padding: token 0, no loss, a segment
// of its own). A document longer than S is split into consecutive pieces
// (--long-docs split; each piece's positions restart at 0) or left out and
// counted (drop). Within a document token j is the input that predicts token
// j+1 when that token carries loss, so across an epoch every trained
// prediction occurs exactly once, also across a split. The sampler's whole
// state is a DataPosition: set_state(state()) continues exactly.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/batch_sampler.h"
#include "data/document_set.h"
#include "frontend/json_file.h"

namespace horizon::data {

enum class LongDocs { split, drop };
LongDocs parse_long_docs(const std::string& value);

/// Where a sampler is in its data, for checkpoints. Packed sampling uses
/// epoch / index (into the epoch's shuffled order) / offset (tokens of that
/// document already placed); window sampling uses window_state (its
/// generator). documents and fingerprint identify the data, so a resume on
/// other data is refused instead of continuing somewhere meaningless.
struct DataPosition {
  std::string sampler = "packed";  // "packed" or "windows"
  uint64_t seed = 0;
  int64_t epoch = 0, index = 0, offset = 0;
  uint64_t window_state = 0;
  int64_t documents = 0;
  uint64_t fingerprint = 0;

  frontend::Json to_json() const;
  /// UserError naming `origin` and the field for a missing or mistyped field.
  static DataPosition from_json(const frontend::Json& j, const std::string& origin);
  bool operator==(const DataPosition&) const = default;
};

class PackedSampler {
 public:
  /// UserError if batch/seq are not positive or no document is left to train on.
  PackedSampler(std::shared_ptr<const DocumentSet> documents, int64_t batch, int64_t seq, uint64_t seed,
                LongDocs long_docs, bool shuffle = true);

  Batch next();

  /// The first `n` batches of the documents in their stored order (not
  /// shuffled), the same on every call: a fixed evaluation set.
  std::vector<Batch> validation_batches(int64_t n) const;

  DataPosition state() const { return position_; }
  /// UserError if `p` belongs to other data, seed or sampler.
  void set_state(const DataPosition& p);

  /// Optimizer steps (batches) until `epochs` epochs are done, from the start.
  int64_t steps_for_epochs(int64_t epochs) const;

  int64_t documents() const { return static_cast<int64_t>(kept_.size()); }
  int64_t dropped_documents() const { return dropped_; }
  int64_t split_documents() const { return split_; }
  int64_t batch() const { return batch_; }
  int64_t seq() const { return seq_; }

 private:
  const std::vector<int64_t>& order(int64_t epoch) const;
  /// Fills row `row` of `out` (or only advances the position when out is null).
  void fill_row(Batch* out, int64_t row, DataPosition& p) const;

  std::shared_ptr<const DocumentSet> docs_;
  int64_t batch_, seq_;
  bool shuffle_;
  std::vector<int64_t> kept_;  // document indices that are trained
  int64_t dropped_ = 0, split_ = 0;
  DataPosition position_;
  mutable int64_t order_epoch_ = -1;
  mutable std::vector<int64_t> order_;
};

}  // namespace horizon::data
