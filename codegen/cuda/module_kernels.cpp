#include "codegen/cuda/module_kernels.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <stdexcept>

#include "codegen/cuda/cuda_limits.h"
#include "codegen/cuda/kernels.h"
#include "ir/fusion_groups.h"

namespace horizon::codegen::cuda {
namespace {

using ir::Op;

std::string instr_text(const ir::Stage& s, const ir::Instr& in) {
  std::string t;
  for (size_t i = 0; i < in.results.size(); ++i)
    t += (i ? ", %" : "%") + s.values[in.results[i]].name + " : " + s.values[in.results[i]].type.str();
  t += std::string(" = ") + ir::op_name(in.op) + "(";
  for (size_t i = 0; i < in.operands.size(); ++i) t += (i ? ", %" : "%") + s.values[in.operands[i]].name;
  t += ")";
  if (!in.attrs.empty()) {
    t += " {";
    bool first = true;
    for (const auto& [k, v] : in.attrs) {
      t += (first ? "" : ", ") + k + " = " + ir::attr_str(v);
      first = false;
    }
    t += "}";
  }
  return t;
}

/// The tensor-core attention kernels (bf16 operands) serve every shape they
/// can unless HORIZON_PRECISE_ATTENTION=1 asks for the fp32 reference kernels.
bool tensor_core_attention(const AttentionShape& a) {
  const char* precise = std::getenv("HORIZON_PRECISE_ATTENTION");
  return !(precise && std::strcmp(precise, "1") == 0) && attention_tc_supported(a);
}

/// The fp32 attention kernels take no segment ids: packed documents need the tensor-core ones.
void require_tensor_cores(const AttentionShape& a) {
  if (!tensor_core_attention(a))
    throw std::invalid_argument("CUDA codegen: attention over packed documents runs on the tensor-core kernels only "
                                "(head_dim 64 or 128, HORIZON_PRECISE_ATTENTION unset); head_dim is " +
                                std::to_string(a.D));
}

/// Builds the kernels of one stage.
class StageLowering {
 public:
  StageLowering(const ir::Stage& s, int64_t B, int64_t S) : s_(s), B_(B), S_(S) {
    const int forever = static_cast<int>(s.instrs.size());
    last_use_.assign(s.values.size(), -1);
    for (size_t i = 0; i < s.instrs.size(); ++i)
      for (int v : s.instrs[i].operands) last_use_[v] = static_cast<int>(i);
    for (int v : s.outputs) last_use_[v] = forever;
    for (const ir::ParamGrad& g : s.grads) last_use_[g.value] = forever;
  }

  void run(std::vector<StageKernel>& out) {
    for (const ir::InstrGroup& g : ir::instruction_groups(s_)) {
      const ir::Instr& in = s_.instrs[g.first];
      try {
        if (ir::op_kind(in.op) == ir::OpKind::elementwise)
          out.push_back(elementwise_group(g.first, g.last));
        else if (ir::op_kind(in.op) != ir::OpKind::matmul)
          out.push_back(single(g.first));
      } catch (const std::exception& e) {
        throw std::invalid_argument("stage " + s_.name + ", instruction " + std::to_string(g.first) + " (" +
                                    instr_text(s_, in) + "): " + e.what());
      }
    }
  }

 private:
  const ir::TensorType& type(int v) const { return s_.values[v].type; }
  int64_t elements(int v) const { return type(v).elements(B_, S_); }
  int64_t last_dim(int v) const {
    const ir::Dim& d = type(v).shape.back();
    return d.is_symbolic() ? (d.sym == ir::Dim::Sym::B ? B_ : S_) : d.value;
  }
  int64_t rows(int v) const { return elements(v) / last_dim(v); }
  int64_t norm_width(int weight) const { return type(weight).shape.at(0).value; }

  StageKernel make(int first, int last, KernelSource source, std::vector<int> inputs, std::vector<int> outputs) const {
    StageKernel k{s_.name, first, last, "", std::move(inputs), std::move(outputs), std::move(source)};
    for (int i = first; i <= last; ++i) k.instructions += instr_text(s_, s_.instrs[i]) + "\n";
    return k;
  }

