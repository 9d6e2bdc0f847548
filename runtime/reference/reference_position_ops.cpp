// Reference ops that place values by token or position: token embedding,
// learned position embedding, rotary embedding, and their gradients. Rotary
// embedding follows Hugging Face's rotate-half layout: in each head of D
// channels, channel i < D/2 and channel i + D/2 form a pair rotated by angle
// p * inv_freq[i], where p is the row's index along the sequence dim (the
// second to last).
#include <cmath>
#include <numbers>

#include "runtime/reference/op_families.h"
#include "runtime/reference/reference_ops.h"

namespace horizon::reference {

std::vector<double> reference_rope_inv_freq(int64_t head_dim, const ir::Attrs& attrs) {
  const double theta = ir::attr_number(attrs, "theta");
  const double factor = ir::attr_number_or(attrs, "scaling_factor", 0.0);
  const double low = ir::attr_number_or(attrs, "low_freq_factor", 0.0);
  const double high = ir::attr_number_or(attrs, "high_freq_factor", 0.0);
  const double original = ir::attr_number_or(attrs, "original_max_positions", 0.0);
  std::vector<double> inv_freq;
  for (int64_t i = 0; i < head_dim / 2; ++i) {
    const double base = std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(head_dim));
    if (low <= 0) {  // no Llama 3 scaling: plain, or linear (positions / factor)
      inv_freq.push_back(factor > 0 ? base / factor : base);
      continue;
    }
    // Llama 3: a frequency whose wavelength fits `original / high` times into
    // the original context is kept, one that fits fewer than `original / low`
    // times is divided by the factor, and in between the two are blended
    // linearly in original / wavelength.
    const double wavelen = 2.0 * std::numbers::pi / base;
    if (wavelen < original / high) {
      inv_freq.push_back(base);
    } else if (wavelen > original / low) {
      inv_freq.push_back(base / factor);
    } else {
      const double t = (original / wavelen - low) / (high - low);
      inv_freq.push_back(t * base + (1.0 - t) * base / factor);
    }
  }
  return inv_freq;
}

namespace family {

namespace {

/// Applies the rotation by +angle (forward) or -angle (its transpose, the gradient).
/// A row's position is positions[row] when given (packed documents), else its index in the sequence.
RefTensor rotary(ir::Op op, const RefTensor& x, const RefTensor* positions, const ir::Attrs& attrs, double direction) {
  const int64_t H = ir::attr_int(attrs, "heads"), D = ir::attr_int(attrs, "head_dim");
  require(x.shape.size() >= 2 && x.last() == H * D && D % 2 == 0, op,
          "x " + shape_str(x.shape) + " must be [..., S, heads*head_dim] with an even head_dim");
  const std::vector<double> inv_freq = reference_rope_inv_freq(D, attrs);
  const int64_t S = x.shape[x.shape.size() - 2], half = D / 2;
  if (positions)
    require(static_cast<int64_t>(positions->ints.size()) == x.rows(), op,
            "positions " + shape_str(positions->shape) + " must hold one i32 per row of x " + shape_str(x.shape));
  RefTensor y = RefTensor::zeros(x.shape);
  for (int64_t r = 0; r < x.rows(); ++r)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < half; ++i) {
        const int64_t pos = positions ? positions->ints[static_cast<size_t>(r)] : r % S;
        const double angle = direction * static_cast<double>(pos) * inv_freq[i];
        const int64_t a = r * H * D + h * D + i, b = a + half;
        // [y_a, y_b] = [[cos, -sin], [sin, cos]] [x_a, x_b]
        y.data[a] = std::cos(angle) * x.data[a] - std::sin(angle) * x.data[b];
        y.data[b] = std::sin(angle) * x.data[a] + std::cos(angle) * x.data[b];
      }
  return y;
}

}  // namespace

std::vector<RefTensor> position(ir::Op op, const Operands& in, const ir::Attrs& attrs) {
  switch (op) {
    case ir::Op::embedding: {  // tokens i32[...], table[V, C] -> [..., C]
      const RefTensor &tokens = *in[0], &table = *in[1];
      require(table.shape.size() == 2, op, "table " + shape_str(table.shape) + " must be [V, C]");
      const int64_t V = table.shape[0], C = table.shape[1];
      std::vector<int64_t> shape = tokens.shape;
      shape.push_back(C);
      RefTensor y = RefTensor::zeros(shape);
      for (size_t n = 0; n < tokens.ints.size(); ++n) {
        const int64_t t = tokens.ints[n];
        require(t >= 0 && t < V, op, "token " + std::to_string(t) + " is outside [0, " + std::to_string(V) + ")");
        for (int64_t c = 0; c < C; ++c) y.data[n * C + c] = table.data[t * C + c];
      }
      return {y};
    }
    case ir::Op::embedding_grad: {  // dy[..., C], tokens -> dtable[rows, C]
      const RefTensor &dy = *in[0], &tokens = *in[1];
      const int64_t V = ir::attr_int(attrs, "rows"), C = dy.last();
      require(static_cast<int64_t>(tokens.ints.size()) == dy.rows(), op, "one token per row of dy");
      RefTensor d = RefTensor::zeros({V, C});
      for (int64_t n = 0; n < dy.rows(); ++n) {
        const int64_t t = tokens.ints[n];
        require(t >= 0 && t < V, op, "token " + std::to_string(t) + " is outside [0, " + std::to_string(V) + ")");
        for (int64_t c = 0; c < C; ++c) d.data[t * C + c] += dy.data[n * C + c];
      }
      return {d};
    }
    case ir::Op::add_positions: {  // x[B, S, C] + table[s, :]
      const RefTensor &x = *in[0], &table = *in[1];
      require(x.shape.size() == 3 && table.shape.size() == 2 && table.shape[1] == x.shape[2] &&
                  table.shape[0] >= x.shape[1],
              op, "x " + shape_str(x.shape) + " needs a table [P >= S, C], got " + shape_str(table.shape));
      const int64_t S = x.shape[1], C = x.shape[2];
      RefTensor y = RefTensor::zeros(x.shape);
      for (int64_t r = 0; r < x.rows(); ++r)
        for (int64_t c = 0; c < C; ++c) y.data[r * C + c] = x.data[r * C + c] + table.data[(r % S) * C + c];
      return {y};
    }
    case ir::Op::add_positions_grad: {  // dy[B, S, C] -> dtable[rows, C]
      const RefTensor& dy = *in[0];
      const int64_t P = ir::attr_int(attrs, "rows");
      require(dy.shape.size() == 3 && dy.shape[1] <= P, op, "dy " + shape_str(dy.shape) + " must be [B, S <= rows, C]");
      const int64_t S = dy.shape[1], C = dy.shape[2];
      RefTensor d = RefTensor::zeros({P, C});
      for (int64_t r = 0; r < dy.rows(); ++r)
        for (int64_t c = 0; c < C; ++c) d.data[(r % S) * C + c] += dy.data[r * C + c];
      return {d};
    }
    case ir::Op::rope:
      return {rotary(op, *in[0], in.size() > 1 ? in[1] : nullptr, attrs, 1.0)};
    case ir::Op::rope_grad:
      return {rotary(op, *in[0], in.size() > 1 ? in[1] : nullptr, attrs, -1.0)};
    default:
      break;
  }
  require(false, op, "not a position op");
  return {};
}

}  // namespace family

}  // namespace horizon::reference
