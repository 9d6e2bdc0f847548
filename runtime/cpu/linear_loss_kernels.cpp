// The lm head fused with the cross-entropy loss (linear_cross_entropy and its
// gradient) on the CPU, one chunk of rows at a time: the GEMM of a [rows, V]
// logits chunk, the chunk's per-row losses and d_logits, then its dh rows and
// its share of dw. Only one chunk of logits exists at once, which is the
// point: V reaches 150k. The loss is the per-row losses of all N rows summed
// in row order, so its bits do not depend on the chunk; dw is summed chunk
// after chunk, so its rounding does (as any change of GEMM blocking would).
#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/cpu/kernels.h"

namespace horizon::cpu {
namespace {

bool any_target(const int32_t* targets, int64_t n) {
  return std::any_of(targets, targets + n, [](int32_t t) { return t >= 0; });
}

/// The forward when dh and dw are null, else the backward too.
float linear_loss(float* dh, float* dw, const float* h, const float* w, const int32_t* targets, int64_t N, int64_t C,
                  int64_t V, int64_t chunk, int64_t step_count) {
  if (chunk < 1) throw std::invalid_argument("linear_cross_entropy: chunk must be >= 1, got " + std::to_string(chunk));
  const int64_t count = step_count < 0 ? count_targets(targets, N) : step_count;
  const int64_t R = std::min(chunk, N);
  std::vector<double> row_loss(static_cast<size_t>(N), 0.0);
  std::vector<float> logits(static_cast<size_t>(R * V)), dlogits(dh ? static_cast<size_t>(R * V) : 0);
  bool dw_written = false;
  for (int64_t r0 = 0; r0 < N; r0 += R) {
    const int64_t rows = std::min(R, N - r0);
    // A fully masked chunk (a prompt under SFT label masking) adds nothing.
    if (!any_target(targets + r0, rows)) {
      if (dh) std::fill(dh + r0 * C, dh + (r0 + rows) * C, 0.0f);
      continue;
    }
    linear_forward(logits.data(), h + r0 * C, w, rows, C, V);
    cross_entropy_rows(row_loss.data() + r0, dh ? dlogits.data() : nullptr, logits.data(), targets + r0, rows, V,
                       count);
    if (!dh) continue;
    linear_backward_x(dh + r0 * C, dlogits.data(), w, rows, C, V);
    if (dw_written)
      linear_backward_w_add(dw, dlogits.data(), h + r0 * C, rows, C, V);
    else
      linear_backward_w(dw, dlogits.data(), h + r0 * C, rows, C, V);
    dw_written = true;
  }
  if (dw && !dw_written) std::fill(dw, dw + V * C, 0.0f);
  return mean_loss(row_loss.data(), N, count);
}

}  // namespace

float linear_cross_entropy_forward(const float* h, const float* w, const int32_t* targets, int64_t N, int64_t C,
                                   int64_t V, int64_t chunk, int64_t count) {
  return linear_loss(nullptr, nullptr, h, w, targets, N, C, V, chunk, count);
}

float linear_cross_entropy_backward(float* dh, float* dw, const float* h, const float* w, const int32_t* targets,
                                    int64_t N, int64_t C, int64_t V, int64_t chunk, int64_t count) {
  return linear_loss(dh, dw, h, w, targets, N, C, V, chunk, count);
}

}  // namespace horizon::cpu
