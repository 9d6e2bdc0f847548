#include "runtime/cpu/stage_executor.h"

#include <map>
#include <stdexcept>

#include "codegen/cpu/cpu_jit.h"
#include "ir/fusion_groups.h"
#include "runtime/cpu/op_dispatch.h"
#include "runtime/thread_pool.h"

namespace horizon::runtime {
namespace {

// A run of consecutive instructions that fuse_elementwise put in one group,
// executed as one JIT-compiled loop over rows.
struct FusedGroup {
  int first = 0, last = 0;   // instruction range [first, last]
  std::vector<int> inputs;   // values read from outside the group
  std::vector<int> outputs;  // values materialized
  codegen::cpu::ElementwiseProgram program;
  codegen::cpu::ElementwiseFn fn = nullptr;
};

}  // namespace

struct CpuStageExecutor::Impl {
  const ir::Stage& stage;
  std::vector<int> keep;
  std::vector<int> last_use;         // per value: index of the last instruction reading it
  std::map<int, FusedGroup> groups;  // by first instruction
  int64_t peak_bytes = 0;

  Impl(const ir::Stage& s, const std::vector<std::string>& keep_names) : stage(s) {
    for (const std::string& n : keep_names) {
      int v = s.find_value(n);
      if (v < 0) throw std::invalid_argument("stage " + s.name + " has no value %" + n);
      keep.push_back(v);
    }
    const int forever = static_cast<int>(s.instrs.size());
    last_use.assign(s.values.size(), -1);
    for (size_t i = 0; i < s.instrs.size(); ++i)
      for (int v : s.instrs[i].operands) last_use[v] = static_cast<int>(i);
    for (int v : s.outputs) last_use[v] = forever;
    for (int v : keep) last_use[v] = forever;
    for (const ir::ParamGrad& g : s.grads) last_use[g.value] = forever;
    build_groups();
  }

  void execute(ValueTable& table, int64_t batch, int64_t seq);

