// The schedule IR's text form: a hand-built schedule that uses every
// instruction prints as expected, print -> parse -> print is byte-identical,
// and malformed text is a UserError that points at the line and column.
#include <gtest/gtest.h>

#include "frontend/model_json.h"
#include "ir/schedule.h"
#include "passes/lower.h"
#include "passes/schedule_pipeline.h"
#include "support/error.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

using ir::BufferKind;
using ir::Place;
using ir::SchedOp;
using ir::Stream;

ir::Operand rd(const std::string& role, int buffer, int64_t offset, int64_t bytes) {
  return ir::Operand{role, ir::Range{buffer, offset, bytes}, false};
}
ir::Operand wr(const std::string& role, int buffer, int64_t offset, int64_t bytes) {
  return ir::Operand{role, ir::Range{buffer, offset, bytes}, true};
}

ir::SchedInstr instr(Stream stream, SchedOp op, const std::string& stage = "", int64_t instance = -1,
                     std::vector<ir::Operand> operands = {}) {
  ir::SchedInstr in;
  in.op = op;
  in.stream = stream;
  in.stage = stage;
  in.instance = instance;
  in.operands = std::move(operands);
  return in;
}

ir::SchedInstr event(Stream stream, SchedOp op, int e) {
  ir::SchedInstr in = instr(stream, op);
  in.event = e;
  return in;
}

// Every instruction kind once, with every optional part of a line.
ir::Schedule every_op() {
  ir::Schedule s;
  s.model = "hand";
  s.config = {8, 128, 2, 1, 2, 1, true, true};
  int store = s.add_buffer("store", Place::host, BufferKind::store, 4096);
  int slot = s.add_buffer("slot0", Place::gpu, BufferKind::weight_slot, 512);
  int x = s.add_buffer("x0", Place::gpu, BufferKind::activations, 1024);
  int ckpt = s.add_buffer("ckpt", Place::host, BufferKind::checkpoint, 1024);
  int gacc = s.add_buffer("gacc0", Place::gpu, BufferKind::gradient, 1024);
  int slab = s.add_buffer("slab0", Place::host, BufferKind::grad_slab, 1024);
  int arena = s.add_buffer("arena", Place::gpu, BufferKind::workspace, 256);
  s.add_buffer("tokens", Place::gpu, BufferKind::batch_data, 64);
  s.events = 2;
  s.arena_plans.push_back({"block.bwd", {-1, 0, 128, -1, -1}, {0, 128, 64, 0, 0}, 192});
  s.instrs.push_back(
      instr(Stream::h2d, SchedOp::stream_in, "block", 0, {rd("src", store, 0, 512), wr("dst", slot, 0, 512)}));
  s.instrs.push_back(event(Stream::h2d, SchedOp::record, 0));
  s.instrs.push_back(event(Stream::compute, SchedOp::wait, 0));
  s.instrs.push_back(instr(Stream::compute, SchedOp::bind, "block", 0, {rd("weights", slot, 0, 512)}));
  ir::SchedInstr launch = instr(Stream::compute, SchedOp::launch, "block.bwd", 0,
                                {rd("weights", slot, 0, 512), rd("x", x, 0, 512), rd("grad", gacc, 0, 1024),
                                 wr("grad", gacc, 0, 1024), wr("arena", arena, 0, 192)});
  launch.micro_batch = 1;
  launch.accumulate = true;
  s.instrs.push_back(launch);
  s.instrs.push_back(instr(Stream::d2h, SchedOp::save, "block", 0, {rd("src", x, 0, 512), wr("dst", ckpt, 0, 512)}));
  s.instrs.push_back(
      instr(Stream::h2d, SchedOp::restore, "block", 0, {rd("src", ckpt, 0, 512), wr("dst", x, 512, 512)}));
  s.instrs.push_back(
      instr(Stream::compute, SchedOp::recompute, "block", 0, {rd("x", x, 512, 512), wr("y", x, 0, 512)}));
  s.instrs.push_back(event(Stream::compute, SchedOp::record, 1));
  s.instrs.push_back(event(Stream::d2h, SchedOp::wait, 1));
  s.instrs.push_back(
      instr(Stream::d2h, SchedOp::offload, "block", 0, {rd("src", gacc, 0, 1024), wr("dst", slab, 0, 1024)}));
  s.instrs.push_back(instr(Stream::cpu, SchedOp::grad_norm, "", -1, {rd("grad", slab, 0, 1024)}));
  s.instrs.push_back(instr(Stream::cpu, SchedOp::optimizer_step, "block", 0,
                           {rd("grad", slab, 0, 1024), wr("params", store, 0, 4096)}));
  s.instrs.push_back(instr(Stream::compute, SchedOp::free, "", -1, {rd("", x, 0, 1024)}));
  return s;
}

