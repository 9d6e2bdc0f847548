// RMSNorm and LayerNorm over the last dim, forward and backward. The forward
// is fp32 as Hugging Face computes it (LlamaRMSNorm: x * rsqrt(mean(x^2) +
// eps), then times w; nn.LayerNorm: biased variance); the backward forms its
// per-row scalars in double because dx cancels badly for small C. The weight
// and bias gradients sum over rows in fixed row groups combined in a fixed
// order, so the bits do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <vector>

#include "runtime/cpu/kernels.h"
#include "runtime/cpu/row_reductions.h"
#include "runtime/thread_pool.h"

namespace horizon::cpu {

namespace {

/// Rows per partial sum of dw (and db): a function of N only, and at most 64
/// partials, so the scratch stays small and the reduction order is fixed.
int64_t rows_per_group(int64_t N) { return std::max<int64_t>(32, (N + 63) / 64); }

/// out[c] = sum over groups g of partial[g][c], in group order, parallel over columns.
void combine_groups(float* out, const std::vector<float>& partial, int64_t groups, int64_t C) {
  runtime::parallel_for(C, 4096, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      float s = 0;
      for (int64_t g = 0; g < groups; ++g) s += partial[g * C + c];
      out[c] = s;
    }
  });
}

}  // namespace

void rms_norm_forward(float* y, const float* x, const float* w, int64_t N, int64_t C, float eps) {
  runtime::parallel_for(N, rows::grain_rows(C), [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      const float* xr = x + n * C;
      float* yr = y + n * C;
      const float r = 1.0f / std::sqrt(rows::dot(xr, xr, C) / static_cast<float>(C) + eps);
      // HF normalizes first and multiplies by the weight after, in that order.
      for (int64_t c = 0; c < C; ++c) yr[c] = (xr[c] * r) * w[c];
    }
  });
}

void rms_norm_backward(float* dx, float* dw, const float* dy, const float* x, const float* w, int64_t N, int64_t C,
                       float eps) {
  // y = w * x * r with r = (mean(x^2) + eps)^-1/2, so with g = dy * w:
  // dx = r * g - x * r^3 * <g, x> / C, and dw = sum over rows of dy * x * r.
  // The two terms of dx cancel down to a fraction ~eps / mean(x^2) of either
  // when C is tiny (entirely at C = 1), so the row scalars and dx are formed
  // in double: fp32 would leave ~1% error there.
  const int64_t per = rows_per_group(N), groups = (N + per - 1) / per;
  std::vector<float> partial(groups * C, 0.0f);
  runtime::parallel_for(groups, 1, [&](int64_t g0, int64_t g1) {
    for (int64_t grp = g0; grp < g1; ++grp) {
      float* dwp = partial.data() + grp * C;
      for (int64_t n = grp * per; n < std::min(N, (grp + 1) * per); ++n) {
        const float *xr = x + n * C, *dyr = dy + n * C;
        float* dxr = dx + n * C;
        double ss = 0, gx = 0;
        for (int64_t c = 0; c < C; ++c) {
          ss += static_cast<double>(xr[c]) * xr[c];
          gx += static_cast<double>(dyr[c] * w[c]) * xr[c];
        }
        const double r = 1.0 / std::sqrt(ss / static_cast<double>(C) + eps);
        const double k = gx * r * r * r / static_cast<double>(C);
        const float rf = static_cast<float>(r);
        for (int64_t c = 0; c < C; ++c) {
          dxr[c] = static_cast<float>(r * (dyr[c] * w[c]) - k * xr[c]);
          dwp[c] += dyr[c] * (xr[c] * rf);
        }
      }
    }
  });
  combine_groups(dw, partial, groups, C);
}

void layer_norm_forward(float* y, const float* x, const float* w, const float* b, int64_t N, int64_t C, float eps) {
  runtime::parallel_for(N, rows::grain_rows(C), [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      const float* xr = x + n * C;
      float* yr = y + n * C;
      const float mean = rows::sum(xr, C) / static_cast<float>(C);
      // Two passes: the variance of the centered row, which does not cancel.
      float var = 0;
      for (int64_t c = 0; c < C; ++c) var += (xr[c] - mean) * (xr[c] - mean);
      const float rstd = 1.0f / std::sqrt(var / static_cast<float>(C) + eps);
      for (int64_t c = 0; c < C; ++c) yr[c] = (xr[c] - mean) * rstd * w[c] + b[c];
    }
  });
}

void layer_norm_backward(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w, int64_t N,
                         int64_t C, float eps) {
  // With xhat = (x - mean) * rstd and g = dy * w:
  // dx = rstd * (g - mean(g) - xhat * mean(g * xhat)); dw = sum dy * xhat; db = sum dy.
  // dx is g with its components along 1 and xhat removed, which cancels
  // almost entirely for small C, so the row math runs in double (as for RMSNorm).
  const int64_t per = rows_per_group(N), groups = (N + per - 1) / per;
  std::vector<float> partial_w(groups * C, 0.0f), partial_b(groups * C, 0.0f);
  runtime::parallel_for(groups, 1, [&](int64_t g0, int64_t g1) {
    std::vector<double> g(C), xhat(C);
    for (int64_t grp = g0; grp < g1; ++grp) {
      float* dwp = partial_w.data() + grp * C;
      float* dbp = partial_b.data() + grp * C;
      for (int64_t n = grp * per; n < std::min(N, (grp + 1) * per); ++n) {
        const float *xr = x + n * C, *dyr = dy + n * C;
        float* dxr = dx + n * C;
        double mean = 0, var = 0;
        for (int64_t c = 0; c < C; ++c) mean += xr[c];
        mean /= static_cast<double>(C);
        for (int64_t c = 0; c < C; ++c) var += (xr[c] - mean) * (xr[c] - mean);
        const double rstd = 1.0 / std::sqrt(var / static_cast<double>(C) + eps);
        double sum_g = 0, sum_gx = 0;
        for (int64_t c = 0; c < C; ++c) {
          xhat[c] = (xr[c] - mean) * rstd;
          g[c] = static_cast<double>(dyr[c]) * w[c];
          sum_g += g[c];
          sum_gx += g[c] * xhat[c];
        }
        const double mean_g = sum_g / static_cast<double>(C), mean_gx = sum_gx / static_cast<double>(C);
        for (int64_t c = 0; c < C; ++c) {
          dxr[c] = static_cast<float>(rstd * (g[c] - mean_g - xhat[c] * mean_gx));
          dwp[c] += dyr[c] * static_cast<float>(xhat[c]);
          dbp[c] += dyr[c];
        }
      }
    }
  });
  combine_groups(dw, partial_w, groups, C);
  combine_groups(db, partial_b, groups, C);
}

}  // namespace horizon::cpu