  void build_groups() {
    const auto& ins = stage.instrs;
    for (const ir::InstrGroup& group : ir::instruction_groups(stage)) {
      if (!group.fused) continue;
      const size_t i = static_cast<size_t>(group.first), j = static_cast<size_t>(group.last);
      FusedGroup fg;
      fg.first = group.first;
      fg.last = group.last;
      std::map<int, int> node_of;  // value produced in the group -> node index
      for (size_t k = i; k <= j; ++k) node_of[ins[k].results[0]] = static_cast<int>(k - i);
      // External operands become program inputs, in order of first use.
      std::map<int, int> input_of;
      for (size_t k = i; k <= j; ++k)
        for (size_t o = 0; o < ins[k].operands.size(); ++o) {
          int v = ins[k].operands[o];
          if (node_of.count(v) || input_of.count(v)) continue;
          input_of[v] = static_cast<int>(fg.inputs.size());
          fg.inputs.push_back(v);
          // bias_add's bias is a [C] vector broadcast over rows.
          fg.program.inputs.push_back({ins[k].op == ir::Op::bias_add && o == 1});
        }
      const int n_inputs = static_cast<int>(fg.inputs.size());
      for (size_t k = i; k <= j; ++k) {
        codegen::cpu::ElementwiseProgram::Node node{ins[k].op, {}};
        for (int v : ins[k].operands) node.operands.push_back(node_of.count(v) ? n_inputs + node_of[v] : input_of[v]);
        fg.program.nodes.push_back(node);
        int r = ins[k].results[0];
        if (last_use[r] > static_cast<int>(j)) {
          fg.outputs.push_back(r);
          fg.program.outputs.push_back(static_cast<int>(k - i));
        }
      }
      fg.fn = codegen::cpu::CpuJit::get().elementwise(fg.program);
      groups.emplace(fg.first, std::move(fg));
    }
  }
};

CpuStageExecutor::CpuStageExecutor(const ir::Stage& stage, std::vector<std::string> keep)
    : impl_(std::make_unique<Impl>(stage, keep)) {}

CpuStageExecutor::~CpuStageExecutor() = default;

int64_t CpuStageExecutor::last_peak_bytes() const { return impl_->peak_bytes; }

// Every instruction (or fused group) in order, freeing values after their last use.
void CpuStageExecutor::Impl::execute(ValueTable& table, int64_t batch, int64_t seq) {
  const ir::Stage& s = stage;
  int64_t peak = 0;
  for (int i = 0; i < static_cast<int>(s.instrs.size());) {
    auto g = groups.find(i);
    if (g != groups.end()) {
      const FusedGroup& fg = g->second;
      std::vector<const float*> ins;
      for (int v : fg.inputs) ins.push_back(table.f32(v));
      std::vector<float*> outs;
      for (int v : fg.outputs) outs.push_back(table.allocate(v));
      const ir::TensorType& shape = s.values[fg.outputs.empty() ? fg.inputs[0] : fg.outputs[0]].type;
      int64_t cols = shape.shape.back().is_symbolic() ? 1 : shape.shape.back().value;
      int64_t rows = shape.elements(batch, seq) / cols;
      std::vector<int64_t> stride;
      for (size_t k = 0; k < fg.inputs.size(); ++k) stride.push_back(fg.program.inputs[k].row_broadcast ? 0 : cols);
      auto fn = fg.fn;
      parallel_for(rows, 16, [&](int64_t r0, int64_t r1) {
        std::vector<const float*> in_ptrs(ins.size());
        std::vector<float*> out_ptrs(outs.size());
        for (size_t k = 0; k < ins.size(); ++k) in_ptrs[k] = ins[k] + r0 * stride[k];
        for (size_t k = 0; k < outs.size(); ++k) out_ptrs[k] = outs[k] + r0 * cols;
        fn(r1 - r0, cols, in_ptrs.data(), out_ptrs.data());
      });
      peak = std::max(peak, table.live_bytes());
      for (int k = fg.first; k <= fg.last; ++k) table.release_dead(s.instrs[k], k, last_use);
      i = fg.last + 1;
      continue;
    }
    dispatch_op(s.instrs[i], table);
    peak = std::max(peak, table.live_bytes());
    table.release_dead(s.instrs[i], i, last_use);
    ++i;
  }
  peak_bytes = peak;
}

std::vector<StageOutput> CpuStageExecutor::run(int64_t batch, int64_t seq, const std::vector<const void*>& inputs,
                                               const std::vector<const float*>& params, int64_t loss_count) {
  const ir::Stage& s = impl_->stage;
  if (inputs.size() != s.inputs.size() || params.size() != s.params.size())
    throw std::invalid_argument("stage " + s.name + ": wrong number of inputs or parameters");
  ValueTable table(s, batch, seq);
  for (size_t i = 0; i < s.inputs.size(); ++i) table.bind(s.inputs[i], inputs[i]);
  for (size_t p = 0; p < s.params.size(); ++p) table.bind(s.params[p].value, params[p]);
  table.set_loss_count(loss_count);
  impl_->execute(table, batch, seq);

  std::vector<StageOutput> out;
  for (int v : s.outputs) out.push_back({table.take(v)});
  for (int v : impl_->keep) out.push_back({table.take(v)});
  for (const ir::ParamGrad& g : s.grads) out.push_back({table.take(g.value)});
  return out;
}

void CpuStageExecutor::run_in_place(int64_t batch, int64_t seq, const StageBindings& b) {
  const ir::Stage& s = impl_->stage;
  if (b.inputs.size() != s.inputs.size() || b.params.size() != s.params.size() ||
      b.outputs.size() != s.outputs.size() || b.grads.size() != s.grads.size() || !b.transient)
    throw std::invalid_argument("stage " + s.name +
                                ": bindings do not match its inputs, parameters, outputs and gradients");
  ValueTable table(s, batch, seq);
  for (size_t i = 0; i < s.inputs.size(); ++i) table.bind(s.inputs[i], b.inputs[i]);
  for (size_t p = 0; p < s.params.size(); ++p) table.bind(s.params[p].value, b.params[p]);
  for (size_t o = 0; o < s.outputs.size(); ++o) table.place(s.outputs[o], b.outputs[o]);
  for (size_t g = 0; g < s.grads.size(); ++g) table.place(s.grads[g].value, b.grads[g]);
  table.set_transient_allocator(b.transient);
  table.set_loss_count(b.loss_count);
  impl_->execute(table, batch, seq);
}

}  // namespace horizon::runtime
