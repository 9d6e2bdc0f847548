// Dispatch of reference_op() to the op families, and the elementwise family:
// add, mul, bias_add, silu, gelu (tanh approximation) and their gradients.
#include "runtime/reference/reference_ops.h"

#include <cmath>
#include <numbers>

#include "runtime/reference/op_families.h"

namespace horizon::reference {

namespace family {

namespace {

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

/// The argument of tanh in GELU's tanh approximation, and its derivative.
const double kGeluK = std::sqrt(2.0 / std::numbers::pi);
double gelu_inner(double x) { return kGeluK * (x + 0.044715 * x * x * x); }
double gelu_inner_dx(double x) { return kGeluK * (1.0 + 3.0 * 0.044715 * x * x); }

RefTensor map2(ir::Op op, const RefTensor& a, const RefTensor& b, double (*f)(double, double)) {
  require(a.shape == b.shape, op, "operand shapes " + shape_str(a.shape) + " and " + shape_str(b.shape) + " differ");
  RefTensor y = RefTensor::zeros(a.shape);
  for (size_t i = 0; i < y.data.size(); ++i) y.data[i] = f(a.data[i], b.data[i]);
  return y;
}

RefTensor map1(const RefTensor& a, double (*f)(double)) {
  RefTensor y = RefTensor::zeros(a.shape);
  for (size_t i = 0; i < y.data.size(); ++i) y.data[i] = f(a.data[i]);
  return y;
}

}  // namespace

std::vector<RefTensor> elementwise(ir::Op op, const Operands& in, const ir::Attrs&) {
  switch (op) {
    case ir::Op::add:
      return {map2(op, *in[0], *in[1], [](double a, double b) { return a + b; })};
    case ir::Op::mul:
      return {map2(op, *in[0], *in[1], [](double a, double b) { return a * b; })};
    case ir::Op::silu:
      return {map1(*in[0], [](double x) { return x * sigmoid(x); })};
    case ir::Op::gelu:
      return {map1(*in[0], [](double x) { return 0.5 * x * (1.0 + std::tanh(gelu_inner(x))); })};
    case ir::Op::silu_grad:
      // d/dx [x sigmoid(x)] = sigmoid(x) + x sigmoid(x) (1 - sigmoid(x)).
      return {map2(op, *in[0], *in[1], [](double dy, double x) {
        const double s = sigmoid(x);
        return dy * (s + x * s * (1.0 - s));
      })};
    case ir::Op::gelu_grad:
      // d/dx [x (1 + tanh u(x)) / 2] = (1 + tanh u) / 2 + x sech^2(u) u'(x) / 2.
      return {map2(op, *in[0], *in[1], [](double dy, double x) {
        const double sech = 1.0 / std::cosh(gelu_inner(x));
        return dy * (0.5 * (1.0 + std::tanh(gelu_inner(x))) + 0.5 * x * sech * sech * gelu_inner_dx(x));
      })};
    case ir::Op::bias_add: {
      const RefTensor &x = *in[0], &b = *in[1];
      require(b.shape.size() == 1 && b.shape[0] == x.last(), op,
              "bias " + shape_str(b.shape) + " must be [last dim of x " + shape_str(x.shape) + "]");
      RefTensor y = RefTensor::zeros(x.shape);
      for (int64_t r = 0; r < x.rows(); ++r)
        for (int64_t c = 0; c < x.last(); ++c) y.data[r * x.last() + c] = x.data[r * x.last() + c] + b.data[c];
      return {y};
    }
    case ir::Op::bias_add_grad: {
      const RefTensor& dy = *in[0];
      RefTensor db = RefTensor::zeros({dy.last()});
      for (int64_t r = 0; r < dy.rows(); ++r)
        for (int64_t c = 0; c < dy.last(); ++c) db.data[c] += dy.data[r * dy.last() + c];
      return {db};
    }
    default:
      break;
  }
  require(false, op, "not an elementwise op");
  return {};
}

}  // namespace family

std::vector<RefTensor> reference_op(ir::Op op, const std::vector<const RefTensor*>& operands, const ir::Attrs& attrs) {
  family::require(ir::op_takes_operands(op, static_cast<int>(operands.size())), op,
                  "takes " + ir::operand_count(op) + " operands, got " + std::to_string(operands.size()));
  for (const RefTensor* t : operands) family::require(t != nullptr, op, "an operand is missing");
  switch (op) {
    case ir::Op::add:
    case ir::Op::mul:
    case ir::Op::silu:
    case ir::Op::gelu:
    case ir::Op::silu_grad:
    case ir::Op::gelu_grad:
    case ir::Op::bias_add:
    case ir::Op::bias_add_grad:
      return family::elementwise(op, operands, attrs);
    case ir::Op::linear:
    case ir::Op::linear_grad_x:
    case ir::Op::linear_grad_w:
      return family::linear(op, operands, attrs);
    case ir::Op::rms_norm:
    case ir::Op::rms_norm_grad:
    case ir::Op::layer_norm:
    case ir::Op::layer_norm_grad:
      return family::norm(op, operands, attrs);
    case ir::Op::embedding:
    case ir::Op::embedding_grad:
    case ir::Op::add_positions:
    case ir::Op::add_positions_grad:
    case ir::Op::rope:
    case ir::Op::rope_grad:
      return family::position(op, operands, attrs);
    case ir::Op::attention:
    case ir::Op::attention_grad:
      return family::attention(op, operands, attrs);
    case ir::Op::cross_entropy:
    case ir::Op::cross_entropy_grad:
      return family::loss(op, operands, attrs);
    case ir::Op::linear_cross_entropy:
    case ir::Op::linear_cross_entropy_grad:
      return family::linear_loss(op, operands, attrs);
    case ir::Op::sequence_logprob:
    case ir::Op::sequence_logprob_grad:
    case ir::Op::dpo_loss:
    case ir::Op::dpo_loss_grad:
      return family::preference(op, operands, attrs);
  }
  family::require(false, op, "has no reference implementation");
  return {};
}

}  // namespace horizon::reference
