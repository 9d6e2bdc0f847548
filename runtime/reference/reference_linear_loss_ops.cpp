// Reference linear layer (y = x w^T with w in Hugging Face [out, in] layout)
// and its two gradients, the cross-entropy loss: the mean over rows whose
// target is >= 0 of logsumexp(logits) - logits[target], and the lm head fused
// with it, as exactly that composition (chunking changes no math).
#include <algorithm>
#include <cmath>

#include "runtime/reference/op_families.h"

namespace horizon::reference::family {

std::vector<RefTensor> linear(ir::Op op, const Operands& in, const ir::Attrs&) {
  const RefTensor &a = *in[0], &b = *in[1];
  switch (op) {
    case ir::Op::linear: {  // x[..., K], w[N, K] -> y[..., N]
      require(b.shape.size() == 2 && b.shape[1] == a.last(), op,
              "w " + shape_str(b.shape) + " must be [out, " + std::to_string(a.last()) + "]");
      const int64_t R = a.rows(), K = a.last(), N = b.shape[0];
      std::vector<int64_t> shape = a.shape;
      shape.back() = N;
      RefTensor y = RefTensor::zeros(shape);
      for (int64_t r = 0; r < R; ++r)
        for (int64_t n = 0; n < N; ++n) {
          double s = 0;
          for (int64_t k = 0; k < K; ++k) s += a.data[r * K + k] * b.data[n * K + k];
          y.data[r * N + n] = s;
        }
      return {y};
    }
    case ir::Op::linear_grad_x: {  // dy[..., N], w[N, K] -> dx[..., K]
      require(b.shape.size() == 2 && b.shape[0] == a.last(), op,
              "w " + shape_str(b.shape) + " must be [" + std::to_string(a.last()) + ", in]");
      const int64_t R = a.rows(), N = a.last(), K = b.shape[1];
      std::vector<int64_t> shape = a.shape;
      shape.back() = K;
      RefTensor dx = RefTensor::zeros(shape);
      for (int64_t r = 0; r < R; ++r)
        for (int64_t k = 0; k < K; ++k) {
          double s = 0;
          for (int64_t n = 0; n < N; ++n) s += a.data[r * N + n] * b.data[n * K + k];
          dx.data[r * K + k] = s;
        }
      return {dx};
    }
    case ir::Op::linear_grad_w: {  // dy[..., N], x[..., K] -> dw[N, K]
      require(a.rows() == b.rows(), op,
              "dy " + shape_str(a.shape) + " and x " + shape_str(b.shape) + " differ in rows");
      const int64_t R = a.rows(), N = a.last(), K = b.last();
      RefTensor dw = RefTensor::zeros({N, K});
      for (int64_t n = 0; n < N; ++n)
        for (int64_t k = 0; k < K; ++k) {
          double s = 0;
          for (int64_t r = 0; r < R; ++r) s += a.data[r * N + n] * b.data[r * K + k];
          dw.data[n * K + k] = s;
        }
      return {dw};
    }
    default:
      break;
  }
  require(false, op, "not a linear op");
  return {};
}

std::vector<RefTensor> loss(ir::Op op, const Operands& in, const ir::Attrs&) {
  const RefTensor &logits = *in[0], &targets = *in[1];
  const int64_t N = logits.rows(), V = logits.last();
  require(static_cast<int64_t>(targets.ints.size()) == N, op,
          "targets " + shape_str(targets.shape) + " must hold one i32 per row of logits " + shape_str(logits.shape));
  int64_t count = 0;
  for (int32_t t : targets.ints) {
    require(t < V, op, "target " + std::to_string(t) + " is outside the vocabulary of " + std::to_string(V));
    count += t >= 0;
  }
  // logsumexp of each row, shifted by the row max so large logits do not overflow.
  std::vector<double> lse(N, 0.0);
  for (int64_t n = 0; n < N; ++n) {
    const double* row = logits.data.data() + n * V;
    const double m = *std::max_element(row, row + V);
    double s = 0;
    for (int64_t v = 0; v < V; ++v) s += std::exp(row[v] - m);
    lse[n] = m + std::log(s);
  }
  if (op == ir::Op::cross_entropy) {
    RefTensor y = RefTensor::zeros({});
    for (int64_t n = 0; n < N; ++n)
      if (targets.ints[n] >= 0) y.data[0] += lse[n] - logits.data[n * V + targets.ints[n]];
    if (count > 0) y.data[0] /= static_cast<double>(count);
    return {y};
  }
  require(op == ir::Op::cross_entropy_grad, op, "not a loss op");
  // d/dlogit_v of (lse - logit_t) / count = (softmax_v - [v == t]) / count.
  RefTensor d = RefTensor::zeros(logits.shape);
  for (int64_t n = 0; n < N; ++n) {
    const int32_t t = targets.ints[n];
    if (t < 0) continue;
    for (int64_t v = 0; v < V; ++v)
      d.data[n * V + v] =
          (std::exp(logits.data[n * V + v] - lse[n]) - (v == t ? 1.0 : 0.0)) / static_cast<double>(count);
  }
  return {d};
}

std::vector<RefTensor> linear_loss(ir::Op op, const Operands& in, const ir::Attrs& attrs) {
  const RefTensor &h = *in[0], &w = *in[1], &targets = *in[2];
  const RefTensor logits = linear(ir::Op::linear, {&h, &w}, attrs)[0];
  RefTensor loss_value = loss(ir::Op::cross_entropy, {&logits, &targets}, attrs)[0];
  if (op == ir::Op::linear_cross_entropy) return {loss_value};
  require(op == ir::Op::linear_cross_entropy_grad, op, "not a fused lm head loss op");
  const RefTensor d_logits = loss(ir::Op::cross_entropy_grad, {&logits, &targets}, attrs)[0];
  RefTensor dh = linear(ir::Op::linear_grad_x, {&d_logits, &w}, attrs)[0];
  RefTensor dw = linear(ir::Op::linear_grad_w, {&d_logits, &h}, attrs)[0];
  return {std::move(loss_value), std::move(dh), std::move(dw)};
}

}  // namespace horizon::reference::family
