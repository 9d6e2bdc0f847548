#include "runtime/generate.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "runtime/cpu/cpu_model.h"
#include "support/random.h"

namespace horizon::runtime {

int32_t sample_token(const float* logits, int64_t vocab, double temperature, int64_t top_k, uint64_t random_bits) {
  std::vector<int32_t> order(static_cast<size_t>(vocab));
  std::iota(order.begin(), order.end(), 0);
  // Ties broken by id so the draw is deterministic.
  auto better = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  if (temperature <= 0) return *std::min_element(order.begin(), order.end(), better);
  int64_t k = top_k > 0 ? std::min(top_k, vocab) : vocab;
  std::partial_sort(order.begin(), order.begin() + k, order.end(), better);
  double top = logits[order[0]];
  std::vector<double> p(static_cast<size_t>(k));
  double total = 0;
  for (int64_t i = 0; i < k; ++i)
    total += p[static_cast<size_t>(i)] = std::exp((logits[order[static_cast<size_t>(i)]] - top) / temperature);
  double r = static_cast<double>(random_bits >> 11) * 0x1.0p-53 * total;
  for (int64_t i = 0; i < k; ++i) {
    r -= p[static_cast<size_t>(i)];
    if (r <= 0) return order[static_cast<size_t>(i)];
  }
  return order[static_cast<size_t>(k - 1)];
}

std::vector<int32_t> generate(const ir::Module& lowered, const HostStore& store, const std::vector<int32_t>& prompt,
                              const SampleOptions& opts) {
  CpuModel model(lowered, store);
  const int64_t vocab = model.vocab();
  Rng rng(opts.seed);
  std::vector<int32_t> context = prompt;
  if (context.empty()) context.push_back(static_cast<int32_t>('\n'));
  std::vector<int32_t> out;
  for (int64_t n = 0; n < opts.tokens; ++n) {
    int64_t start = std::max<int64_t>(0, static_cast<int64_t>(context.size()) - opts.max_context);
    std::vector<int32_t> window(context.begin() + start, context.end());
    int64_t S = static_cast<int64_t>(window.size());
    std::vector<float> logits = model.logits(window.data(), 1, S);
    int32_t next = sample_token(logits.data() + (S - 1) * vocab, vocab, opts.temperature, opts.top_k, rng.next_u64());
    context.push_back(next);
    out.push_back(next);
  }
  return out;
}

}  // namespace horizon::runtime
