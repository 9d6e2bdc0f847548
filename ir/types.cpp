#include "ir/types.h"

#include <stdexcept>

namespace horizon::ir {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32:
      return "f32";
    case DType::bf16:
      return "bf16";
    case DType::f16:
      return "f16";
    case DType::i32:
      return "i32";
  }
  return "?";
}

std::optional<DType> parse_dtype(const std::string& s) {
  if (s == "f32") return DType::f32;
  if (s == "bf16") return DType::bf16;
  if (s == "f16") return DType::f16;
  if (s == "i32") return DType::i32;
  return std::nullopt;
}

int dtype_size(DType t) {
  switch (t) {
    case DType::f32:
      return 4;
    case DType::i32:
      return 4;
    case DType::bf16:
      return 2;
    case DType::f16:
      return 2;
  }
  return 0;
}

std::string Dim::str() const {
  if (sym != Sym::none) return std::string(1, static_cast<char>(sym));
  return std::to_string(value);
}

std::string TensorType::str() const {
  std::string s = dtype_name(dtype);
  s += "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += shape[i].str();
  }
  return s + "]";
}

int64_t TensorType::elements(int64_t batch, int64_t seq) const {
  int64_t n = 1;
  for (const Dim& d : shape) n *= d.sym == Dim::Sym::B ? batch : d.sym == Dim::Sym::S ? seq : d.value;
  return n;
}

int64_t TensorType::static_elements() const {
  int64_t n = 1;
  for (const Dim& d : shape) {
    if (d.is_symbolic()) throw std::logic_error("static_elements of symbolic shape " + str());
    n *= d.value;
  }
  return n;
}

}  // namespace horizon::ir
