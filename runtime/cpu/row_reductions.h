// Dot products and sums over one row, shared by the fp32 kernels. Eight
// independent accumulators in a fixed lane order let the compiler vectorize
// without -ffast-math while the summation order, and so the result bits, stay
// a function of the length alone (the determinism every kernel promises).
#pragma once

#include <cstdint>

namespace horizon::cpu::rows {

/// Sum of a[i] * b[i] for i < n.
inline float dot(const float* a, const float* b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) acc[l] += a[i + l] * b[i + l];
  float tail = 0;
  for (; i < n; ++i) tail += a[i] * b[i];
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail;
}

/// Sum of a[i] for i < n.
inline float sum(const float* a, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) acc[l] += a[i + l];
  float tail = 0;
  for (; i < n; ++i) tail += a[i];
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail;
}

/// y[i] += a * x[i] for i < n.
inline void axpy(float* y, float a, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

/// Rows per work item so that one item touches about `target` elements: large
/// enough to amortize the pool's dispatch, small enough to balance the threads.
inline int64_t grain_rows(int64_t row_elements, int64_t target = 16384) {
  return row_elements > 0 && row_elements < target ? target / row_elements : 1;
}

}  // namespace horizon::cpu::rows