const char* kEveryOpText = R"(schedule "hand" {
  config {batch = 8, seq = 128, micro_batches = 2, checkpoint_every = 1, slots = 2, prefetch = 1, host_checkpoints = 1, clip = 1}
  events 2
  buffer %store : host store 4096
  buffer %slot0 : gpu weight_slot 512
  buffer %x0 : gpu activations 1024
  buffer %ckpt : host checkpoint 1024
  buffer %gacc0 : gpu gradient 1024
  buffer %slab0 : host grad_slab 1024
  buffer %arena : gpu workspace 256
  buffer %tokens : gpu batch_data 64

  arena block.bwd 192 values 5 {1 = 0 + 128, 2 = 128 + 64}

  h2d      stream_in block[0] (src: %store[0:512] r, dst: %slot0[0:512] w)
  h2d      record ^e0
  compute  wait ^e0
  compute  bind block[0] (weights: %slot0[0:512] r)
  compute  launch block.bwd[0] mb=1 accumulate (weights: %slot0[0:512] r, x: %x0[0:512] r, grad: %gacc0[0:1024] r, grad: %gacc0[0:1024] w, arena: %arena[0:192] w)
  d2h      save block[0] (src: %x0[0:512] r, dst: %ckpt[0:512] w)
  h2d      restore block[0] (src: %ckpt[0:512] r, dst: %x0[512:1024] w)
  compute  recompute block[0] (x: %x0[512:1024] r, y: %x0[0:512] w)
  compute  record ^e1
  d2h      wait ^e1
  d2h      offload block[0] (src: %gacc0[0:1024] r, dst: %slab0[0:1024] w)
  cpu      grad_norm (grad: %slab0[0:1024] r)
  cpu      optimizer_step block[0] (grad: %slab0[0:1024] r, params: %store[0:4096] w)
  compute  free (%x0[0:1024] r)
}
)";

TEST(ScheduleText, EveryOpPrintsAsDocumented) { EXPECT_EQ(ir::print_schedule(every_op()), kEveryOpText); }

TEST(ScheduleText, PrintParsePrintIsIdentical) {
  ir::Schedule s = every_op();
  std::string once = ir::print_schedule(s);
  ir::Schedule parsed = ir::parse_schedule(once, "every_op.sched");
  EXPECT_EQ(ir::print_schedule(parsed), once);
  // The structure survives too, not just the bytes.
  ASSERT_EQ(parsed.instrs.size(), s.instrs.size());
  EXPECT_EQ(parsed.events, 2);
  EXPECT_EQ(parsed.config.micro_batches, 2);
  EXPECT_TRUE(parsed.config.host_checkpoints);
  EXPECT_EQ(parsed.arena_plans[0].offsets, s.arena_plans[0].offsets);
  EXPECT_EQ(parsed.arena_plans[0].sizes, s.arena_plans[0].sizes);
  const ir::SchedInstr& launch = parsed.instrs[4];
  EXPECT_EQ(launch.op, SchedOp::launch);
  EXPECT_EQ(launch.stage, "block.bwd");
  EXPECT_EQ(launch.micro_batch, 1);
  EXPECT_TRUE(launch.accumulate);
  EXPECT_EQ(launch.operands[3].range, (ir::Range{4, 0, 1024}));
  EXPECT_TRUE(launch.operands[3].write);
  EXPECT_EQ(parsed.instrs.back().operands[0].role, "");
}

TEST(ScheduleText, EnumNamesRoundTrip) {
  for (int k = 0; k < ir::kNumStreams; ++k)
    EXPECT_EQ(ir::parse_stream(ir::stream_name(static_cast<Stream>(k))), static_cast<Stream>(k));
  for (int k = 0; k <= static_cast<int>(SchedOp::free); ++k)
    EXPECT_EQ(ir::parse_sched_op(ir::sched_op_name(static_cast<SchedOp>(k))), static_cast<SchedOp>(k));
  for (int k = 0; k <= static_cast<int>(BufferKind::batch_data); ++k)
    EXPECT_EQ(ir::parse_buffer_kind(ir::buffer_kind_name(static_cast<BufferKind>(k))), static_cast<BufferKind>(k));
  EXPECT_FALSE(ir::parse_stream("gpu"));
  EXPECT_FALSE(ir::parse_sched_op("memcpy"));
}

