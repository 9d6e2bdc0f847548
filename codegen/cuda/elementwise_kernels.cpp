// Fused elementwise groups: an ElementwiseProgram (the DAG that
// passes/fuse_elementwise marks and the CPU JIT also compiles) becomes one
// kernel that reads each input once, keeps every intermediate in registers
// and writes only the program's outputs. Each thread handles VEC = 4
// consecutive elements with 16-byte loads and stores when cols % 4 == 0 (a
// vector then never straddles two rows, so a row-broadcast input is one
// aligned vector load too). The math is runtime/cpu/elementwise_kernels.cpp's.
#include <stdexcept>

#include "codegen/cuda/kernels.h"
#include "ir/ops.h"

namespace horizon::codegen::cuda {
namespace {

// The scalar ops; GELU is the tanh approximation (HF gelu_pytorch_tanh).
constexpr const char* kScalarOps = R"CUDA(
__device__ __forceinline__ float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
__device__ __forceinline__ float silu(float x) { return x * sigmoid(x); }
__device__ __forceinline__ float silu_grad(float dy, float x) {
  const float s = sigmoid(x);
  return dy * (s * (1.0f + x * (1.0f - s)));
}
constexpr float SQRT_2_OVER_PI = (float)0.7978845608028654;  // rounded as the CPU rounds it
constexpr float GELU_CUBIC = 0.044715f;
__device__ __forceinline__ float gelu(float v) {
  return 0.5f * v * (1.0f + tanhf(SQRT_2_OVER_PI * (v + GELU_CUBIC * v * v * v)));
}
__device__ __forceinline__ float gelu_grad(float dy, float v) {
  const float t = tanhf(SQRT_2_OVER_PI * (v + GELU_CUBIC * v * v * v));
  const float du = SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_CUBIC * v * v);
  return dy * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du);
}
)CUDA";

[[noreturn]] void bad_program(const std::string& problem) {
  throw std::invalid_argument("CUDA codegen: elementwise: " + problem);
}

/// The expression of one node for lane `l`, over operand names.
std::string node_expr(ir::Op op, const std::vector<std::string>& x) {
  switch (op) {
    case ir::Op::add:
    case ir::Op::bias_add:
      return x[0] + " + " + x[1];
    case ir::Op::mul:
      return x[0] + " * " + x[1];
    case ir::Op::silu:
      return "silu(" + x[0] + ")";
    case ir::Op::gelu:
      return "gelu(" + x[0] + ")";
    case ir::Op::silu_grad:
      return "silu_grad(" + x[0] + ", " + x[1] + ")";
    case ir::Op::gelu_grad:
      return "gelu_grad(" + x[0] + ", " + x[1] + ")";
    default:
      break;
  }
  bad_program(std::string("op ") + ir::op_name(op) + " is not elementwise-fusible");
}

}  // namespace

