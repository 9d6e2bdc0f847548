// The tensor of the float64 reference interpreter: a shape and row-major
// values, double for float tensors and int32 for token and target tensors.
// Deliberately plain (no strides, no views) so the reference stays easy to
// read and trust.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace horizon::reference {

struct RefTensor {
  std::vector<int64_t> shape;
  std::vector<double> data;   // float tensors
  std::vector<int32_t> ints;  // i32 tensors (tokens, targets); `data` stays empty

  /// A float tensor of zeros.
  static RefTensor zeros(std::vector<int64_t> shape) {
    RefTensor t;
    t.shape = std::move(shape);
    t.data.assign(t.elements(), 0.0);
    return t;
  }
  /// An i32 tensor holding `values`.
  static RefTensor integers(std::vector<int64_t> shape, std::vector<int32_t> values) {
    RefTensor t;
    t.shape = std::move(shape);
    t.ints = std::move(values);
    return t;
  }

  /// Product of the shape (1 for a scalar).
  int64_t elements() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  /// Size of the last dim (1 for a scalar).
  int64_t last() const { return shape.empty() ? 1 : shape.back(); }
  /// Elements / last dim: the row count of a [..., C] tensor.
  int64_t rows() const { return last() == 0 ? 0 : elements() / last(); }
};

}  // namespace horizon::reference
