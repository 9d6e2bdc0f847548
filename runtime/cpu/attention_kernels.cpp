// Causal grouped-query attention on the CPU, flash-attention style: scores are
// formed one key tile at a time with an online softmax, so nothing of size
// S x S ever exists; each worker keeps per-block scratch only. Query head h
// reads key/value head h / (H / KVH); with a sliding window, key j is visible
// to query i iff i - window < j <= i. The backward recomputes the softmax from
// q and k (no state is saved by the forward) in three deterministic passes:
// row statistics, dq per query block, dk/dv per key block (summing over the
// query heads that share the kv head in a fixed order, so no atomics).
// Packed documents (segment ids) narrow each query's keys to its own
// document: the visible keys stay one contiguous range, so the loops only
// change their bounds and the keys of other documents are never scored.
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/cpu/kernels.h"
#include "runtime/cpu/row_reductions.h"
#include "runtime/thread_pool.h"

namespace horizon::cpu {

namespace {

constexpr int64_t kQueryBlock = 16;  // query rows per work item
constexpr int64_t kKeyTile = 64;     // keys scored per step of the online softmax
constexpr int64_t kKeyBlock = 16;    // key rows per work item of the dk/dv pass

struct AttentionShape {
  int64_t B, S, H, KVH, D, window;
  float scale;
  // Per token [B * S], with packed documents: where its document begins and
  // ends within the row. Empty: one document per row.
  std::vector<int32_t> doc_begin, doc_end;

  int64_t group() const { return H / KVH; }
  const float* q_row(const float* q, int64_t b, int64_t i, int64_t h) const { return q + ((b * S + i) * H + h) * D; }
  const float* kv_row(const float* kv, int64_t b, int64_t j, int64_t kvh) const {
    return kv + ((b * S + j) * KVH + kvh) * D;
  }
  /// First key visible to query i of row b (non-decreasing in i).
  int64_t first_key(int64_t b, int64_t i) const {
    const int64_t first = window > 0 ? std::max<int64_t>(0, i - window + 1) : 0;
    return doc_begin.empty() ? first : std::max<int64_t>(first, doc_begin[b * S + i]);
  }
  /// One past the last query of row b that sees key j (non-decreasing in j).
  int64_t query_end(int64_t b, int64_t j) const {
    const int64_t end = window > 0 ? std::min(S, j + window) : S;
    return doc_end.empty() ? end : std::min<int64_t>(end, doc_end[b * S + j]);
  }
};

AttentionShape attention_shape(int64_t B, int64_t S, int64_t H, int64_t KVH, int64_t D, int64_t window,
                               const int32_t* segments) {
  AttentionShape a{B, S, H, KVH, D, window, 1.0f / std::sqrt(static_cast<float>(D)), {}, {}};
  if (!segments) return a;
  a.doc_begin.resize(static_cast<size_t>(B * S));
  a.doc_end.resize(static_cast<size_t>(B * S));
  for (int64_t b = 0; b < B; ++b) {
    const int32_t* seg = segments + b * S;
    for (int64_t i = 0; i < S; ++i) {
      if (i > 0 && seg[i] < seg[i - 1])
        throw std::invalid_argument("attention: segment ids must not decrease along a row; row " + std::to_string(b) +
                                    " goes from " + std::to_string(seg[i - 1]) + " to " + std::to_string(seg[i]) +
                                    " at token " + std::to_string(i));
      a.doc_begin[static_cast<size_t>(b * S + i)] =
          i > 0 && seg[i] == seg[i - 1] ? a.doc_begin[static_cast<size_t>(b * S + i - 1)] : static_cast<int32_t>(i);
    }
    for (int64_t i = S - 1; i >= 0; --i)
      a.doc_end[static_cast<size_t>(b * S + i)] = i + 1 < S && seg[i] == seg[i + 1]
                                                      ? a.doc_end[static_cast<size_t>(b * S + i + 1)]
                                                      : static_cast<int32_t>(i + 1);
  }
  return a;
}

/// Online softmax state of one block of query rows.
struct QueryBlockState {
  std::vector<float> max, sum, acc;  // [rows], [rows], [rows, D]
  explicit QueryBlockState(int64_t D) : max(kQueryBlock), sum(kQueryBlock), acc(kQueryBlock * D) {}
};

/// Runs the online softmax of queries [i0, i1) of head h in batch b over all
/// their visible keys; leaves the running max, sum and unnormalized output.
void softmax_block(QueryBlockState& st, const AttentionShape& a, const float* q, const float* k, const float* v,
                   int64_t b, int64_t h, int64_t i0, int64_t i1) {
  const int64_t kvh = h / a.group(), D = a.D;
  std::fill(st.max.begin(), st.max.end(), -std::numeric_limits<float>::infinity());
  std::fill(st.sum.begin(), st.sum.end(), 0.0f);
  std::fill(st.acc.begin(), st.acc.end(), 0.0f);
  float scores[kKeyTile];
  for (int64_t j0 = a.first_key(b, i0); j0 < i1; j0 += kKeyTile) {
    const int64_t j1 = std::min(i1, j0 + kKeyTile);
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t lo = std::max(j0, a.first_key(b, i)), hi = std::min(j1, i + 1);
      if (lo >= hi) continue;
      const float* qi = a.q_row(q, b, i, h);
      float tile_max = -std::numeric_limits<float>::infinity();
      for (int64_t j = lo; j < hi; ++j) {
        scores[j - lo] = rows::dot(qi, a.kv_row(k, b, j, kvh), D) * a.scale;
        tile_max = std::max(tile_max, scores[j - lo]);
      }
      const int64_t r = i - i0;
      float* acc = st.acc.data() + r * D;
      const float new_max = std::max(st.max[r], tile_max);
      const float correction = std::exp(st.max[r] - new_max);  // exp(-inf) = 0 on the first tile
      st.sum[r] *= correction;
      for (int64_t d = 0; d < D; ++d) acc[d] *= correction;
      for (int64_t j = lo; j < hi; ++j) {
        const float p = std::exp(scores[j - lo] - new_max);
        st.sum[r] += p;
        rows::axpy(acc, p, a.kv_row(v, b, j, kvh), D);
      }
      st.max[r] = new_max;
    }
  }
}

/// Work items (b, h, query block), in that nesting.
int64_t query_blocks(const AttentionShape& a) { return (a.S + kQueryBlock - 1) / kQueryBlock; }

}  // namespace

