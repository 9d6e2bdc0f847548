// Buffers and instructions of a resolved schedule: %store maps onto the
// HostStore's regions, the batch buffers have the sizes the config implies,
// and every instruction is checked before any executor allocates or runs
// anything — operand ranges inside their buffers, copies in matching pairs,
// events that exist, launches running the slot their stream bound last.
#include "runtime/resolved_schedule.h"

#include <algorithm>

#include "support/error.h"

namespace horizon::runtime {

bool is_copy(ir::SchedOp op) {
  return op == ir::SchedOp::stream_in || op == ir::SchedOp::save || op == ir::SchedOp::restore ||
         op == ir::SchedOp::offload;
}

std::vector<std::pair<ir::Range, ir::Range>> copy_pairs(const ir::SchedInstr& in) {
  std::vector<std::pair<ir::Range, ir::Range>> pairs;
  const auto& ops = in.operands;
  size_t s = 0, d = 0;
  for (;;) {
    while (s < ops.size() && ops[s].role != "src") ++s;
    while (d < ops.size() && ops[d].role != "dst") ++d;
    if (s == ops.size() || d == ops.size()) return pairs;
    pairs.emplace_back(ops[s].range, ops[d].range);
    ++s, ++d;
  }
}

ResolvedSchedule::ResolvedSchedule(const ir::Schedule& s, const ir::Module& g, const HostStore& st)
    : schedule(s), graph(g), store(st) {
  const ir::ScheduleConfig& c = s.config;
  if (c.batch <= 0 || c.seq <= 0 || c.micro_batches <= 0 || c.batch % c.micro_batches)
    throw UserError("schedule of " + s.model + ": batch " + std::to_string(c.batch) +
                    " must be a positive multiple of " + std::to_string(c.micro_batches) + " micro-batches");
  micro_batches = c.micro_batches;
  mb_batch = c.batch / c.micro_batches;
  seq = c.seq;
  resolve_buffers();
  resolve_instructions();
}

void ResolvedSchedule::resolve_buffers() {
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
      continue;
    }
    if (buf.bytes < 0) throw UserError("schedule buffer %" + buf.name + " has a negative size");
    if (buf.name == "tokens") tokens_buffer = static_cast<int>(b);
    if (buf.name == "targets") targets_buffer = static_cast<int>(b);
    if (buf.name == "positions") positions_buffer = static_cast<int>(b);
    if (buf.name == "segments") segments_buffer = static_cast<int>(b);
    if (buf.name == "reference") reference_buffer = static_cast<int>(b);
    if (buf.name == "logps") logps_buffer = static_cast<int>(b);
    if (buf.name == "loss") loss_buffer = static_cast<int>(b);
    if (buf.kind == ir::BufferKind::resident) {
      if (resident_buffer >= 0) throw UserError("schedule has two resident buffers: %" + buf.name);
      if (buf.place != ir::Place::gpu)
        throw UserError("schedule buffer %" + buf.name + " holds resident planes: place it on the gpu");
      resident_buffer = static_cast<int>(b);
    }
  }
  if (store_buffer < 0) throw UserError("schedule of " + schedule.model + " has no store buffer");
  const int64_t batch_bytes = schedule.config.batch * seq * 4;
  auto need = [&](int b, const char* name, int64_t bytes) {
    if (b < 0) throw UserError(std::string("schedule of ") + schedule.model + " has no %" + name + " buffer");
    if (buffer(b).bytes != bytes)
      throw UserError(std::string("schedule buffer %") + name + " has " + std::to_string(buffer(b).bytes) +
                      " bytes, expected " + std::to_string(bytes));
  };
  need(tokens_buffer, "tokens", batch_bytes);
  need(targets_buffer, "targets", batch_bytes);
  need(loss_buffer, "loss", micro_batches * 4);
  if (positions_buffer >= 0 || segments_buffer >= 0) {
    need(positions_buffer, "positions", batch_bytes);
    need(segments_buffer, "segments", batch_bytes);
  }
  if (reference_buffer >= 0 || logps_buffer >= 0) {
    need(reference_buffer, "reference", micro_batches * ir::row_share_bytes(mb_batch));
    need(logps_buffer, "logps", micro_batches * ir::row_share_bytes(mb_batch));
  }
}

