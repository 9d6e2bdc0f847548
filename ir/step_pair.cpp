#include "ir/step_pair.h"

#include <algorithm>
#include <stdexcept>

namespace horizon::ir {
namespace {

bool overlaps(const Range& a, const Range& b) {
  return a.buffer == b.buffer && a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes;
}

SchedInstr event_instr(SchedOp op, Stream stream, int event) {
  SchedInstr in;
  in.op = op;
  in.stream = stream;
  in.event = event;
  return in;
}

}  // namespace

std::vector<int> deferred_updates(const Schedule& s) {
  int last_norm = -1;
  for (int i = 0; i < static_cast<int>(s.instrs.size()); ++i)
    if (s.instrs[static_cast<size_t>(i)].op == SchedOp::grad_norm) last_norm = i;
  std::vector<int> tail;
  if (last_norm < 0) return tail;
  for (int i = last_norm + 1; i < static_cast<int>(s.instrs.size()); ++i) {
    const SchedInstr& in = s.instrs[static_cast<size_t>(i)];
    // Records right after the norm (a GPU update's wait for the clip factor) stay in the step.
    if (in.stream != Stream::cpu || (in.op == SchedOp::record && tail.empty())) continue;
    if (in.op != SchedOp::optimizer_step) return {};
    tail.push_back(i);
  }
  return tail;
}

StepPair step_pair(const Schedule& s) {
  const std::vector<int> tail = deferred_updates(s);
  if (tail.empty()) throw std::invalid_argument("step_pair: schedule \"" + s.model + "\" defers no update");
  const int n = static_cast<int>(s.instrs.size());
  int last_norm = -1;
  for (int i = 0; i < n; ++i)
    if (s.instrs[static_cast<size_t>(i)].op == SchedOp::grad_norm) last_norm = i;
  int events = s.events;
  for (const SchedInstr& in : s.instrs) events = std::max(events, in.event + 1);

  // Events: step 1's, then the joins and one per deferred update, then step 2's.
  const Stream gpu[] = {Stream::compute, Stream::h2d, Stream::d2h};
  const int join_cpu = events, join_gpu = events + 1, updated = events + 4;
  const int second = updated + static_cast<int>(tail.size());

  StepPair p;
  p.schedule = s;
  p.schedule.instrs.clear();
  p.schedule.events = second + events;
  auto add = [&](const SchedInstr& in, int step, int original) {
    p.schedule.instrs.push_back(in);
    p.step.push_back(step);
    p.original.push_back(original);
    return static_cast<int>(p.schedule.instrs.size()) - 1;
  };
  for (int i = 0; i < n; ++i) {
    add(s.instrs[static_cast<size_t>(i)], 0, i);
    if (i == last_norm) p.joins.push_back(add(event_instr(SchedOp::record, Stream::cpu, join_cpu), 0, -1));
    if (auto k = std::find(tail.begin(), tail.end(), i); k != tail.end())
      add(event_instr(SchedOp::record, Stream::cpu, updated + static_cast<int>(k - tail.begin())), 0, -1);
  }
  for (int g = 0; g < 3; ++g) p.joins.push_back(add(event_instr(SchedOp::record, gpu[g], join_gpu + g), 0, -1));
  for (Stream stream : gpu)
    for (int e = join_cpu; e < join_gpu + 3; ++e) add(event_instr(SchedOp::wait, stream, e), 1, -1);
  for (int i = 0; i < n; ++i) {
    SchedInstr in = s.instrs[static_cast<size_t>(i)];
    if (in.op == SchedOp::stream_in)
      for (size_t k = 0; k < tail.size(); ++k) {
        const SchedInstr& update = s.instrs[static_cast<size_t>(tail[k])];
        bool reads = false;
        for (const Operand& src : in.operands)
          for (const Operand& params : update.operands)
            reads = reads || (!src.write && params.write && overlaps(src.range, params.range));
        if (reads) add(event_instr(SchedOp::wait, in.stream, updated + static_cast<int>(k)), 1, -1);
      }
    if (in.event >= 0) in.event += second;
    add(in, 1, i);
  }
  return p;
}

}  // namespace horizon::ir
