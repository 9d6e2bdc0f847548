// Tensor types of the graph IR: a dtype and a shape whose dimensions are
// integers or the symbolic batch `B` and sequence `S`, which stay symbolic in
// the graph IR so one compiled model serves every batch and sequence length.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace horizon::ir {

enum class DType { f32, bf16, f16, i32 };

const char* dtype_name(DType t);
std::optional<DType> parse_dtype(const std::string& s);
/// Bytes per element.
int dtype_size(DType t);

/// One dimension: a constant, or the symbol B or S.
struct Dim {
  enum class Sym : char { none = 0, B = 'B', S = 'S' };
  int64_t value = 0;
  Sym sym = Sym::none;

  static Dim of(int64_t v) { return Dim{v, Sym::none}; }
  static Dim batch() { return Dim{0, Sym::B}; }
  static Dim seq() { return Dim{0, Sym::S}; }
  bool is_symbolic() const { return sym != Sym::none; }
  bool operator==(const Dim&) const = default;
  std::string str() const;
};

struct TensorType {
  DType dtype = DType::f32;
  std::vector<Dim> shape;

  bool operator==(const TensorType&) const = default;
  int rank() const { return static_cast<int>(shape.size()); }
  /// "f32[B, S, 256]"; a scalar prints as "f32[]".
  std::string str() const;
  /// Elements with B and S substituted.
  int64_t elements(int64_t batch, int64_t seq) const;
  /// Elements of a fully constant shape; throws if symbolic.
  int64_t static_elements() const;
};

}  // namespace horizon::ir