std::string ResolvedSchedule::where(int index) const {
  return "schedule instruction #" + std::to_string(index) + " `" + ir::print_instr(schedule, instr(index)) + "`";
}

char* ResolvedSchedule::store_weights(const ir::Range& r) const {
  if (r.buffer != store_buffer) return nullptr;
  auto it = std::upper_bound(store_offsets.begin(), store_offsets.end(), r.offset);
  const size_t region = static_cast<size_t>(it - store_offsets.begin()) - 1;
  const int64_t local = r.offset - store_offsets[region];
  const Region& reg = store.regions()[region];
  if (local + r.bytes > reg.elements * 2) return nullptr;
  return reinterpret_cast<char*>(reg.w_hi) + local;
}

void ResolvedSchedule::resolve_instructions() {
  programs.assign(ir::kNumStreams, {});
  wait_names.assign(schedule.instrs.size(), "");
  std::vector<int> last_bind(ir::kNumStreams, -1);  // per stream: its latest bind
  for (int i = 0; i < static_cast<int>(schedule.instrs.size()); ++i) {
    const ir::SchedInstr& in = instr(i);
    for (const ir::Operand& op : in.operands) {
      const ir::Range& r = op.range;
      if (r.buffer < 0 || r.buffer >= static_cast<int>(schedule.buffers.size()))
        throw UserError(where(i) + ": operand '" + op.role + "' names no buffer of the schedule");
      const ir::Buffer& b = buffer(r.buffer);
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
      for (const ir::Operand& op : in.operands) {
        if (op.role == "src") {
          ++srcs;
          if (op.range.buffer == store_buffer && !store_weights(op.range))
            throw UserError(where(i) + ": a store range must lie in one region's bf16 weight plane");
        } else if (op.role == "dst") {
          ++dsts;
          if (op.range.buffer == store_buffer) throw UserError(where(i) + ": copies cannot write the store");
        }
      }
      if (srcs != dsts || srcs == 0) throw UserError(where(i) + ": a copy needs src/dst operand pairs");
      for (const auto& [src, dst] : copy_pairs(in))
        if (src.bytes != dst.bytes) throw UserError(where(i) + ": source and destination of a copy differ in size");
    }
    if (in.op == ir::SchedOp::wait) wait_names[static_cast<size_t>(i)] = where(i);
    if (in.op == ir::SchedOp::bind) last_bind[static_cast<size_t>(in.stream)] = i;
    if (in.op == ir::SchedOp::launch || in.op == ir::SchedOp::recompute) {
      const LaunchPlan& p = launches.emplace(i, prepare_launch(i)).first->second;
      max_slot_elements = std::max(max_slot_elements, p.slot_elements);
      // A launch runs the template its stream bound last: the same weights of the same instance.
      const int bound = last_bind[static_cast<size_t>(in.stream)];
      const ir::SchedInstr* bind = bound >= 0 ? &instr(bound) : nullptr;
      const ir::RegionLayout& region = store.layout().regions[static_cast<size_t>(p.region)];
      if (!bind || bind->stage != region.stage || bind->instance != region.instance || bind->operands.empty() ||
          !(bind->operands[0].range == p.weights))
        throw UserError(where(i) + ": its weights are not the slot its stream bound last" +
                        (bind ? " (" + where(bound) + ")" : std::string(" (no bind before it)")));
    }
    if (in.op == ir::SchedOp::optimizer_step) updates.emplace(i, prepare_update(i));
    if (in.op == ir::SchedOp::cast) casts.emplace(i, prepare_cast(i));
    if (in.op == ir::SchedOp::grad_norm) {
      has_grad_norm = true;
      if (in.stream != ir::Stream::cpu) device_norms.emplace(i, prepare_device_norm(i));
    }
    programs[static_cast<size_t>(in.stream)].push_back(i);
  }
  if (schedule.config.clip && !has_grad_norm)
    throw UserError("schedule of " + schedule.model + ": config.clip is set but no grad_norm measures the gradient");
  prepare_tied();
  prepare_norms();
}

}  // namespace horizon::runtime
