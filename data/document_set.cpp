// Flat document storage and the split into train and validation by documents.
#include "data/document_set.h"

#include <algorithm>
#include <numeric>

#include "support/random.h"

namespace horizon::data {

void DocumentSet::add(std::span<const int32_t> tokens, std::span<const uint8_t> loss) {
  if (tokens.empty()) return;
  tokens_.insert(tokens_.end(), tokens.begin(), tokens.end());
  loss_.insert(loss_.end(), loss.begin(), loss.end());
  ends_.push_back(static_cast<int64_t>(tokens_.size()));
}

int64_t DocumentSet::loss_token_count() const { return std::count(loss_.begin(), loss_.end(), uint8_t{1}); }

DocumentSet DocumentSet::from_flat(std::vector<int32_t> tokens, std::vector<uint8_t> loss, std::vector<int64_t> ends) {
  DocumentSet d;
  if (loss.empty()) loss.assign(tokens.size(), 1);
  d.tokens_ = std::move(tokens);
  d.loss_ = std::move(loss);
  d.ends_ = std::move(ends);
  return d;
}

DocumentSet DocumentSet::subset(std::span<const int64_t> indices) const {
  DocumentSet d;
  for (int64_t i : indices) d.add(tokens(i), loss(i));
  return d;
}

void DocumentSet::split(const DocumentSet& all, double fraction, uint64_t seed, DocumentSet& train,
                        DocumentSet& validation) {
  const int64_t n = all.size();
  int64_t held = static_cast<int64_t>(static_cast<double>(n) * fraction);
  if (fraction > 0 && held == 0 && n >= 2) held = 1;
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  Rng rng(seed ^ 0x5eed5b1175ull);
  for (int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[rng.below(static_cast<uint64_t>(i + 1))]);
  std::vector<int64_t> val(order.end() - held, order.end()), rest(order.begin(), order.end() - held);
  std::sort(val.begin(), val.end());
  std::sort(rest.begin(), rest.end());
  train = all.subset(rest);
  validation = all.subset(val);
}

}  // namespace horizon::data