TEST(ScheduleText, BufferTableHelpers) {
  ir::Schedule s = every_op();
  EXPECT_EQ(s.find_buffer("gacc0"), 4);
  EXPECT_EQ(s.find_buffer("nope"), -1);
  EXPECT_EQ(s.bytes(Place::host), 4096 + 1024 + 1024);
  EXPECT_EQ(s.bytes(Place::gpu), 512 + 1024 + 1024 + 256 + 64);
  EXPECT_THROW(s.add_buffer("x0", Place::gpu, BufferKind::activations, 1), std::logic_error);
}

// The text with `line` (1-based) replaced, parsed; returns the error message.
std::string parse_error(int line, const std::string& replacement) {
  std::string text = kEveryOpText, out;
  size_t begin = 0;
  for (int l = 1; l < line; ++l) begin = text.find('\n', begin) + 1;
  text.replace(begin, text.find('\n', begin) - begin, replacement);
  try {
    ir::parse_schedule(text, "bad.sched");
  } catch (const UserError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ScheduleText, ErrorsNameFileLineAndColumn) {
  EXPECT_EQ(parse_error(15, "  h2d      stream_in block[0] (src: %nowhere[0:512] r)"),
            "bad.sched:15:37: use of undeclared buffer %nowhere; declare it with 'buffer'");
  EXPECT_EQ(parse_error(16, "  h2d      record ^e7"),
            "bad.sched:16:19: event ^e7 is out of range; the schedule declares 2 events (raise 'events')");
  EXPECT_EQ(parse_error(17, "  compute  teleport ^e0"),
            "bad.sched:17:12: unknown instruction 'teleport'; see docs/schedule-ir.md for the instructions");
  EXPECT_EQ(parse_error(18, "  compute  bind block[0] (weights: %slot0[512:0] r)"),
            "bad.sched:18:43: range [512:0] ends before it begins");
  EXPECT_EQ(parse_error(18, "  compute  bind block[0] (weights: %slot0[0:512] x)"),
            "bad.sched:18:50: access must be r or w, got 'x'");
  EXPECT_EQ(parse_error(4, "  buffer %store : disk store 4096"),
            "bad.sched:4:19: unknown place 'disk'; use gpu or host");
  EXPECT_EQ(parse_error(4, "  buffer %slot0 : gpu weight_slot 512"),
            "bad.sched:5:10: buffer %slot0 is declared twice; rename one");
  EXPECT_EQ(parse_error(2, "  config {batch = 8, warp = 9}"),
            "bad.sched:2:22: unknown config key 'warp'; keys are batch, seq, micro_batches, checkpoint_every, slots, "
            "prefetch, host_checkpoints, clip, bf16_gradients");
  EXPECT_EQ(parse_error(13, "  arena block.bwd 192 values 5 {7 = 0 + 128}"),
            "bad.sched:13:33: value 7 is out of range; the plan declares 5 values");
  EXPECT_EQ(parse_error(18, "  compute  bind block[0] (weights: %slot0[0:512] r) extra"),
            "bad.sched:18:53: expected the end of the instruction's line (found 'extra')");
  EXPECT_EQ(parse_error(2, "  config {batch = 1.5}"), "bad.sched:2:19: '1.5' is not an integer; expected an integer");
}

// The lowered schedules of shipped models: what the runtime executes.
struct LoweredCase {
  const char* model;
  int64_t batch, seq, micro_batches;
  const char* golden;
};
const LoweredCase kLowered[] = {{"models/tiny.json", 8, 128, 2, "schedule-tiny.txt"},
                                {"models/llama-1b.json", 8, 2048, 1, "schedule-llama-1b.txt"}};

ir::Schedule lowered(const LoweredCase& c) {
  ir::Module m = frontend::load_model(testing::source_path(c.model));
  passes::lower(m);
  passes::StreamingOptions o;
  o.batch = c.batch;
  o.seq = c.seq;
  o.micro_batches = c.micro_batches;
  o.host_checkpoints = 1;  // as a model too deep for its GPU gets them (auto would keep these on the GPU)
  return passes::lower_to_schedule(m, o);
}

TEST(ScheduleText, LoweredSchedulesRoundTrip) {
  for (const LoweredCase& c : kLowered) {
    std::string once = ir::print_schedule(lowered(c));
    ir::Schedule parsed = ir::parse_schedule(once, c.golden);
    ir::verify_schedule(parsed);
    EXPECT_EQ(ir::print_schedule(parsed), once) << c.model;
  }
}

TEST(ScheduleText, LoweredSchedulesMatchGoldenDumps) {
  for (const LoweredCase& c : kLowered)
    EXPECT_EQ(testing::check_golden(c.golden, ir::print_schedule(lowered(c))), "") << c.model;
}

}  // namespace
}  // namespace horizon