  /// Instructions [first, last] (one, or a fused group) as one program.
  StageKernel elementwise_group(int first, int last) const {
    cpu::ElementwiseProgram program;
    std::vector<int> inputs, outputs;
    std::vector<ir::DType> input_types;
    std::map<int, int> node_of, input_of;
    for (int k = first; k <= last; ++k) node_of[s_.instrs[k].results[0]] = k - first;
    for (int k = first; k <= last; ++k) {
      const ir::Instr& in = s_.instrs[k];
      cpu::ElementwiseProgram::Node node{in.op, {}};
      for (size_t o = 0; o < in.operands.size(); ++o) {
        const int v = in.operands[o];
        if (node_of.count(v)) {  // made earlier in the group (SSA)
          node.operands.push_back(node_of[v]);
          continue;
        }
        if (!input_of.count(v)) {
          input_of[v] = static_cast<int>(inputs.size());
          inputs.push_back(v);
          input_types.push_back(type(v).dtype);
          // bias_add's bias is a [C] vector broadcast over rows.
          program.inputs.push_back({in.op == Op::bias_add && o == 1});
        }
        node.operands.push_back(-1 - input_of[v]);  // fixed up below, once the input count is known
      }
      program.nodes.push_back(node);
      if (const int r = in.results[0]; last_use_[r] > last) {
        outputs.push_back(r);
        program.outputs.push_back(k - first);
      }
    }
    if (outputs.empty()) {  // nothing reads the group: still compute its last value, as the CPU does
      outputs.push_back(s_.instrs[last].results[0]);
      program.outputs.push_back(last - first);
    }
    // Operands: inputs are 0..n_in-1, node k is n_in + k.
    const int n_in = static_cast<int>(inputs.size());
    for (auto& node : program.nodes)
      for (int& o : node.operands) o = o < 0 ? -1 - o : n_in + o;
    const int shape_of = outputs.front();
    return make(first, last, elementwise(program, rows(shape_of), last_dim(shape_of), input_types), inputs, outputs);
  }

  StageKernel single(int i) const {
    const ir::Instr& in = s_.instrs[i];
    const std::vector<int>& x = in.operands;
    const ir::Attrs& a = in.attrs;
    auto eps = [&] { return static_cast<float>(ir::attr_number(a, "eps")); };
    // Packed documents: rope's positions or attention's segments, the optional last operand.
    const bool documents = static_cast<int>(x.size()) == ir::op_operands(in.op) && ir::op_optional_operands(in.op) > 0;
    auto attention = [&] {
      return AttentionShape{B_,
                            S_,
                            ir::attr_int(a, "heads"),
                            ir::attr_int(a, "kv_heads"),
                            ir::attr_int(a, "head_dim"),
                            static_cast<int64_t>(ir::attr_number_or(a, "window", 0)),
                            documents};
    };
    KernelSource k;
    switch (in.op) {
      case Op::embedding:
        k = embedding_forward(elements(x[0]), last_dim(x[1]), type(x[1]).shape[0].value, type(x[1]).dtype);
        break;
      case Op::add_positions:
        k = add_positions_forward(B_, S_, last_dim(x[0]), type(x[1]).shape[0].value, type(x[1]).dtype);
        break;
      case Op::rms_norm:
        // The weight's length is the normalized width: the last dim, or the
        // group_size the shape rules checked (each group is a row of its own).
        k = rms_norm_forward(elements(x[0]) / norm_width(x[1]), norm_width(x[1]), eps(), type(x[1]).dtype);
        break;
      case Op::layer_norm:
        k = layer_norm_forward(rows(x[0]), last_dim(x[0]), eps(), type(x[1]).dtype, type(x[2]).dtype);
        break;
      case Op::rope:
        k = rope_forward(B_, S_, ir::attr_int(a, "heads"), ir::attr_int(a, "head_dim"), ir::rope_params(a), documents);
        break;
      case Op::rope_grad:
        k = rope_backward(B_, S_, ir::attr_int(a, "heads"), ir::attr_int(a, "head_dim"), ir::rope_params(a), documents);
        break;
      case Op::attention:
        if (documents) require_tensor_cores(attention());
        k = tensor_core_attention(attention()) ? attention_forward_tc(attention()) : attention_forward(attention());
        break;
      case Op::attention_grad:
        if (documents) require_tensor_cores(attention());
        k = tensor_core_attention(attention()) ? attention_backward_tc(attention()) : attention_backward(attention());
        break;
      case Op::cross_entropy:
        k = cross_entropy_forward(rows(x[0]), last_dim(x[0]));
        break;
      case Op::cross_entropy_grad:
        k = cross_entropy_backward(rows(x[0]), last_dim(x[0]));
        break;
      case Op::linear_cross_entropy:
      case Op::linear_cross_entropy_grad:
        return loss_chunks(i);
      case Op::sequence_logprob:
        k = sequence_logprob_forward(B_, S_, last_dim(x[0]), ir::attr_number_or(a, "average", 0) != 0);
        break;
      case Op::sequence_logprob_grad:
        k = sequence_logprob_backward(B_, S_, last_dim(x[1]), ir::attr_number_or(a, "average", 0) != 0);
        break;
      case Op::dpo_loss:
      case Op::dpo_loss_grad: {
        const DpoKernelParams p{ir::attr_number(a, "beta"), ir::attr_number_or(a, "label_smoothing", 0.0),
                                ir::attr_number_or(a, "ipo", 0) != 0};
        k = in.op == Op::dpo_loss ? dpo_loss_forward(elements(x[0]), p) : dpo_loss_backward(elements(x[0]), p);
        break;
      }
      case Op::embedding_grad:
        k = embedding_backward(elements(x[1]), last_dim(x[0]), ir::attr_int(a, "rows"));
        break;
      case Op::add_positions_grad:
        k = add_positions_backward(B_, S_, last_dim(x[0]), ir::attr_int(a, "rows"));
        break;
      case Op::bias_add_grad:
        k = bias_add_grad(rows(x[0]), last_dim(x[0]));
        break;
      case Op::rms_norm_grad:
        k = rms_norm_backward(elements(x[1]) / norm_width(x[2]), norm_width(x[2]), eps(), type(x[2]).dtype);
        break;
      case Op::layer_norm_grad:
        k = layer_norm_backward(rows(x[1]), last_dim(x[1]), eps(), type(x[2]).dtype);
        break;
      case Op::linear:
      case Op::linear_grad_x:
      case Op::linear_grad_w:
      case Op::bias_add:
      case Op::add:
      case Op::mul:
      case Op::silu:
      case Op::gelu:
      case Op::silu_grad:
      case Op::gelu_grad:
        throw std::logic_error(std::string("module_kernels: ") + ir::op_name(in.op) + " reached the single-op path");
    }
    return make(i, i, std::move(k), in.operands, in.results);
  }

