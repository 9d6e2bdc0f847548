#include "passes/insert_events.h"

#include "passes/schedule_builder.h"

namespace horizon::passes {
namespace {

bool same(const ir::SchedInstr& a, const ir::SchedInstr& b) {
  if (a.op != b.op || a.stream != b.stream || a.stage != b.stage || a.instance != b.instance ||
      a.micro_batch != b.micro_batch || a.event != b.event || a.accumulate != b.accumulate ||
      a.operands.size() != b.operands.size())
    return false;
  for (size_t i = 0; i < a.operands.size(); ++i)
    if (a.operands[i].role != b.operands[i].role || !(a.operands[i].range == b.operands[i].range) ||
        a.operands[i].write != b.operands[i].write)
      return false;
  return true;
}

}  // namespace

bool insert_events(ir::Schedule& s) {
  const std::vector<ir::SchedInstr> before = s.instrs;
  const int events_before = s.events;
  s.instrs.clear();
  s.events = 0;
  ScheduleBuilder builder(s);
  for (const ir::SchedInstr& in : before)
    if (in.op != ir::SchedOp::record && in.op != ir::SchedOp::wait) builder.emit(in);
  builder.finish();
  if (s.events != events_before || s.instrs.size() != before.size()) return true;
  for (size_t i = 0; i < before.size(); ++i)
    if (!same(before[i], s.instrs[i])) return true;
  return false;
}

}  // namespace horizon::passes
