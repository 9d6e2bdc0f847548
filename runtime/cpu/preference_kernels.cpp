// The DPO loss on the CPU: per-sequence log-probabilities of the response
// tokens, and TRL's pair losses over them. Sums run in double and in row
// order, so the result does not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/cpu/kernels.h"
#include "runtime/thread_pool.h"

namespace horizon::cpu {
namespace {

/// log(sum(exp(row))), shifted by the row max.
double log_sum_exp(const float* row, int64_t V) {
  float m = row[0];
  for (int64_t v = 1; v < V; ++v) m = std::max(m, row[v]);
  double s = 0;
  for (int64_t v = 0; v < V; ++v) s += std::exp(static_cast<double>(row[v]) - m);
  return m + std::log(s);
}

int64_t row_targets(const int32_t* targets, int64_t S) {
  int64_t n = 0;
  for (int64_t s = 0; s < S; ++s) n += targets[s] >= 0;
  return n;
}

double log_sigmoid(double x) { return x >= 0 ? -std::log1p(std::exp(-x)) : x - std::log1p(std::exp(x)); }
double sigmoid(double x) { return x >= 0 ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x) / (1.0 + std::exp(x)); }

int64_t pair_count(int64_t B, int64_t pairs) {
  if (B % 2) throw std::invalid_argument("dpo_loss: " + std::to_string(B) + " rows do not form chosen/rejected pairs");
  return pairs < 0 ? B / 2 : pairs;
}

/// TRL's logits of pair k: the policy's log-ratio minus the reference's.
double pair_margin(const float* policy, const float* reference, int64_t k) {
  return (static_cast<double>(policy[2 * k]) - reference[2 * k]) -
         (static_cast<double>(policy[2 * k + 1]) - reference[2 * k + 1]);
}

}  // namespace

void sequence_logprob_forward(float* y, const float* logits, const int32_t* targets, int64_t B, int64_t S, int64_t V,
                              bool average) {
  runtime::parallel_for(B, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      double sum = 0;
      for (int64_t s = 0; s < S; ++s) {
        const int64_t n = r * S + s;
        if (targets[n] < 0) continue;
        const float* row = logits + n * V;
        sum += static_cast<double>(row[targets[n]]) - log_sum_exp(row, V);
      }
      const int64_t count = row_targets(targets + r * S, S);
      y[r] = static_cast<float>(average ? (count ? sum / static_cast<double>(count) : 0.0) : sum);
    }
  });
}

void sequence_logprob_backward(float* dlogits, const float* dy, const float* logits, const int32_t* targets, int64_t B,
                               int64_t S, int64_t V, bool average) {
  runtime::parallel_for(B * S, std::max<int64_t>(1, 16384 / std::max<int64_t>(V, 1)), [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      float* d = dlogits + n * V;
      const int64_t r = n / S;
      if (targets[n] < 0) {
        std::fill(d, d + V, 0.0f);
        continue;
      }
      double scale = dy[r];
      if (average) scale /= static_cast<double>(row_targets(targets + r * S, S));
      // d log softmax(x)[t] / dx_v = [v == t] - softmax(x)_v.
      const float* row = logits + n * V;
      const double lse = log_sum_exp(row, V);
      for (int64_t v = 0; v < V; ++v) d[v] = static_cast<float>(-std::exp(row[v] - lse) * scale);
      d[targets[n]] += static_cast<float>(scale);
    }
  });
}

float dpo_loss_forward(const float* policy, const float* reference, int64_t B, const DpoLossParams& p, int64_t pairs) {
  const int64_t count = pair_count(B, pairs);
  if (count == 0) return 0.0f;
  double total = 0;
  for (int64_t k = 0; k < B / 2; ++k) {
    const double z = pair_margin(policy, reference, k);
    if (p.ipo) {
      const double e = z - 1.0 / (2.0 * p.beta);
      total += e * e;
    } else {
      total += -log_sigmoid(p.beta * z) * (1.0 - p.label_smoothing) - log_sigmoid(-p.beta * z) * p.label_smoothing;
    }
  }
  return static_cast<float>(total / static_cast<double>(count));
}

void dpo_loss_backward(float* dpolicy, float* dreference, const float* policy, const float* reference, int64_t B,
                       const DpoLossParams& p, int64_t pairs) {
  const int64_t count = pair_count(B, pairs);
  for (int64_t k = 0; k < B / 2; ++k) {
    const double z = pair_margin(policy, reference, k);
    double dz = p.ipo ? 2.0 * (z - 1.0 / (2.0 * p.beta))
                      : -(1.0 - p.label_smoothing) * p.beta * sigmoid(-p.beta * z) +
                            p.label_smoothing * p.beta * sigmoid(p.beta * z);
    dz = count ? dz / static_cast<double>(count) : 0.0;
    // z rises with the chosen policy log-prob and the rejected reference one.
    if (dpolicy) {
      dpolicy[2 * k] = static_cast<float>(dz);
      dpolicy[2 * k + 1] = static_cast<float>(-dz);
    }
    if (dreference) {
      dreference[2 * k] = static_cast<float>(-dz);
      dreference[2 * k + 1] = static_cast<float>(dz);
    }
  }
}

}  // namespace horizon::cpu