  /// The loss kernel of a fused lm head loss: its logits (and d_logits)
  /// are chunks the executor provides, bound to no stage value (-1).
  StageKernel loss_chunks(int i) const {
    const ir::Instr& in = s_.instrs[i];
    const int64_t N = rows(in.operands[0]), V = type(in.operands[1]).shape[0].value;
    const int64_t chunk = std::min(ir::attr_int(in.attrs, "chunk"), N);
    if (in.op == Op::linear_cross_entropy)
      return make(i, i, linear_cross_entropy_forward(N, V, chunk), {-1, in.operands[2]}, {in.results[0]});
    return make(i, i, linear_cross_entropy_backward(N, V, chunk), {-1, in.operands[2]}, {in.results[0], -1});
  }

  const ir::Stage& s_;
  int64_t B_, S_;
  std::vector<int> last_use_;
};

std::string arg_name(const KernelSource& k, const Arg& a) {
  switch (a.kind) {
    case Arg::Kind::input:
      return k.inputs[a.index].name;
    case Arg::Kind::output:
      return k.outputs[a.index].name;
    case Arg::Kind::workspace:
      return k.workspaces[a.index].name;
  }
  return "?";
}

}  // namespace

std::vector<StageKernel> module_kernels(const ir::Module& m, int64_t batch, int64_t seq) {
  check_cuda_limits(m);
  std::vector<StageKernel> out;
  for (const ir::Stage& s : m.stages) {
    std::vector<StageKernel> k = stage_kernels(s, batch, seq);
    out.insert(out.end(), std::make_move_iterator(k.begin()), std::make_move_iterator(k.end()));
  }
  return out;
}

std::vector<StageKernel> stage_kernels(const ir::Stage& stage, int64_t batch, int64_t seq) {
  if (batch < 1 || seq < 1)
    throw std::invalid_argument("module_kernels: batch and seq must be >= 1, got " + std::to_string(batch) + " and " +
                                std::to_string(seq));
  std::vector<StageKernel> out;
  StageLowering(stage, batch, seq).run(out);
  return out;
}

std::string print_kernel(const StageKernel& k) {
  const KernelSource& src = k.source;
  std::string t = "// ==== stage " + k.stage + ", instruction" +
                  (k.first == k.last ? " " + std::to_string(k.first)
                                     : "s " + std::to_string(k.first) + ".." + std::to_string(k.last)) +
                  "\n";
  size_t at = 0;
  for (size_t nl; (nl = k.instructions.find('\n', at)) != std::string::npos; at = nl + 1)
    t += "//   " + k.instructions.substr(at, nl - at) + "\n";
  t += "// kernel " + src.describe() + "\n";
  for (const Launch& l : src.launches) {
    t += "//   launch " + l.entry + "<<<(" + std::to_string(l.grid.x) + "," + std::to_string(l.grid.y) + "," +
         std::to_string(l.grid.z) + "), (" + std::to_string(l.block.x) + "," + std::to_string(l.block.y) + "," +
         std::to_string(l.block.z) + ")>>>(";
    for (size_t i = 0; i < l.args.size(); ++i) t += (i ? ", " : "") + arg_name(src, l.args[i]);
    t += ")\n";
  }
  if (std::count(k.inputs.begin(), k.inputs.end(), -1) > 0)
    t += "//   loss_chunk_rows runs once per chunk of rows, after the cuBLASLt GEMM of the chunk's logits" +
         std::string(src.outputs.size() > 1 ? " and before the GEMMs of its dh and dw" : "") + "\n";
  for (const Workspace& w : src.workspaces)
    t += "//   workspace " + w.name + ": " + std::to_string(w.bytes) + " bytes\n";
  return t + src.code + "\n";
}

}  // namespace horizon::codegen::cuda
