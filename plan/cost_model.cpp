// The instruction-level half of the cost model: which resource a schedule
// instruction occupies and for how much work. Copies follow their stream —
// on h2d/d2h they cross PCIe, on compute they are device copies, on cpu host
// copies — so a checkpoint moved to host memory is costed as a transfer
// without a separate instruction kind.
#include "plan/cost_model.h"

#include <algorithm>

#include "support/error.h"

namespace horizon::plan {
namespace {

double range_bytes(const ir::SchedInstr& in, bool write) {
  for (const ir::Operand& op : in.operands)
    if (op.write == write) return static_cast<double>(op.range.bytes);
  return 0;
}

// Bytes a copy moves: its source, or its destination when it names none.
double copied_bytes(const ir::SchedInstr& in) {
  double b = range_bytes(in, false);
  return b > 0 ? b : range_bytes(in, true);
}

}  // namespace

CostModel::CostModel(const ir::Module& graph, const ir::ScheduleConfig& config, const Machine& machine)
    : graph_(graph), machine_(machine), layout_(ir::layout_params(graph)) {
  sequences_ = std::max<int64_t>(1, config.batch / std::max<int64_t>(1, config.micro_batches));
  seq_ = std::max<int64_t>(1, config.seq);
}

const StageCost& CostModel::launch_cost(const std::string& stage) const {
  if (auto it = stages_.find(stage); it != stages_.end()) return it->second;
  const ir::Stage* st = graph_.find_stage(stage);
  if (!st)
    throw_user_error(
        "schedule", "",
        "a launch names stage '" + stage + "', which the graph of model '" + graph_.name + "' does not have",
        "plan the schedule with the module it was lowered from");
  return stages_.emplace(stage, stage_cost(*st, sequences_, seq_, machine_)).first->second;
}

// Parameters an optimizer step updates: its stage instance's region of the
// host store (tied tensors are updated once, in their first region).
double CostModel::step_params(const ir::SchedInstr& in) const {
  int region = layout_.region_of(ir::base_stage_name(in.stage), std::max<int64_t>(0, in.instance));
  if (region >= 0) return static_cast<double>(layout_.regions[region].elements);
  // Not a stage of this graph (a hand-written schedule): fp32 gradient bytes.
  for (const ir::Operand& op : in.operands)
    if (!op.write && op.role == "grad") return static_cast<double>(op.range.bytes) / 4;
  return 0;
}

InstrCost CostModel::cost(const ir::SchedInstr& in) const {
  const Machine& m = machine_;
  InstrCost c;
  switch (in.op) {
    case ir::SchedOp::record:
    case ir::SchedOp::wait:
    case ir::SchedOp::bind:
    case ir::SchedOp::free:
      return c;
    case ir::SchedOp::launch:
    case ir::SchedOp::recompute: {
      const StageCost& sc = launch_cost(in.stage);
      c.resource = Resource::gpu;
      c.seconds = sc.seconds();
      c.gemm_flops = sc.gemm_flops;
      c.bytes = sc.memory_bytes;
      return c;
    }
    case ir::SchedOp::cast:  // one elementwise kernel: fp32 read, bf16 written
      c.resource = Resource::gpu;
      c.bytes = range_bytes(in, false) + range_bytes(in, true);
      c.seconds = c.bytes / (m.elementwise_gbps * 1e9) + m.launch_overhead_us * 1e-6;
      return c;
    case ir::SchedOp::stream_in:
    case ir::SchedOp::offload:
    case ir::SchedOp::save:
    case ir::SchedOp::restore:
      c.bytes = copied_bytes(in);
      switch (in.stream) {
        case ir::Stream::h2d:
          c.resource = Resource::h2d_link;
          break;
        case ir::Stream::d2h:
          c.resource = Resource::d2h_link;
          break;
        case ir::Stream::compute:  // read and write in GPU memory
          c.resource = Resource::gpu;
          c.seconds = 2 * c.bytes / (m.elementwise_gbps * 1e9);
          break;
        case ir::Stream::cpu:
          c.resource = Resource::cpu;
          c.seconds = 2 * c.bytes / (m.host_memory_gbps * 1e9);
          break;
      }
      return c;
    case ir::SchedOp::optimizer_step: {
      double params = step_params(in);
      if (in.stream == ir::Stream::compute) {
        // A GPU-resident update streams weights, master, moments (2+2+2+2
        // bytes, read and written) and the fp32 gradient once.
        c.resource = Resource::gpu;
        c.bytes = params * 20;
        c.seconds = c.bytes / (m.elementwise_gbps * 1e9);
      } else {
        // The store range it writes says how the moments are kept: 6 bytes
        // per parameter are 8-bit moments, whose CPU step has its own rate.
        double store_bytes = 0;
        for (const ir::Operand& op : in.operands)
          if (op.write && op.role == "params") store_bytes = static_cast<double>(op.range.bytes);
        const bool q8 = params > 0 && store_bytes == 6 * params;
        c.resource = Resource::cpu;
        const double rate = q8 && m.cpu_adamw_8bit_gparams > 0 ? m.cpu_adamw_8bit_gparams : m.cpu_adamw_gparams;
        c.seconds = params / (rate * 1e9);
      }
      return c;
    }
    case ir::SchedOp::grad_norm:
      c.resource = in.stream == ir::Stream::compute ? Resource::gpu : Resource::cpu;
      for (const ir::Operand& op : in.operands)
        if (!op.write) c.bytes += static_cast<double>(op.range.bytes);
      c.seconds = c.bytes / ((c.resource == Resource::gpu ? m.elementwise_gbps : m.host_memory_gbps) * 1e9);
      return c;
  }
  return c;
}

}  // namespace horizon::plan
