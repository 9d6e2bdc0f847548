// Token and learned-position embeddings, forward and backward. The table
// gradients are scatter-adds; each worker owns a range of table rows and
// scans all inputs in order, so every row is summed in input order without
// atomics and the bits do not depend on the thread count.
#include <algorithm>

#include "runtime/cpu/kernels.h"
#include "runtime/cpu/row_reductions.h"
#include "runtime/thread_pool.h"

namespace horizon::cpu {

void embedding_forward(float* y, const int32_t* tokens, const float* table, int64_t N, int64_t C) {
  runtime::parallel_for(N, rows::grain_rows(C), [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) std::copy_n(table + static_cast<int64_t>(tokens[n]) * C, C, y + n * C);
  });
}

void embedding_backward(float* dtable, const float* dy, const int32_t* tokens, int64_t N, int64_t C, int64_t V) {
  // A vocabulary row range per worker; each worker rereads the token list,
  // which is cheap next to the N x C rows of dy it would otherwise contend on.
  runtime::parallel_for(V, std::max<int64_t>(rows::grain_rows(C), V / 64), [&](int64_t v0, int64_t v1) {
    std::fill(dtable + v0 * C, dtable + v1 * C, 0.0f);
    for (int64_t n = 0; n < N; ++n) {
      const int64_t t = tokens[n];
      if (t >= v0 && t < v1) rows::axpy(dtable + t * C, 1.0f, dy + n * C, C);
    }
  });
}

void add_positions_forward(float* y, const float* x, const float* table, int64_t B, int64_t S, int64_t C) {
  runtime::parallel_for(B * S, rows::grain_rows(C), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* pos = table + (r % S) * C;
      for (int64_t c = 0; c < C; ++c) y[r * C + c] = x[r * C + c] + pos[c];
    }
  });
}

void add_positions_backward(float* dtable, const float* dy, int64_t B, int64_t S, int64_t C, int64_t P) {
  runtime::parallel_for(P, rows::grain_rows(C * std::max<int64_t>(B, 1)), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      float* row = dtable + p * C;
      std::fill(row, row + C, 0.0f);
      if (p >= S) continue;  // positions past this sequence length get no gradient
      for (int64_t b = 0; b < B; ++b) rows::axpy(row, 1.0f, dy + (b * S + p) * C, C);
    }
  });
}

}  // namespace horizon::cpu
