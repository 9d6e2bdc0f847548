// Reference RMSNorm and LayerNorm over the last dim and their gradients
// (RMSNorm with `group_size` normalizes each group of that many elements of
// the last dim as its own row, sharing one weight of that length). The
// gradients are the vector-Jacobian products written out from the Jacobian
// of the normalized row, x_hat, with respect to x:
//   RMSNorm:   x_hat = x r,  r = (mean(x^2) + eps)^-1/2,
//              d x_hat_j / d x_i = r (delta_ij - x_i x_j r^2 / C)
//   LayerNorm: x_hat = (x - mean) s,  s = (var + eps)^-1/2 (biased variance),
//              d x_hat_j / d x_i = s (delta_ij - 1/C - x_hat_i x_hat_j / C)
#include <cmath>

#include "runtime/reference/op_families.h"

namespace horizon::reference::family {

namespace {

/// The length of the rows normalized: `group_size` where given, else the last dim.
int64_t row_width(ir::Op op, const RefTensor& x, const ir::Attrs& attrs) {
  if (!attrs.count("group_size")) return x.last();
  const int64_t g = ir::attr_int(attrs, "group_size");
  require(g > 0 && x.last() % g == 0, op,
          "group_size " + std::to_string(g) + " must divide the last dim of x " + shape_str(x.shape));
  return g;
}

void check_weight(ir::Op op, const RefTensor& w, int64_t C, const char* what) {
  require(w.shape.size() == 1 && w.shape[0] == C, op,
          std::string(what) + " " + shape_str(w.shape) + " must be [" + std::to_string(C) + "], the normalized width");
}

struct RowStats {
  double mean = 0, scale = 0;  // the x_hat of the row is (x - mean) * scale
};

RowStats rms_stats(const double* x, int64_t C, double eps) {
  double ss = 0;
  for (int64_t c = 0; c < C; ++c) ss += x[c] * x[c];
  return {0.0, 1.0 / std::sqrt(ss / static_cast<double>(C) + eps)};
}

RowStats layer_stats(const double* x, int64_t C, double eps) {
  double mean = 0, var = 0;
  for (int64_t c = 0; c < C; ++c) mean += x[c];
  mean /= static_cast<double>(C);
  for (int64_t c = 0; c < C; ++c) var += (x[c] - mean) * (x[c] - mean);
  return {mean, 1.0 / std::sqrt(var / static_cast<double>(C) + eps)};
}

}  // namespace

std::vector<RefTensor> norm(ir::Op op, const Operands& in, const ir::Attrs& attrs) {
  const double eps = ir::attr_number(attrs, "eps");
  const bool is_grad = op == ir::Op::rms_norm_grad || op == ir::Op::layer_norm_grad;
  const bool is_rms = op == ir::Op::rms_norm || op == ir::Op::rms_norm_grad;
  const RefTensor& x = is_grad ? *in[1] : *in[0];
  const RefTensor& w = is_grad ? *in[2] : *in[1];
  const int64_t C = is_rms ? row_width(op, x, attrs) : x.last();
  const int64_t R = C == 0 ? 0 : x.elements() / C;
  check_weight(op, w, C, "weight");
  auto stats = [&](int64_t r) {
    return is_rms ? rms_stats(x.data.data() + r * C, C, eps) : layer_stats(x.data.data() + r * C, C, eps);
  };

  if (!is_grad) {
    if (!is_rms) check_weight(op, *in[2], C, "bias");
    RefTensor y = RefTensor::zeros(x.shape);
    for (int64_t r = 0; r < R; ++r) {
      const RowStats st = stats(r);
      for (int64_t c = 0; c < C; ++c) {
        const double xhat = (x.data[r * C + c] - st.mean) * st.scale;
        y.data[r * C + c] = xhat * w.data[c] + (is_rms ? 0.0 : in[2]->data[c]);
      }
    }
    return {y};
  }

  const RefTensor& dy = *in[0];
  require(dy.shape == x.shape, op, "dy " + shape_str(dy.shape) + " and x " + shape_str(x.shape) + " differ");
  RefTensor dx = RefTensor::zeros(x.shape), dw = RefTensor::zeros({C}), db = RefTensor::zeros({C});
  std::vector<double> xhat(C), g(C);
  for (int64_t r = 0; r < R; ++r) {
    const RowStats st = stats(r);
    double sum_g = 0, sum_g_xhat = 0;
    for (int64_t c = 0; c < C; ++c) {
      xhat[c] = (x.data[r * C + c] - st.mean) * st.scale;
      g[c] = dy.data[r * C + c] * w.data[c];  // the cotangent of x_hat
      sum_g += g[c];
      sum_g_xhat += g[c] * xhat[c];
      dw.data[c] += dy.data[r * C + c] * xhat[c];
      db.data[c] += dy.data[r * C + c];
    }
    // dx_i = sum_j g_j d x_hat_j / d x_i, with the Jacobians above (for RMSNorm
    // x_i r^2 = x_hat_i r, so x_i x_j r^2 / C = x_hat_i x_hat_j / C as well).
    for (int64_t i = 0; i < C; ++i) {
      const double centered = is_rms ? 0.0 : sum_g / static_cast<double>(C);
      dx.data[r * C + i] = st.scale * (g[i] - centered - xhat[i] * sum_g_xhat / static_cast<double>(C));
    }
  }
  if (is_rms) return {dx, dw};
  return {dx, dw, db};
}

}  // namespace horizon::reference::family
