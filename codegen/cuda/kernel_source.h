// What a CUDA code generator produces: one CUDA C++ translation unit per op
// (or fused group) with its shapes baked in as constants, the buffers it
// reads and writes, and the launches that run it. NVRTC turns `code` into a
// cubin; the runtime binds buffers to `inputs`, `outputs` and `workspaces`
// and issues `launches` in order on one stream.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ir/types.h"

namespace horizon::codegen::cuda {

struct Dim3 {
  uint32_t x = 1, y = 1, z = 1;
};

/// An operand or a result of the op, in the op's IR order.
struct Buffer {
  std::string name;  // the role in the op's math: "x", "w", "dx", "tokens"
  ir::DType dtype = ir::DType::f32;
  int64_t elements = 0;
};

/// Scratch memory private to one run of the kernel source. Its contents on
/// entry do not matter (every launch writes what a later one reads).
struct Workspace {
  std::string name;
  int64_t bytes = 0;
};

/// One kernel argument: a pointer to an input, an output or a workspace.
/// Every argument of every generated kernel is such a pointer.
struct Arg {
  enum class Kind { input, output, workspace };
  Kind kind = Kind::input;
  int index = 0;
};

struct Launch {
  std::string entry;  // extern "C" __global__ function in `code`
  Dim3 grid, block;
  /// Dynamic shared memory. Generated kernels keep their shared memory
  /// static and under 48 KiB, so launchers need no attribute changes.
  uint32_t shared_bytes = 0;
  std::vector<Arg> args;
};

/// A generated kernel source. All pointers passed to it must be 16-byte
/// aligned (vector loads); an output may not alias an input unless the
/// generator documents it (fused elementwise groups allow in-place).
struct KernelSource {
  std::string name;    // what it computes: "rms_norm_backward"
  std::string shapes;  // the baked constants, "N=256 C=256 eps=1e-05 w=bf16"
  std::string code;
  std::vector<Buffer> inputs, outputs;
  std::vector<Workspace> workspaces;
  std::vector<Launch> launches;

  /// "rms_norm_backward (N=256 C=256 eps=1e-05 w=bf16)", for messages.
  std::string describe() const;
};

/// Builds the code of a KernelSource: shape constants first (which also
/// become `shapes`), then the device library and the kernels' text.
class SourceBuilder {
 public:
  /// `name` goes into the leading comment and KernelSource::name.
  explicit SourceBuilder(std::string name);

  /// `constexpr int NAME = v;` (shape constants fit in int; products that may
  /// not are formed in 64 bits by the kernels).
  SourceBuilder& constant(const std::string& name, int64_t v);
  /// `constexpr float NAME = v;` printed so that it reads back to the same bits.
  SourceBuilder& constant_f32(const std::string& name, float v);
  /// `typedef float|__nv_bfloat16 NAME;` for an operand's storage type.
  SourceBuilder& storage_type(const std::string& name, ir::DType t);
  /// Raw text (kernels, extra declarations).
  SourceBuilder& text(std::string_view code);
  /// Adds `key=value` to the shape description without emitting code.
  SourceBuilder& note(const std::string& key, const std::string& value);

  /// The KernelSource with name, shapes and code filled in.
  KernelSource finish() const;

 private:
  std::string name_, constants_, body_, shapes_;
};

/// A float literal that reads back to exactly `v` ("1e-05f").
std::string float_literal(float v);
/// A double literal that reads back to exactly `v`.
std::string double_literal(double v);
/// The CUDA storage type of an IR dtype: "float", "__nv_bfloat16" or "int";
/// throws std::invalid_argument for f16 (no generated kernel reads it yet).
const char* cuda_type(ir::DType t);

/// Blocks of `threads` to cover `n` items, at least 1.
uint32_t blocks_for(int64_t n, int64_t threads);

}  // namespace horizon::codegen::cuda