KernelSource elementwise(const cpu::ElementwiseProgram& program, int64_t rows, int64_t cols,
                         const std::vector<ir::DType>& input_types) {
  const int n_in = static_cast<int>(program.inputs.size());
  const int n_nodes = static_cast<int>(program.nodes.size());
  if (rows < 1 || cols < 1)
    bad_program("needs rows >= 1 and cols >= 1, got rows=" + std::to_string(rows) + " cols=" + std::to_string(cols));
  if (n_nodes == 0 || program.outputs.empty()) bad_program("the program has no nodes or no outputs");
  if (!input_types.empty() && static_cast<int>(input_types.size()) != n_in)
    bad_program(std::to_string(input_types.size()) + " input types for " + std::to_string(n_in) + " inputs");

  std::string name = "elementwise";
  for (const auto& node : program.nodes) name += std::string("_") + ir::op_name(node.op);
  const int vec = cols % 4 == 0 ? 4 : 1;

  // Signature: inputs in order, then outputs; no __restrict__, since an
  // output may be the buffer of an input (each vector is read before written).
  std::string params, loads, body, stores, comment;
  for (int i = 0; i < n_in; ++i) {
    const ir::DType t = input_types.empty() ? ir::DType::f32 : input_types[i];
    params += std::string(i ? ", " : "") + "const " + cuda_type(t) + "* in" + std::to_string(i);
    const std::string at = program.inputs[i].row_broadcast ? "e % COLS" : "e";
    loads +=
        "    const Vec<VEC> i" + std::to_string(i) + " = load_vec<VEC>(in" + std::to_string(i) + " + " + at + ");\n";
  }
  for (int n = 0; n < n_nodes; ++n) {
    const auto& node = program.nodes[n];
    if (static_cast<int>(node.operands.size()) != ir::op_operands(node.op))
      bad_program(std::string("node ") + std::to_string(n) + " (" + ir::op_name(node.op) + ") has " +
                  std::to_string(node.operands.size()) + " operands");
    std::vector<std::string> lane, named;
    for (int k : node.operands) {
      if (k < 0 || k >= n_in + n) bad_program("node " + std::to_string(n) + " reads operand " + std::to_string(k));
      const std::string v = k < n_in ? "i" + std::to_string(k) : "n" + std::to_string(k - n_in);
      lane.push_back(v + ".v[l]");
      named.push_back(v);
    }
    body += "      n" + std::to_string(n) + ".v[l] = " + node_expr(node.op, lane) + ";\n";
    comment += "// n" + std::to_string(n) + " = " + node_expr(node.op, named) + "\n";
  }
  for (size_t o = 0; o < program.outputs.size(); ++o) {
    const int n = program.outputs[o];
    if (n < 0 || n >= n_nodes) bad_program("output " + std::to_string(o) + " names node " + std::to_string(n));
    params += ", float* out" + std::to_string(o);
    stores += "    store_vec<VEC>(out" + std::to_string(o) + " + e, n" + std::to_string(n) + ");\n";
  }
  std::string decls = "    Vec<VEC>";
  for (int n = 0; n < n_nodes; ++n) decls += std::string(n ? ", n" : " n") + std::to_string(n);

  SourceBuilder b(name);
  b.constant("ROWS", rows).constant("COLS", cols).constant("VEC", vec);
  b.text(kScalarOps).text("\n" + comment);
  b.text("extern \"C\" __global__ void __launch_bounds__(256) " + name + "(" + params + ") {\n" +
         "  constexpr long long VECTORS = (long long)ROWS * COLS / VEC;\n"
         "  for (long long i = (long long)blockIdx.x * 256 + threadIdx.x; i < VECTORS; i += (long long)gridDim.x * "
         "256) {\n"
         "    const long long e = i * VEC;\n" +
         loads + decls + ";\n#pragma unroll\n    for (int l = 0; l < VEC; ++l) {\n" + body + "    }\n" + stores +
         "  }\n}\n");
  KernelSource k = b.finish();
  for (int i = 0; i < n_in; ++i)
    k.inputs.push_back({"in" + std::to_string(i), input_types.empty() ? ir::DType::f32 : input_types[i],
                        program.inputs[i].row_broadcast ? cols : rows * cols});
  for (size_t o = 0; o < program.outputs.size(); ++o)
    k.outputs.push_back({"out" + std::to_string(o), ir::DType::f32, rows * cols});
  Launch launch{name, {}, {256, 1, 1}, 0, {}};
  // Grid-stride beyond 64k blocks (16M vectors): plenty to fill any GPU.
  const int64_t vectors = rows * cols / vec;
  launch.grid.x = blocks_for(vectors < (int64_t{1} << 24) ? vectors : (int64_t{1} << 24), 256);
  for (int i = 0; i < n_in; ++i) launch.args.push_back({Arg::Kind::input, i});
  for (size_t o = 0; o < program.outputs.size(); ++o) launch.args.push_back({Arg::Kind::output, static_cast<int>(o)});
  k.launches = {launch};
  return k;
}

}  // namespace horizon::codegen::cuda
