// Memory and validation of the schedule executor: every buffer of the
// schedule allocated once (%store maps onto the HostStore's regions), and
// every instruction checked before the first step — operand ranges inside
// their buffers, copies in matching pairs, events that exist — so a bad
// schedule fails naming its instruction instead of corrupting memory.
#include <algorithm>
#include <cstring>

#include "runtime/schedule_executor_impl.h"
#include "support/error.h"

namespace horizon::runtime {
namespace {

// Emulated device memory is aligned like a device allocation (the arena's
// offsets assume 256-byte alignment).
constexpr int64_t kAlignment = 256;

int64_t aligned(int64_t bytes) {
  return std::max<int64_t>(kAlignment, (bytes + kAlignment - 1) / kAlignment * kAlignment);
}

MemoryBlock allocate_block(int64_t bytes) {
  char* p = static_cast<char*>(std::aligned_alloc(kAlignment, static_cast<size_t>(aligned(bytes))));
  if (!p) throw std::bad_alloc();
  std::memset(p, 0, static_cast<size_t>(aligned(bytes)));
  return MemoryBlock(p);
}

bool is_copy(ir::SchedOp op) {
  return op == ir::SchedOp::stream_in || op == ir::SchedOp::save || op == ir::SchedOp::restore ||
         op == ir::SchedOp::offload;
}

}  // namespace

void ScheduleExecutor::Impl::allocate() {
  int64_t params = 0;
  for (const Region& r : store.regions()) params += r.elements;
  for (size_t b = 0; b < schedule.buffers.size(); ++b) {
    const ir::Buffer& buf = schedule.buffers[b];
    if (buf.kind == ir::BufferKind::store) {
      if (store_buffer >= 0) throw UserError("schedule has two store buffers: %" + buf.name);
      store_buffer = static_cast<int>(b);
      if (params == 0 || buf.bytes % params)
        throw UserError("schedule buffer %" + buf.name + " (" + std::to_string(buf.bytes) +
                        " bytes) is not a whole number of bytes per parameter of the store's " +
                        std::to_string(params));
      store_bytes_per_param = buf.bytes / params;
      if (store_bytes_per_param < 4)
        throw UserError("schedule buffer %" + buf.name + " has fewer than 4 bytes per parameter (w_hi and w_lo)");
      int64_t offset = 0;
      for (const Region& r : store.regions()) {
        store_offsets.push_back(offset);
        offset += r.elements * store_bytes_per_param;
      }
      blocks.emplace_back();
      continue;
    }
    if (buf.bytes < 0) throw UserError("schedule buffer %" + buf.name + " has a negative size");
    blocks.push_back(allocate_block(buf.bytes));
    (buf.place == ir::Place::host ? host_allocated : device_allocated) += aligned(buf.bytes);
    if (buf.name == "tokens") tokens_buffer = static_cast<int>(b);
    if (buf.name == "targets") targets_buffer = static_cast<int>(b);
    if (buf.name == "loss") loss_buffer = static_cast<int>(b);
  }
  if (store_buffer < 0) throw UserError("schedule of " + schedule.model + " has no store buffer");
  const int64_t batch_bytes = schedule.config.batch * seq * 4;
  auto need = [&](int buffer, const char* name, int64_t bytes) {
    if (buffer < 0) throw UserError(std::string("schedule of ") + schedule.model + " has no %" + name + " buffer");
    if (schedule.buffers[static_cast<size_t>(buffer)].bytes != bytes)
      throw UserError(std::string("schedule buffer %") + name + " has " +
                      std::to_string(schedule.buffers[static_cast<size_t>(buffer)].bytes) + " bytes, expected " +
                      std::to_string(bytes));
  };
  need(tokens_buffer, "tokens", batch_bytes);
  need(targets_buffer, "targets", batch_bytes);
  need(loss_buffer, "loss", micro_batches * 4);
}

std::string ScheduleExecutor::Impl::where(int index) const {
  return "schedule instruction #" + std::to_string(index) + " `" +
         ir::print_instr(schedule, schedule.instrs[static_cast<size_t>(index)]) + "`";
}

char* ScheduleExecutor::Impl::at(const ir::Range& r) const {
  if (r.buffer != store_buffer) return blocks[static_cast<size_t>(r.buffer)].get() + r.offset;
  // %store is the HostStore: only its bf16 weight planes are addressed by range.
  auto it = std::upper_bound(store_offsets.begin(), store_offsets.end(), r.offset);
  const size_t region = static_cast<size_t>(it - store_offsets.begin()) - 1;
  const int64_t local = r.offset - store_offsets[region];
  const Region& reg = store.regions()[region];
  if (local + r.bytes > reg.elements * 2) return nullptr;
  return reinterpret_cast<char*>(reg.w_hi) + local;
}

void ScheduleExecutor::Impl::validate() {
  programs.assign(ir::kNumStreams, {});
  wait_names.assign(schedule.instrs.size(), "");
  std::vector<int> last_bind(ir::kNumStreams, -1);  // per stream: its latest bind
  for (int i = 0; i < static_cast<int>(schedule.instrs.size()); ++i) {
    const ir::SchedInstr& in = schedule.instrs[static_cast<size_t>(i)];
    for (const ir::Operand& op : in.operands) {
      const ir::Range& r = op.range;
      if (r.buffer < 0 || r.buffer >= static_cast<int>(schedule.buffers.size()))
        throw UserError(where(i) + ": operand '" + op.role + "' names no buffer of the schedule");
      const ir::Buffer& b = schedule.buffers[static_cast<size_t>(r.buffer)];
      if (r.offset < 0 || r.bytes < 0 || r.offset + r.bytes > b.bytes)
        throw UserError(where(i) + ": operand '" + op.role + "' [" + std::to_string(r.offset) + ":" +
                        std::to_string(r.offset + r.bytes) + "] is outside %" + b.name + " (" +
                        std::to_string(b.bytes) + " bytes)");
    }
    if ((in.op == ir::SchedOp::record || in.op == ir::SchedOp::wait) && (in.event < 0 || in.event >= schedule.events))
      throw UserError(where(i) + ": event ^e" + std::to_string(in.event) + " is not one of the schedule's " +
                      std::to_string(schedule.events));
    if (is_copy(in.op)) {
      int srcs = 0, dsts = 0;
      for (size_t k = 0; k < in.operands.size(); ++k) {
        const ir::Operand& op = in.operands[k];
        if (op.role == "src") {
          ++srcs;
          if (op.range.buffer == store_buffer && !at(op.range))
            throw UserError(where(i) + ": a store range must lie in one region's bf16 weight plane");
        } else if (op.role == "dst") {
          ++dsts;
          if (op.range.buffer == store_buffer) throw UserError(where(i) + ": copies cannot write the store");
        }
      }
      if (srcs != dsts || srcs == 0) throw UserError(where(i) + ": a copy needs src/dst operand pairs");
      int s = 0, d = 0;
      for (int k = 0; k < srcs; ++k) {
        while (in.operands[static_cast<size_t>(s)].role != "src") ++s;
        while (in.operands[static_cast<size_t>(d)].role != "dst") ++d;
        if (in.operands[static_cast<size_t>(s)].range.bytes != in.operands[static_cast<size_t>(d)].range.bytes)
          throw UserError(where(i) + ": source and destination of a copy differ in size");
        ++s, ++d;
      }
    }
    if (in.op == ir::SchedOp::wait) wait_names[static_cast<size_t>(i)] = where(i);
    if (in.op == ir::SchedOp::bind) last_bind[static_cast<size_t>(in.stream)] = i;
    if (in.op == ir::SchedOp::launch || in.op == ir::SchedOp::recompute) {
      const LaunchPlan& p = launches.emplace(i, prepare_launch(i)).first->second;
      // A launch runs the template its stream bound last: the same weights of the same instance.
      const int bound = last_bind[static_cast<size_t>(in.stream)];
      const ir::SchedInstr* bind = bound >= 0 ? &schedule.instrs[static_cast<size_t>(bound)] : nullptr;
      const ir::RegionLayout& region = store.layout().regions[static_cast<size_t>(p.region)];
      if (!bind || bind->stage != region.stage || bind->instance != region.instance || bind->operands.empty() ||
          !(bind->operands[0].range == p.weights))
        throw UserError(where(i) + ": its weights are not the slot its stream bound last" +
                        (bind ? " (" + where(bound) + ")" : std::string(" (no bind before it)")));
    }
    if (in.op == ir::SchedOp::optimizer_step) updates.emplace(i, prepare_update(i));
    if (in.op == ir::SchedOp::grad_norm) has_grad_norm = true;
    programs[static_cast<size_t>(in.stream)].push_back(i);
  }
  if (has_grad_norm != schedule.config.clip)
    throw UserError("schedule of " + schedule.model + ": config.clip and the presence of grad_norm disagree");
  prepare_tied();
  tensor_squares.assign(store.tensors().size(), 0.0);
}

}  // namespace horizon::runtime
