// The schedule IR's text form: one line per buffer, arena plan and
// instruction, every number printed exactly, so print -> parse -> print is
// byte-identical and golden schedule dumps diff line by line. Arena plans
// print graph-IR value indices (the schedule does not own the graph's names);
// `horizon compile --emit=plan` prints them with names.
#include <sstream>

#include "ir/schedule.h"

namespace horizon::ir {
namespace {

void print_config(std::ostream& o, const ScheduleConfig& c) {
  o << "  config {batch = " << c.batch << ", seq = " << c.seq << ", micro_batches = " << c.micro_batches
    << ", checkpoint_every = " << c.checkpoint_every << ", slots = " << c.slots << ", prefetch = " << c.prefetch
    << ", host_checkpoints = " << (c.host_checkpoints ? 1 : 0) << ", clip = " << (c.clip ? 1 : 0);
  if (c.bf16_gradients) o << ", bf16_gradients = 1";  // only when set: fp32 schedules print as before
  o << "}\n";
}

// `{INDEX = OFFSET + SIZE, ...}` of the entries with an offset or a size.
void print_placements(std::ostream& o, const std::vector<int64_t>& offsets, const std::vector<int64_t>& sizes) {
  o << "{";
  bool first = true;
  for (size_t v = 0; v < offsets.size(); ++v) {
    int64_t size = v < sizes.size() ? sizes[v] : 0;
    if (offsets[v] < 0 && size == 0) continue;
    o << (first ? "" : ", ") << v << " = " << offsets[v] << " + " << size;
    first = false;
  }
  o << "}";
}

// `arena STAGE BYTES values N {INDEX = OFFSET + SIZE, ...}`: N keeps the
// length of the per-value vectors, so values that are not transients (offset
// -1, size 0) need not be listed. Instructions with scratch of their own
// follow as `scratch N {INSTRUCTION = OFFSET + SIZE, ...}`, only if any has.
void print_arena(std::ostream& o, const ArenaPlan& a) {
  o << "  arena " << a.stage << " " << a.bytes << " values " << a.offsets.size() << " ";
  print_placements(o, a.offsets, a.sizes);
  bool scratch = false;
  for (int64_t off : a.scratch_offsets) scratch |= off >= 0;
  if (scratch) {
    o << " scratch " << a.scratch_offsets.size() << " ";
    print_placements(o, a.scratch_offsets, a.scratch_sizes);
  }
  o << "\n";
}

std::string range_str(const Schedule& s, const Range& r) {
  std::string name = r.buffer >= 0 && r.buffer < static_cast<int>(s.buffers.size()) ? s.buffers[r.buffer].name
                                                                                    : "?" + std::to_string(r.buffer);
  return "%" + name + "[" + std::to_string(r.offset) + ":" + std::to_string(r.offset + r.bytes) + "]";
}

}  // namespace

std::string print_instr(const Schedule& s, const SchedInstr& in) {
  std::ostringstream o;
  std::string stream = stream_name(in.stream);
  o << stream << std::string(stream.size() < 9 ? 9 - stream.size() : 1, ' ') << sched_op_name(in.op);
  if (!in.stage.empty()) o << " " << in.stage;
  if (in.instance >= 0) o << "[" << in.instance << "]";
  if (in.micro_batch >= 0) o << " mb=" << in.micro_batch;
  if (in.accumulate) o << " accumulate";
  if (in.event >= 0) o << " ^e" << in.event;
  if (!in.operands.empty()) {
    o << " (";
    for (size_t i = 0; i < in.operands.size(); ++i) {
      const Operand& op = in.operands[i];
      o << (i ? ", " : "") << (op.role.empty() ? "" : op.role + ": ") << range_str(s, op.range)
        << (op.write ? " w" : " r");
    }
    o << ")";
  }
  return o.str();
}

std::string instr_label(const SchedInstr& in) {
  std::string name = sched_op_name(in.op);
  if (!in.stage.empty()) name += " " + in.stage;
  if (in.instance >= 0) name += "[" + std::to_string(in.instance) + "]";
  if (in.micro_batch >= 0) name += " mb=" + std::to_string(in.micro_batch);
  if (in.event >= 0) name += " ^e" + std::to_string(in.event);
  return name;
}

std::string print_schedule(const Schedule& s) {
  std::ostringstream o;
  o << "schedule \"" << s.model << "\" {\n";
  print_config(o, s.config);
  o << "  events " << s.events << "\n";
  for (const Buffer& b : s.buffers)
    o << "  buffer %" << b.name << " : " << place_name(b.place) << " " << buffer_kind_name(b.kind) << " " << b.bytes
      << "\n";
  if (!s.arena_plans.empty()) o << "\n";
  for (const ArenaPlan& a : s.arena_plans) print_arena(o, a);
  if (!s.instrs.empty()) o << "\n";
  for (const SchedInstr& in : s.instrs) o << "  " << print_instr(s, in) << "\n";
  o << "}\n";
  return o.str();
}

}  // namespace horizon::ir