void attention_forward(float* out, const float* q, const float* k, const float* v, int64_t B, int64_t S, int64_t H,
                       int64_t KVH, int64_t D, int64_t window, const int32_t* segments) {
  const AttentionShape a = attention_shape(B, S, H, KVH, D, window, segments);
  const int64_t qb = query_blocks(a);
  runtime::parallel_for(B * H * qb, 1, [&](int64_t w0, int64_t w1) {
    QueryBlockState st(D);
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t b = w / (H * qb), h = (w / qb) % H, i0 = (w % qb) * kQueryBlock;
      const int64_t i1 = std::min(S, i0 + kQueryBlock);
      softmax_block(st, a, q, k, v, b, h, i0, i1);
      for (int64_t i = i0; i < i1; ++i) {
        const float inv = 1.0f / st.sum[i - i0];
        float* o = out + ((b * S + i) * H + h) * D;
        for (int64_t d = 0; d < D; ++d) o[d] = st.acc[(i - i0) * D + d] * inv;
      }
    }
  });
}

void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                        const float* v, int64_t B, int64_t S, int64_t H, int64_t KVH, int64_t D, int64_t window,
                        const int32_t* segments) {
  // With P = softmax(scale * q k^T) and out = P v:
  //   dv_j = sum_i P_ij dout_i,  dS_ij = P_ij (dout_i . v_j - delta_i),  delta_i = dout_i . out_i,
  //   dq_i = scale * sum_j dS_ij k_j,  dk_j = scale * sum_i dS_ij q_i.
  const AttentionShape a = attention_shape(B, S, H, KVH, D, window, segments);
  const int64_t qb = query_blocks(a);
  // Per (b, h, i): log-sum-exp of the scaled scores and delta_i.
  std::vector<float> lse(B * H * S), delta(B * H * S);
  auto stat = [&](int64_t b, int64_t h, int64_t i) { return (b * H + h) * S + i; };

  runtime::parallel_for(B * H * qb, 1, [&](int64_t w0, int64_t w1) {
    QueryBlockState st(D);
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t b = w / (H * qb), h = (w / qb) % H, i0 = (w % qb) * kQueryBlock;
      const int64_t i1 = std::min(S, i0 + kQueryBlock);
      softmax_block(st, a, q, k, v, b, h, i0, i1);
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t r = i - i0;
        lse[stat(b, h, i)] = st.max[r] + std::log(st.sum[r]);
        delta[stat(b, h, i)] = rows::dot(a.q_row(dout, b, i, h), st.acc.data() + r * D, D) / st.sum[r];
      }
    }
  });

  // dq: each (b, h, query block) owns its rows of dq.
  runtime::parallel_for(B * H * qb, 1, [&](int64_t w0, int64_t w1) {
    std::vector<float> acc(kQueryBlock * D);
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t b = w / (H * qb), h = (w / qb) % H, i0 = (w % qb) * kQueryBlock;
      const int64_t i1 = std::min(S, i0 + kQueryBlock), kvh = h / a.group();
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t j0 = a.first_key(b, i0); j0 < i1; j0 += kKeyTile) {
        const int64_t j1 = std::min(i1, j0 + kKeyTile);
        for (int64_t i = i0; i < i1; ++i) {
          const float *qi = a.q_row(q, b, i, h), *doi = a.q_row(dout, b, i, h);
          const float l = lse[stat(b, h, i)], dl = delta[stat(b, h, i)];
          for (int64_t j = std::max(j0, a.first_key(b, i)); j < std::min(j1, i + 1); ++j) {
            const float* kj = a.kv_row(k, b, j, kvh);
            const float p = std::exp(rows::dot(qi, kj, D) * a.scale - l);
            const float ds = p * (rows::dot(doi, a.kv_row(v, b, j, kvh), D) - dl);
            rows::axpy(acc.data() + (i - i0) * D, ds * a.scale, kj, D);
          }
        }
      }
      for (int64_t i = i0; i < i1; ++i) std::copy_n(acc.data() + (i - i0) * D, D, dq + ((b * S + i) * H + h) * D);
    }
  });

  // dk, dv: each (b, kv head, key block) owns its rows and sums over the
  // group's query heads, then over queries, always in ascending order.
  const int64_t kb = (S + kKeyBlock - 1) / kKeyBlock;
  runtime::parallel_for(B * KVH * kb, 1, [&](int64_t w0, int64_t w1) {
    std::vector<float> acc_k(kKeyBlock * D), acc_v(kKeyBlock * D);
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t b = w / (KVH * kb), kvh = (w / kb) % KVH, j0 = (w % kb) * kKeyBlock;
      const int64_t j1 = std::min(S, j0 + kKeyBlock);
      std::fill(acc_k.begin(), acc_k.end(), 0.0f);
      std::fill(acc_v.begin(), acc_v.end(), 0.0f);
      for (int64_t h = kvh * a.group(); h < (kvh + 1) * a.group(); ++h) {
        // Query tiles outermost so a tile of q and dout rows stays in cache
        // while every key of the block visits it.
        const int64_t queries_end = a.query_end(b, j1 - 1);
        for (int64_t i0 = j0; i0 < queries_end; i0 += kQueryBlock) {
          const int64_t i1 = std::min(queries_end, i0 + kQueryBlock);
          for (int64_t j = j0; j < j1; ++j) {
            const float *kj = a.kv_row(k, b, j, kvh), *vj = a.kv_row(v, b, j, kvh);
            float *dkj = acc_k.data() + (j - j0) * D, *dvj = acc_v.data() + (j - j0) * D;
            for (int64_t i = std::max(i0, j); i < std::min(i1, a.query_end(b, j)); ++i) {
              const float *qi = a.q_row(q, b, i, h), *doi = a.q_row(dout, b, i, h);
              const float p = std::exp(rows::dot(qi, kj, D) * a.scale - lse[stat(b, h, i)]);
              const float ds = p * (rows::dot(doi, vj, D) - delta[stat(b, h, i)]);
              rows::axpy(dvj, p, doi, D);
              rows::axpy(dkj, ds * a.scale, qi, D);
            }
          }
        }
      }
      for (int64_t j = j0; j < j1; ++j) {
        std::copy_n(acc_k.data() + (j - j0) * D, D, dk + ((b * S + j) * KVH + kvh) * D);
        std::copy_n(acc_v.data() + (j - j0) * D, D, dv + ((b * S + j) * KVH + kvh) * D);
      }
    }
  });
}

}  // namespace horizon::cpu
