#include "codegen/cuda/cuda_limits.h"

#include <stdexcept>
#include <string>

#include "codegen/cuda/attention_layout.h"
#include "codegen/cuda/kernels.h"
#include "support/error.h"

namespace horizon::codegen::cuda {

void check_cuda_limits(const ir::Module& m) {
  for (const ir::Stage& s : m.stages)
    for (const ir::Instr& in : s.instrs) {
      if (in.op != ir::Op::attention && in.op != ir::Op::attention_grad) continue;
      AttentionShape a;
      a.H = ir::attr_int(in.attrs, "heads");
      a.KVH = ir::attr_int(in.attrs, "kv_heads");
      a.D = ir::attr_int(in.attrs, "head_dim");
      // The segment ids of packed documents are the optional last operand.
      a.segments = static_cast<int>(in.operands.size()) == ir::op_operands(in.op);
      const std::string head_dim = "model " + m.name + ": head_dim " + std::to_string(a.D);
      if (attention_tc_supported(a)) continue;
      if (a.segments)
        throw UserError(head_dim +
                        ": attention over packed documents runs on the CUDA tensor-core kernels, which support "
                        "head_dim 64 and 128; use --device cpu, or train without packing");
      try {
        attention_layout(a, "attention");
      } catch (const std::invalid_argument&) {
        throw UserError(head_dim +
                        ": the CUDA attention supports 64 and 128 (tensor cores), or a multiple of 4 up to 128 and "
                        "of 8 up to 256 (fp32); use --device cpu");
      }
    }
}

}  // namespace horizon::codegen::cuda
