// Cross-entropy loss over the vocabulary, the mean over rows whose target is
// >= 0 (negative targets mask a row out, as PyTorch's ignore_index does). The
// log-sum-exp subtracts the row max for stability; row sums of exponentials
// and the mean are accumulated in double, since V reaches 150k and a float
// sum of that many terms would lose digits the loss curve needs.
#include <algorithm>
#include <cmath>
#include <vector>

#include "runtime/cpu/kernels.h"
#include "runtime/thread_pool.h"

namespace horizon::cpu {

namespace {

struct RowSoftmax {
  float max;
  double sum;  // of exp(logit - max)
};

RowSoftmax row_softmax(const float* row, int64_t V) {
  float m = row[0];
  for (int64_t v = 1; v < V; ++v) m = std::max(m, row[v]);
  double s = 0;
  for (int64_t v = 0; v < V; ++v) s += std::exp(row[v] - m);
  return {m, s};
}

int64_t grain(int64_t V) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(V, 1)); }

}  // namespace

int64_t count_targets(const int32_t* targets, int64_t N) {
  return std::count_if(targets, targets + N, [](int32_t t) { return t >= 0; });
}

void cross_entropy_rows(double* row_loss, float* dlogits, const float* logits, const int32_t* targets, int64_t N,
                        int64_t V, int64_t count) {
  runtime::parallel_for(N, grain(V), [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      float* d = dlogits ? dlogits + n * V : nullptr;
      if (targets[n] < 0) {
        row_loss[n] = 0.0;
        if (d) std::fill(d, d + V, 0.0f);
        continue;
      }
      const float* row = logits + n * V;
      const RowSoftmax sm = row_softmax(row, V);
      row_loss[n] = static_cast<double>(sm.max) + std::log(sm.sum) - static_cast<double>(row[targets[n]]);
      if (!d) continue;
      // d(mean loss)/d logit = (softmax - onehot(target)) / count.
      const double scale = 1.0 / (sm.sum * static_cast<double>(count));
      for (int64_t v = 0; v < V; ++v) d[v] = static_cast<float>(std::exp(row[v] - sm.max) * scale);
      d[targets[n]] -= static_cast<float>(1.0 / static_cast<double>(count));
    }
  });
}

float mean_loss(const double* row_loss, int64_t N, int64_t count) {
  if (count == 0) return 0.0f;
  double total = 0;
  for (int64_t n = 0; n < N; ++n) total += row_loss[n];
  return static_cast<float>(total / static_cast<double>(count));
}

float cross_entropy_forward(const float* logits, const int32_t* targets, int64_t N, int64_t V, int64_t count) {
  if (count < 0) count = count_targets(targets, N);
  if (count == 0) return 0.0f;
  // Per-row losses first, then one ordered sum: the same bits for any thread count.
  std::vector<double> loss(N, 0.0);
  cross_entropy_rows(loss.data(), nullptr, logits, targets, N, V, count);
  return mean_loss(loss.data(), N, count);
}

void cross_entropy_backward(float* dlogits, const float* logits, const int32_t* targets, int64_t N, int64_t V,
                            int64_t count) {
  std::vector<double> loss(N, 0.0);
  cross_entropy_rows(loss.data(), dlogits, logits, targets, N, V, count < 0 ? count_targets(targets, N) : count);
}

}  // namespace horizon::cpu
