// Rotary position embedding in the Hugging Face rotate-half layout: within
// each head of D channels, channel i < D/2 pairs with channel i + D/2 and the
// pair is rotated by angle s * inv_freq[i] at sequence position s. The
// frequencies (with Llama 3 or linear scaling) and the angles are computed in
// double and only cos/sin are rounded to fp32; HF forms the angle in fp32, so
// at large positions this is the more accurate of the two. Packed documents
// give each row its own position (restarting at 0 per document).
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/cpu/kernels.h"

#include <algorithm>
#include <vector>
#include "runtime/cpu/row_reductions.h"
#include "runtime/thread_pool.h"

namespace horizon::cpu {

namespace {

/// cos and sin of s * inv_freq[i], [S, D/2] each.
struct RopeTable {
  std::vector<float> cos, sin;
};

RopeTable rope_table(int64_t S, int64_t D, const RopeParams& p) {
  const int64_t half = D / 2;
  std::vector<double> inv_freq(half);
  rope_inv_freq(inv_freq.data(), D, p);
  RopeTable t{std::vector<float>(S * half), std::vector<float>(S * half)};
  runtime::parallel_for(S, rows::grain_rows(half, 2048), [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s)
      for (int64_t i = 0; i < half; ++i) {
        const double angle = static_cast<double>(s) * inv_freq[i];
        t.cos[s * half + i] = static_cast<float>(std::cos(angle));
        t.sin[s * half + i] = static_cast<float>(std::sin(angle));
      }
  });
  return t;
}

/// Rotates every head of every row by +angle (sign = 1) or -angle (sign = -1,
/// the transpose, which is the backward). y may alias x.
void rotate(float* y, const float* x, int64_t B, int64_t S, int64_t H, int64_t D, const RopeParams& p, float sign,
            const int32_t* positions) {
  if (positions)
    for (int64_t row = 0; row < B * S; ++row)
      if (positions[row] < 0 || positions[row] >= S)
        throw std::invalid_argument("rope: position " + std::to_string(positions[row]) + " of row " +
                                    std::to_string(row) + " lies outside [0, " + std::to_string(S) + ")");
  const RopeTable t = rope_table(S, D, p);
  const int64_t half = D / 2;
  runtime::parallel_for(B * S, rows::grain_rows(H * D), [&](int64_t r0, int64_t r1) {
    for (int64_t row = r0; row < r1; ++row) {
      const int64_t pos = positions ? positions[row] : row % S;
      const float* c = t.cos.data() + pos * half;
      const float* s = t.sin.data() + pos * half;
      for (int64_t h = 0; h < H; ++h) {
        const float* xh = x + (row * H + h) * D;
        float* yh = y + (row * H + h) * D;
        for (int64_t i = 0; i < half; ++i) {
          const float x1 = xh[i], x2 = xh[i + half], sn = sign * s[i];
          yh[i] = x1 * c[i] - x2 * sn;
          yh[i + half] = x2 * c[i] + x1 * sn;
        }
      }
    }
  });
}

}  // namespace

void rope_inv_freq(double* inv_freq, int64_t D, const RopeParams& p) {
  const std::vector<double> f = ir::rope_inv_freq(D, p);
  std::copy(f.begin(), f.end(), inv_freq);
}

void rope_forward(float* y, const float* x, int64_t B, int64_t S, int64_t H, int64_t D, const RopeParams& p,
                  const int32_t* positions) {
  rotate(y, x, B, S, H, D, p, 1.0f, positions);
}

void rope_backward(float* dx, const float* dy, int64_t B, int64_t S, int64_t H, int64_t D, const RopeParams& p,
                   const int32_t* positions) {
  rotate(dx, dy, B, S, H, D, p, -1.0f, positions);
}

}  // namespace horizon::cpu
