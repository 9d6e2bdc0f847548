// The schedule verifier. The instruction list is the program: within a
// stream it is execution order, and across streams it is the intended order
// that events must enforce. Happens-before comes from stream order and
// record -> wait edges (vector clocks); the checks are then:
//  - every wait's event is recorded, and no stream can deadlock;
//  - two accesses of overlapping bytes, one a write, on different streams,
//    are ordered by events in list order (a missing wait is a race);
//  - every byte read was written by an earlier, ordered instruction, except
//    the buffers a step starts with (store, resident planes, tokens, targets,
//    a packed batch's positions and segments, a DPO batch's reference);
//  - provenance: a cast or an offload reads the accumulator its own stage
//    instance wrote, an optimizer step reads the slab its own offload filled;
//  - every stage instance the step binds is updated exactly once;
//  - where updates are deferred into the next step (ir/step_pair.h), the
//    first three checks hold for two back-to-back steps as well.
#include <algorithm>
#include <map>
#include <set>

#include "ir/schedule.h"
#include "ir/step_pair.h"
#include "support/error.h"

namespace horizon::ir {
namespace {

using Clock = std::vector<int64_t>;

std::string describe(const Schedule& s, size_t i) {
  const SchedInstr& in = s.instrs[i];
  std::string d = "#" + std::to_string(i) + " (" + stream_name(in.stream) + " " + sched_op_name(in.op);
  if (!in.stage.empty()) d += " " + in.stage + (in.instance >= 0 ? "[" + std::to_string(in.instance) + "]" : "");
  if (in.micro_batch >= 0) d += " mb=" + std::to_string(in.micro_batch);
  if (in.event >= 0) d += " ^e" + std::to_string(in.event);
  return d + ")";
}

std::string range_str(const Schedule& s, const Range& r) {
  return "%" + s.buffers[static_cast<size_t>(r.buffer)].name + "[" + std::to_string(r.offset) + ":" +
         std::to_string(r.offset + r.bytes) + "]";
}

[[noreturn]] void fail(const std::string& msg, const std::string& fix = "") {
  throw UserError(format_user_error("schedule", "", msg, fix));
}

// Vector clock of every instruction; throws on an unrecorded event or deadlock.
std::vector<Clock> happens_before(const Schedule& s, std::vector<int64_t>& seq) {
  const size_t n = s.instrs.size();
  std::vector<std::vector<size_t>> streams(kNumStreams);
  for (size_t i = 0; i < n; ++i) streams[static_cast<size_t>(s.instrs[i].stream)].push_back(i);
  std::map<int, int> records;
  for (size_t i = 0; i < n; ++i)
    if (s.instrs[i].op == SchedOp::record && records[s.instrs[i].event]++ > 0)
      fail("event ^e" + std::to_string(s.instrs[i].event) + " is recorded twice (" + describe(s, i) + ")",
           "use a new event for each record");
  std::vector<Clock> clock(n, Clock(kNumStreams, 0));
  std::map<int, Clock> event_clock;
  std::vector<size_t> pos(kNumStreams, 0);
  std::vector<Clock> current(kNumStreams, Clock(kNumStreams, 0));
  seq.assign(n, 0);
  for (bool progress = true; progress;) {
    progress = false;
    for (int t = 0; t < kNumStreams; ++t) {
      auto& list = streams[static_cast<size_t>(t)];
      while (pos[static_cast<size_t>(t)] < list.size()) {
        const size_t i = list[pos[static_cast<size_t>(t)]];
        const SchedInstr& in = s.instrs[i];
        Clock& c = current[static_cast<size_t>(t)];
        if (in.op == SchedOp::wait) {
          if (!records.count(in.event))
            fail(describe(s, i) + " waits for ^e" + std::to_string(in.event) + ", which is never recorded",
                 "add the record");
          auto e = event_clock.find(in.event);
          if (e == event_clock.end()) break;  // not recorded yet: try other streams
          for (int u = 0; u < kNumStreams; ++u)
            c[static_cast<size_t>(u)] = std::max(c[static_cast<size_t>(u)], e->second[static_cast<size_t>(u)]);
        }
        c[static_cast<size_t>(t)] = static_cast<int64_t>(++pos[static_cast<size_t>(t)]);
        seq[i] = c[static_cast<size_t>(t)];
        clock[i] = c;
        if (in.op == SchedOp::record) event_clock[in.event] = c;
        progress = true;
      }
    }
  }
  for (int t = 0; t < kNumStreams; ++t)
    if (pos[static_cast<size_t>(t)] < streams[static_cast<size_t>(t)].size())
      fail("deadlock: " + describe(s, streams[static_cast<size_t>(t)][pos[static_cast<size_t>(t)]]) +
               " waits for an event that is only recorded after work that waits for it",
           "reorder the record before the wait it enables");
  return clock;
}

bool is_input(const Buffer& b) {
  return b.kind == BufferKind::store || b.kind == BufferKind::resident || b.name == "tokens" || b.name == "targets" ||
         b.name == "positions" || b.name == "segments" || b.name == "reference";
}

// Every access inside its buffer; conflicting accesses of different streams
// ordered by events; no read of bytes nothing ordered before it wrote.
// `scope` prefixes the messages ("" for one step).
void verify_accesses(const Schedule& s, const std::string& scope) {
  auto fail = [&](const std::string& what, const std::string& fix = "") { ir::fail(scope + what, fix); };
  const size_t n = s.instrs.size();
  for (size_t i = 0; i < n; ++i)
    for (const Operand& op : s.instrs[i].operands) {
      if (op.range.buffer < 0 || op.range.buffer >= static_cast<int>(s.buffers.size()))
        fail(describe(s, i) + " refers to a buffer that does not exist");
      const Buffer& b = s.buffers[static_cast<size_t>(op.range.buffer)];
      if (op.range.offset < 0 || op.range.bytes < 0 || op.range.offset + op.range.bytes > b.bytes)
        fail(describe(s, i) + " accesses " + range_str(s, op.range) + " outside %" + b.name + " (" +
             std::to_string(b.bytes) + " bytes)");
    }
  std::vector<int64_t> seq;
  std::vector<Clock> clock = happens_before(s, seq);
  auto ordered = [&](size_t a, size_t b) {  // a happens before b
    return clock[b][static_cast<size_t>(s.instrs[a].stream)] >= seq[a];
  };

  struct Access {
    size_t instr;
    const Operand* op;
  };
  std::map<int, std::vector<Access>> by_buffer;
  for (size_t i = 0; i < n; ++i)
    for (const Operand& op : s.instrs[i].operands) by_buffer[op.range.buffer].push_back({i, &op});

  for (auto& [buffer, accesses] : by_buffer) {
    for (size_t x = 0; x < accesses.size(); ++x) {
      const Access& b = accesses[x];
      // Races: earlier conflicting accesses on other streams must be ordered before this one.
      for (size_t y = 0; y < x; ++y) {
        const Access& a = accesses[y];
        if (a.instr == b.instr || s.instrs[a.instr].stream == s.instrs[b.instr].stream) continue;
        if (!(a.op->write || b.op->write) || !a.op->range.overlaps(b.op->range)) continue;
        if (!ordered(a.instr, b.instr))
          fail("race on " + range_str(s, b.op->range) + ": " + describe(s, a.instr) + " " +
                   (a.op->write ? "writes" : "reads") + " it and " + describe(s, b.instr) + " " +
                   (b.op->write ? "writes" : "reads") + " it, and no event orders the first before the second",
               "record an event after the first and wait for it before the second");
      }
      // Reads of bytes nothing wrote before (the step's inputs excepted).
      if (b.op->write || is_input(s.buffers[static_cast<size_t>(buffer)])) continue;
      std::vector<std::pair<int64_t, int64_t>> covered;
      for (size_t y = 0; y < x; ++y) {
        const Access& a = accesses[y];
        if (!a.op->write || a.instr == b.instr || !a.op->range.overlaps(b.op->range)) continue;
        if (s.instrs[a.instr].stream == s.instrs[b.instr].stream || ordered(a.instr, b.instr))
          covered.push_back({a.op->range.offset, a.op->range.offset + a.op->range.bytes});
      }
      std::sort(covered.begin(), covered.end());
      int64_t reach = b.op->range.offset;
      for (const auto& [lo, hi] : covered)
        if (lo <= reach) reach = std::max(reach, hi);
      if (reach < b.op->range.offset + b.op->range.bytes)
        fail(describe(s, b.instr) + " reads " + range_str(s, b.op->range) + " but byte " + std::to_string(reach) +
                 " was not written by any instruction ordered before it",
             "produce it first, or wait for its producer");
    }
  }
}

}  // namespace

void verify_schedule(const Schedule& s) {
  const size_t n = s.instrs.size();
  verify_accesses(s, "");
  // Updates that run into the next step must not race with it either.
  if (!deferred_updates(s).empty())
    verify_accesses(step_pair(s).schedule, "across two steps (deferred updates, docs/schedule-ir.md): ");

  // Provenance of gradients: the latest earlier writer of the bytes an offload
  // or an optimizer step reads must belong to the same stage instance.
  auto instance_key = [&](size_t i) {
    std::string stage = s.instrs[i].stage;
    if (auto dot = stage.find('.'); dot != std::string::npos) stage = stage.substr(0, dot);
    return stage + "[" + std::to_string(s.instrs[i].instance) + "]";
  };
  for (size_t i = 0; i < n; ++i) {
    const SchedInstr& in = s.instrs[i];
    if (in.op != SchedOp::cast && in.op != SchedOp::offload && in.op != SchedOp::optimizer_step) continue;
    for (const Operand& op : in.operands) {
      // Tied gradients come from the head, the clip factor from the norm, by design.
      if (op.write || op.role == "grad_tied" || op.role == "scale") continue;
      for (size_t j = i; j-- > 0;) {
        const SchedInstr& w = s.instrs[j];
        bool writes = false;
        for (const Operand& o : w.operands) writes |= o.write && o.range.overlaps(op.range);
        if (!writes) continue;
        if (instance_key(j) != instance_key(i))
          fail(describe(s, i) + " reads " + range_str(s, op.range) + " last written by " + describe(s, j) +
                   ": the gradient of " + instance_key(i) + " was overwritten before it was consumed",
               "offload and update a gradient before its buffer is reused");
        break;
      }
    }
  }

  // Every stage instance whose weights the step binds (streamed or
  // resident) is updated exactly once.
  std::map<std::string, int> updates;
  std::set<std::string> bound;
  for (size_t i = 0; i < n; ++i) {
    if (s.instrs[i].op == SchedOp::bind) bound.insert(instance_key(i));
    if (s.instrs[i].op == SchedOp::optimizer_step) ++updates[instance_key(i)];
  }
  for (const std::string& k : bound)
    if (updates[k] != 1)
      fail(k + " is updated " + std::to_string(updates[k]) + " times in one step",
           "give it exactly one optimizer_step");
  for (const auto& [k, count] : updates)
    if (!bound.count(k)) fail(k + " is updated but its weights are never bound");
}

}  // namespace horizon::ir
