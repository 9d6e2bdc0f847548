// Reference causal grouped-query attention and its gradient, materializing
// the full S x S probability matrix of each (batch, head): fine at test sizes
// and the most direct transcription of the math.
//   P = softmax over visible j of (q_i . k_j) / sqrt(D),  out_i = sum_j P_ij v_j
// Query head h reads kv head h / (H / KVH); key j is visible to query i iff
// j <= i and, with a window, i - window < j, and, with segment ids (packed
// documents), both tokens belong to the same document.
#include <cmath>
#include <limits>

#include "runtime/reference/op_families.h"

namespace horizon::reference::family {

namespace {

struct Dims {
  int64_t B, S, H, KVH, D, window;
  const std::vector<int32_t>* segments = nullptr;  // [B * S], or null for one document per row
};

Dims check(ir::Op op, const RefTensor& q, const RefTensor& k, const RefTensor& v, const ir::Attrs& attrs) {
  Dims d{0,
         0,
         ir::attr_int(attrs, "heads"),
         ir::attr_int(attrs, "kv_heads"),
         ir::attr_int(attrs, "head_dim"),
         static_cast<int64_t>(ir::attr_number_or(attrs, "window", 0.0))};
  require(d.KVH > 0 && d.H % d.KVH == 0, op, "heads must be a multiple of kv_heads");
  require(q.shape.size() == 3 && q.shape[2] == d.H * d.D, op, "q " + shape_str(q.shape) + " must be [B, S, H*D]");
  d.B = q.shape[0];
  d.S = q.shape[1];
  const std::vector<int64_t> kv_shape{d.B, d.S, d.KVH * d.D};
  require(k.shape == kv_shape && v.shape == kv_shape, op,
          "k " + shape_str(k.shape) + " and v " + shape_str(v.shape) + " must be " + shape_str(kv_shape));
  return d;
}

bool visible(const Dims& d, int64_t b, int64_t i, int64_t j) {
  const bool same_document = !d.segments || (*d.segments)[b * d.S + i] == (*d.segments)[b * d.S + j];
  return j <= i && (d.window <= 0 || i - d.window < j) && same_document;
}

/// Offset of channel e of head h (of `heads`) at row (b, s) of a [B, S, heads*D] tensor.
int64_t idx(const Dims& d, int64_t b, int64_t s, int64_t heads, int64_t h, int64_t e) {
  return ((b * d.S + s) * heads + h) * d.D + e;
}

/// The probabilities P[i][j] of batch b, head h (zero where masked).
std::vector<std::vector<double>> probabilities(const Dims& d, const RefTensor& q, const RefTensor& k, int64_t b,
                                               int64_t h) {
  const int64_t kvh = h / (d.H / d.KVH);
  const double scale = 1.0 / std::sqrt(static_cast<double>(d.D));
  std::vector<std::vector<double>> P(d.S, std::vector<double>(d.S, 0.0));
  for (int64_t i = 0; i < d.S; ++i) {
    double m = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < d.S; ++j) {
      if (!visible(d, b, i, j)) continue;
      double s = 0;
      for (int64_t e = 0; e < d.D; ++e) s += q.data[idx(d, b, i, d.H, h, e)] * k.data[idx(d, b, j, d.KVH, kvh, e)];
      P[i][j] = s * scale;
      m = std::max(m, P[i][j]);
    }
    double z = 0;
    for (int64_t j = 0; j < d.S; ++j)
      if (visible(d, b, i, j)) z += std::exp(P[i][j] - m);
    for (int64_t j = 0; j < d.S; ++j) P[i][j] = visible(d, b, i, j) ? std::exp(P[i][j] - m) / z : 0.0;
  }
  return P;
}

}  // namespace

std::vector<RefTensor> attention(ir::Op op, const Operands& in, const ir::Attrs& attrs) {
  const bool is_grad = op == ir::Op::attention_grad;
  const RefTensor& q = *in[is_grad ? 1 : 0];
  const RefTensor& k = *in[is_grad ? 2 : 1];
  const RefTensor& v = *in[is_grad ? 3 : 2];
  Dims d = check(op, q, k, v, attrs);
  if (const size_t seg = is_grad ? 4 : 3; in.size() > seg) {
    require(static_cast<int64_t>(in[seg]->ints.size()) == d.B * d.S, op,
            "segments " + shape_str(in[seg]->shape) + " must be [B, S] of q " + shape_str(q.shape));
    d.segments = &in[seg]->ints;
  }
  const double scale = 1.0 / std::sqrt(static_cast<double>(d.D));
  RefTensor out = RefTensor::zeros(q.shape), dq = RefTensor::zeros(q.shape);
  RefTensor dk = RefTensor::zeros(k.shape), dv = RefTensor::zeros(v.shape);
  if (is_grad) require(in[0]->shape == q.shape, op, "dout must have q's shape " + shape_str(q.shape));

  for (int64_t b = 0; b < d.B; ++b)
    for (int64_t h = 0; h < d.H; ++h) {
      const int64_t kvh = h / (d.H / d.KVH);
      const auto P = probabilities(d, q, k, b, h);
      if (!is_grad) {
        for (int64_t i = 0; i < d.S; ++i)
          for (int64_t j = 0; j < d.S; ++j)
            for (int64_t e = 0; e < d.D; ++e)
              out.data[idx(d, b, i, d.H, h, e)] += P[i][j] * v.data[idx(d, b, j, d.KVH, kvh, e)];
        continue;
      }
      const RefTensor& dout = *in[0];
      for (int64_t i = 0; i < d.S; ++i) {
        // dP_ij = dout_i . v_j; the softmax Jacobian gives dS_ij = P_ij (dP_ij - sum_l P_il dP_il).
        std::vector<double> dP(d.S, 0.0);
        double row = 0;
        for (int64_t j = 0; j < d.S; ++j) {
          for (int64_t e = 0; e < d.D; ++e)
            dP[j] += dout.data[idx(d, b, i, d.H, h, e)] * v.data[idx(d, b, j, d.KVH, kvh, e)];
          row += P[i][j] * dP[j];
        }
        for (int64_t j = 0; j < d.S; ++j) {
          const double dS = P[i][j] * (dP[j] - row);
          for (int64_t e = 0; e < d.D; ++e) {
            dv.data[idx(d, b, j, d.KVH, kvh, e)] += P[i][j] * dout.data[idx(d, b, i, d.H, h, e)];
            dq.data[idx(d, b, i, d.H, h, e)] += scale * dS * k.data[idx(d, b, j, d.KVH, kvh, e)];
            dk.data[idx(d, b, j, d.KVH, kvh, e)] += scale * dS * q.data[idx(d, b, i, d.H, h, e)];
          }
        }
      }
    }
  if (is_grad) return {dq, dk, dv};
  return {out};
}

}  // namespace horizon::reference::family
