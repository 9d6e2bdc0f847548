#include "passes/schedule_builder.h"

#include <algorithm>

namespace horizon::passes {

int ScheduleBuilder::event_after(int stream, int64_t seq) {
  auto key = std::make_pair(stream, seq);
  if (auto it = events_.find(key); it != events_.end()) return it->second;
  const int event = s_.events++;
  ir::SchedInstr record;
  record.op = ir::SchedOp::record;
  record.stream = static_cast<ir::Stream>(stream);
  record.event = event;
  entries_.push_back({record, times_[stream][static_cast<size_t>(seq - 1)], 1});
  events_[key] = event;
  return event;
}

void ScheduleBuilder::emit(ir::SchedInstr in) {
  const int s = static_cast<int>(in.stream);
  // Latest unordered conflicting access on each other stream.
  std::array<int64_t, ir::kNumStreams> need{};
  for (const ir::Operand& op : in.operands) {
    auto it = accesses_.find(op.range.buffer);
    if (it == accesses_.end()) continue;
    for (const Access& a : it->second) {
      if (a.stream == s || !(a.write || op.write) || !a.range.overlaps(op.range)) continue;
      if (clock_[s][a.stream] >= a.seq) continue;  // already ordered
      need[a.stream] = std::max(need[a.stream], a.seq);
    }
  }
  for (int t = 0; t < ir::kNumStreams; ++t) {
    if (need[t] == 0 || clock_[s][t] >= need[t]) continue;  // an earlier wait in this loop may have covered it
    ir::SchedInstr wait;
    wait.op = ir::SchedOp::wait;
    wait.stream = in.stream;
    wait.event = event_after(t, need[t]);
    entries_.push_back({wait, time_++, 0});
    const Clock& theirs = history_[t][static_cast<size_t>(need[t] - 1)];
    for (int u = 0; u < ir::kNumStreams; ++u) clock_[s][u] = std::max(clock_[s][u], theirs[u]);
  }
  const int64_t seq = ++seq_[s];
  clock_[s][s] = seq;
  history_[s].push_back(clock_[s]);
  times_[s].push_back(time_);
  for (const ir::Operand& op : in.operands) accesses_[op.range.buffer].push_back({s, seq, op.range, op.write});
  entries_.push_back({std::move(in), time_++, 0});
}

void ScheduleBuilder::finish() {
  std::stable_sort(entries_.begin(), entries_.end(),
                   [](const Entry& a, const Entry& b) { return a.time != b.time ? a.time < b.time : a.sub < b.sub; });
  s_.instrs.clear();
  for (Entry& e : entries_) s_.instrs.push_back(std::move(e.instr));
  entries_.clear();
}

}  // namespace horizon::passes
