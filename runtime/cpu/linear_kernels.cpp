// Linear layers on the CPU: the three GEMMs of y = x @ w^T (w in Hugging Face
// [out, in] layout) through OpenBLAS, and the bias gradient. The GEMMs use
// beta = 0 so they overwrite their output, as the kernel interface promises,
// except linear_backward_w_add (beta = 1), which sums dw over row chunks.
#include <cblas.h>

#include <algorithm>

#include "runtime/cpu/kernels.h"
#include "runtime/cpu/row_reductions.h"
#include "runtime/thread_pool.h"

namespace horizon::cpu {

namespace {

/// OpenBLAS reads no operand when the inner dimension is 0 and, with beta = 0,
/// is documented not to read C; a plain loop makes the "all zeros" result
/// explicit for that degenerate case instead of relying on it.
void fill_zero(float* y, int64_t n) {
  runtime::parallel_for(n, 1 << 16, [&](int64_t i0, int64_t i1) { std::fill(y + i0, y + i1, 0.0f); });
}

blasint as_blas(int64_t v) { return static_cast<blasint>(v); }

}  // namespace

void linear_forward(float* y, const float* x, const float* w, int64_t N, int64_t I, int64_t O) {
  if (N == 0 || O == 0) return;
  if (I == 0) return fill_zero(y, N * O);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, as_blas(N), as_blas(O), as_blas(I), 1.0f, x, as_blas(I), w,
              as_blas(I), 0.0f, y, as_blas(O));
}

void linear_backward_x(float* dx, const float* dy, const float* w, int64_t N, int64_t I, int64_t O) {
  if (N == 0 || I == 0) return;
  if (O == 0) return fill_zero(dx, N * I);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, as_blas(N), as_blas(I), as_blas(O), 1.0f, dy, as_blas(O), w,
              as_blas(I), 0.0f, dx, as_blas(I));
}

void linear_backward_w(float* dw, const float* dy, const float* x, int64_t N, int64_t I, int64_t O) {
  if (O == 0 || I == 0) return;
  if (N == 0) return fill_zero(dw, O * I);
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, as_blas(O), as_blas(I), as_blas(N), 1.0f, dy, as_blas(O), x,
              as_blas(I), 0.0f, dw, as_blas(I));
}

void linear_backward_w_add(float* dw, const float* dy, const float* x, int64_t N, int64_t I, int64_t O) {
  if (O == 0 || I == 0 || N == 0) return;
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, as_blas(O), as_blas(I), as_blas(N), 1.0f, dy, as_blas(O), x,
              as_blas(I), 1.0f, dw, as_blas(I));
}

void bias_backward(float* db, const float* dy, int64_t N, int64_t O) {
  // Each worker owns a block of columns and walks the rows in order, so every
  // db[o] is summed in row order whatever the thread count.
  constexpr int64_t kColumns = 256;
  const int64_t blocks = (O + kColumns - 1) / kColumns;
  runtime::parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t o0 = blk * kColumns, o1 = std::min(O, o0 + kColumns);
      float* acc = db + o0;
      std::fill(acc, db + o1, 0.0f);
      for (int64_t n = 0; n < N; ++n) rows::axpy(acc, 1.0f, dy + n * O + o0, o1 - o0);
    }
  });
}

}  // namespace horizon::cpu
