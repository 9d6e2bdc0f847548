// ScheduleBuilder: appends instructions to a schedule stream by stream and
// inserts the synchronization they need. For every range an instruction
// reads or writes, it finds earlier conflicting accesses on other streams
// (write-after-read, read-after-write, write-after-write) that are not yet
// ordered before it, records an event right after the latest such access
// and makes this stream wait for it. Ordering is tracked with vector clocks,
// so no redundant waits are emitted. lower_to_schedule writes the program in
// intended order; the builder derives the minimal events.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <vector>

#include "ir/schedule.h"

namespace horizon::passes {

class ScheduleBuilder {
 public:
  explicit ScheduleBuilder(ir::Schedule& schedule) : s_(schedule) {}

  /// Appends `in` (after the waits it needs).
  void emit(ir::SchedInstr in);
  /// Writes the instructions into the schedule, ordered by emission with
  /// each record right after the access it follows.
  void finish();

 private:
  using Clock = std::array<int64_t, ir::kNumStreams>;
  struct Entry {
    ir::SchedInstr instr;
    int64_t time;  // emission order; records inserted later sort right after their instruction
    int64_t sub;
  };
  struct Access {
    int stream;
    int64_t seq;
    ir::Range range;
    bool write;
  };

  int event_after(int stream, int64_t seq);

  ir::Schedule& s_;
  std::vector<Entry> entries_;
  int64_t time_ = 0;
  std::array<int64_t, ir::kNumStreams> seq_{};               // instructions per stream so far
  std::array<Clock, ir::kNumStreams> clock_{};               // what each stream has waited for
  std::array<std::vector<Clock>, ir::kNumStreams> history_;  // clock after each instruction, per stream
  std::array<std::vector<int64_t>, ir::kNumStreams> times_;  // emission time of each instruction, per stream
  std::map<std::pair<int, int64_t>, int> events_;            // (stream, seq) -> event recorded after it
  std::map<int, std::vector<Access>> accesses_;              // per buffer
};

}  // namespace horizon::passes
