#include "data/preference_sampler.h"

#include <algorithm>

#include "support/error.h"
#include "support/random.h"

namespace horizon::data {

PreferenceSampler::PreferenceSampler(std::shared_ptr<const DocumentSet> documents, int64_t batch, int64_t seq,
                                     uint64_t seed, bool shuffle)
    : docs_(std::move(documents)), batch_(batch), seq_(seq), shuffle_(shuffle) {
  if (batch <= 0 || batch % 2)
    throw UserError("DPO needs an even --batch (each pair is two rows: chosen and rejected), got " +
                    std::to_string(batch));
  if (seq <= 0) throw UserError("--seq must be positive, got " + std::to_string(seq));
  if (docs_->size() % 2)
    throw UserError("preference data must hold chosen/rejected pairs, but it has an odd number of sequences (" +
                    std::to_string(docs_->size()) + ")");
  for (int64_t k = 0; k < docs_->size() / 2; ++k) {
    if (std::max(docs_->length(2 * k), docs_->length(2 * k + 1)) <= seq)
      kept_.push_back(k);
    else
      ++dropped_;
  }
  if (kept_.empty())
    throw UserError("no preference pair fits in --seq " + std::to_string(seq) + " tokens (" + std::to_string(dropped_) +
                    " pairs are longer); raise --seq");
  position_.sampler = "pairs";
  position_.seed = seed;
  position_.documents = docs_->size();
  uint64_t h = 1469598103934665603ull;
  for (int64_t e : docs_->ends()) h = (h ^ static_cast<uint64_t>(e)) * 1099511628211ull;
  position_.fingerprint = h;
}

void PreferenceSampler::fill_row(const DocumentSet& docs, int64_t doc, Batch& out, int64_t row) {
  const int64_t S = out.seq, first = row * S;
  std::span<const int32_t> tokens = docs.tokens(doc);
  std::span<const uint8_t> loss = docs.loss(doc);
  const int64_t n = std::min<int64_t>(static_cast<int64_t>(tokens.size()), S);
  for (int64_t i = 0; i < S; ++i) {
    out.tokens[static_cast<size_t>(first + i)] = i < n ? tokens[static_cast<size_t>(i)] : 0;
    // Token i predicts token i + 1 where that one carries loss.
    const bool trained = i + 1 < n && loss[static_cast<size_t>(i + 1)];
    out.targets[static_cast<size_t>(first + i)] = trained ? tokens[static_cast<size_t>(i + 1)] : -1;
  }
  out.documents[static_cast<size_t>(row)] = doc;
}

Batch PreferenceSampler::make_batch(const std::vector<int64_t>& pairs) const {
  Batch b;
  b.batch = batch_;
  b.seq = seq_;
  b.tokens.assign(static_cast<size_t>(batch_ * seq_), 0);
  b.targets.assign(static_cast<size_t>(batch_ * seq_), -1);
  b.documents.assign(static_cast<size_t>(batch_), 0);
  for (size_t k = 0; k < pairs.size(); ++k) {
    fill_row(*docs_, 2 * pairs[k], b, static_cast<int64_t>(2 * k));
    fill_row(*docs_, 2 * pairs[k] + 1, b, static_cast<int64_t>(2 * k + 1));
  }
  return b;
}

const std::vector<int64_t>& PreferenceSampler::order(int64_t epoch) const {
  if (order_epoch_ == epoch) return order_;
  order_ = kept_;
  if (shuffle_) {
    Rng rng(position_.seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(epoch) + 1);
    for (size_t i = order_.size() - 1; i > 0; --i) std::swap(order_[i], order_[rng.below(i + 1)]);
  }
  order_epoch_ = epoch;
  return order_;
}

Batch PreferenceSampler::next() {
  std::vector<int64_t> pairs;
  while (static_cast<int64_t>(pairs.size()) < batch_ / 2) {
    if (position_.index >= static_cast<int64_t>(kept_.size())) {
      ++position_.epoch;
      position_.index = 0;
    }
    pairs.push_back(order(position_.epoch)[static_cast<size_t>(position_.index++)]);
  }
  return make_batch(pairs);
}

std::vector<Batch> PreferenceSampler::all_batches() const {
  std::vector<Batch> out;
  const size_t per = static_cast<size_t>(batch_ / 2);
  for (size_t first = 0; first < kept_.size(); first += per) {
    std::vector<int64_t> pairs(kept_.begin() + static_cast<ptrdiff_t>(first),
                               kept_.begin() + static_cast<ptrdiff_t>(std::min(kept_.size(), first + per)));
    while (pairs.size() < per) pairs.push_back(pairs.front());
    out.push_back(make_batch(pairs));
  }
  return out;
}

void PreferenceSampler::set_state(const DataPosition& p) {
  if (p.sampler != "pairs" || p.seed != position_.seed || p.documents != position_.documents ||
      p.fingerprint != position_.fingerprint)
    throw UserError("the saved data position belongs to other data, seed or sampler; resume with the same --data, "
                    "--seed and --objective");
  position_ = p;
}

int64_t PreferenceSampler::steps_for_epochs(int64_t epochs) const {
  const int64_t per = batch_ / 2;
  return (epochs * static_cast<int64_t>(kept_.size()) + per - 1) / per;
}

}  // namespace horizon::data
