// The cost model and step simulator on hand-built schedules whose answers
// are known: independent streams overlap, a wait serializes, the PCIe lanes
// share the both-directions rate, a deadlock is reported, and a launch of a
// real stage costs the FLOPs its GEMMs and attention do. Also the machine
// description loader and the Chrome trace.
#include "plan/simulator.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "frontend/model_json.h"
#include "ir/schedule.h"
#include "passes/lower.h"
#include "passes/schedule_pipeline.h"
#include "plan/chrome_trace.h"
#include "plan/cost_model.h"
#include "plan/machine.h"
#include "support/error.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

using ir::BufferKind;
using ir::Place;
using ir::SchedOp;
using ir::Stream;

// A schedule over four big buffers, built one instruction at a time.
struct Builder {
  ir::Schedule s;
  int store, slot, slab, gacc;
  Builder() {
    s.model = "hand";
    s.config.batch = 1;
    s.config.seq = 1;
    store = s.add_buffer("store", Place::host, BufferKind::store, 1'000'000'000'000);
    slot = s.add_buffer("slot0", Place::gpu, BufferKind::weight_slot, 1'000'000'000'000);
    slab = s.add_buffer("slab0", Place::host, BufferKind::grad_slab, 1'000'000'000'000);
    gacc = s.add_buffer("gacc0", Place::gpu, BufferKind::gradient, 1'000'000'000'000);
  }
  void add(Stream stream, SchedOp op, std::vector<ir::Operand> operands, int event = -1) {
    ir::SchedInstr in;
    in.stream = stream;
    in.op = op;
    in.event = event;
    in.operands = std::move(operands);
    if (event >= 0) s.events = std::max(s.events, event + 1);
    s.instrs.push_back(std::move(in));
  }
  // H2D of `bytes` (55 GB/s on the default machine).
  void stream_in(double bytes) {
    int64_t b = static_cast<int64_t>(bytes);
    add(Stream::h2d, SchedOp::stream_in, {{"src", {store, 0, b}, false}, {"dst", {slot, 0, b}, true}});
  }
  void offload(double bytes) {
    int64_t b = static_cast<int64_t>(bytes);
    add(Stream::d2h, SchedOp::offload, {{"src", {gacc, 0, b}, false}, {"dst", {slab, 0, b}, true}});
  }
  // A CPU pass over `bytes` of gradient (100 GB/s on the default machine).
  void grad_norm(double bytes) {
    add(Stream::cpu, SchedOp::grad_norm, {{"grad", {slab, 0, static_cast<int64_t>(bytes)}, false}});
  }
  void record(Stream st, int e) { add(st, SchedOp::record, {}, e); }
  void wait(Stream st, int e) { add(st, SchedOp::wait, {}, e); }
};

const ir::Module kNoGraph;

plan::SimResult run(const Builder& b) { return plan::simulate(b.s, kNoGraph, plan::default_machine()); }

TEST(Simulator, IndependentStreamsOverlap) {
  Builder b;
  b.stream_in(55e9);   // 1 s
  b.grad_norm(200e9);  // 2 s
  plan::SimResult r = run(b);
  EXPECT_NEAR(r.step_seconds, 2.0, 1e-9);  // max, not sum
  EXPECT_NEAR(r.stream(Stream::h2d).busy, 1.0, 1e-9);
  EXPECT_NEAR(r.stream(Stream::h2d).idle, 1.0, 1e-9);
  EXPECT_NEAR(r.stream(Stream::cpu).busy, 2.0, 1e-9);
  EXPECT_EQ(r.bottleneck, "CPU optimizer");
  EXPECT_NEAR(r.bottleneck_share, 1.0, 1e-9);
  EXPECT_DOUBLE_EQ(r.h2d_bytes, 55e9);
  EXPECT_EQ(r.host_bytes, 2'000'000'000'000);
  EXPECT_EQ(r.gpu_bytes, 2'000'000'000'000);
}

TEST(Simulator, WaitSerializes) {
  Builder b;
  b.stream_in(55e9);
  b.record(Stream::h2d, 0);
  b.wait(Stream::cpu, 0);
  b.grad_norm(200e9);
  plan::SimResult r = run(b);
  EXPECT_NEAR(r.step_seconds, 3.0, 1e-9);
  EXPECT_NEAR(r.times[2].start, 0.0, 1e-12);  // the wait holds cpu from 0 ...
  EXPECT_NEAR(r.times[2].end, 1.0, 1e-9);     // ... until the record
  EXPECT_NEAR(r.times[3].start, 1.0, 1e-9);
  EXPECT_NEAR(r.stream(Stream::cpu).idle, 1.0, 1e-9);
}

TEST(Simulator, WaitMayPrecedeItsRecordInProgramOrder) {
  Builder b;
  b.wait(Stream::cpu, 0);
  b.grad_norm(200e9);
  b.stream_in(55e9);
  b.record(Stream::h2d, 0);
  EXPECT_NEAR(run(b).step_seconds, 3.0, 1e-9);
}

TEST(Simulator, ChainOfEventsAcrossThreeStreams) {
  Builder b;
  b.stream_in(55e9);  // h2d 0..1
  b.record(Stream::h2d, 0);
  b.wait(Stream::d2h, 0);
  b.offload(55e9);  // d2h 1..2
  b.record(Stream::d2h, 1);
  b.wait(Stream::cpu, 1);
  b.grad_norm(100e9);  // cpu 2..3
  plan::SimResult r = run(b);
  EXPECT_NEAR(r.step_seconds, 3.0, 1e-9);
  EXPECT_NEAR(r.times[3].start, 1.0, 1e-9);
  EXPECT_NEAR(r.times[6].start, 2.0, 1e-9);
}

TEST(Simulator, BothDirectionsShareTheLinkCap) {
  Builder b;
  b.stream_in(92e9);
  b.offload(46e9);
  plan::SimResult r = run(b);
  // Together the lanes are scaled to 92 GB/s in all: 46 GB/s each, so the
  // offload ends at 1 s; the rest of the H2D (46 GB) then runs at 55 GB/s.
  EXPECT_NEAR(r.times[1].end, 1.0, 1e-9);
  EXPECT_NEAR(r.step_seconds, 1.0 + 46.0 / 55.0, 1e-9);
  EXPECT_EQ(r.bottleneck, "PCIe H2D");
  EXPECT_DOUBLE_EQ(r.d2h_bytes, 46e9);
}

TEST(Simulator, OneDirectionRunsAtItsOwnRate) {
  Builder b;
  b.stream_in(55e9);
  b.record(Stream::h2d, 0);
  b.wait(Stream::d2h, 0);
  b.offload(55e9);
  EXPECT_NEAR(run(b).step_seconds, 2.0, 1e-9);  // never concurrent: no cap applies
}

TEST(Simulator, DeadlockIsDetected) {
  Builder b;
  b.wait(Stream::compute, 0);
  b.record(Stream::compute, 1);
  b.wait(Stream::cpu, 1);
  b.record(Stream::cpu, 0);
  try {
    run(b);
    FAIL() << "expected a deadlock";
  } catch (const UserError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("deadlock"), std::string::npos) << msg;
    EXPECT_NE(msg.find("compute is held at instruction 0 (compute  wait ^e0)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("cpu is held at instruction 2"), std::string::npos) << msg;
  }
}

TEST(Simulator, WaitForAnEventNeverRecorded) {
  Builder b;
  b.stream_in(55e9);
  b.wait(Stream::cpu, 3);
  try {
    run(b);
    FAIL() << "expected a deadlock";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("deadlock after 1000.0 ms: cpu is held at instruction 1 (cpu      wait ^e3): "
                                         "^e3 is never recorded"),
              std::string::npos)
        << e.what();
  }
}

TEST(Simulator, EventRecordedTwiceIsRejected) {
  Builder b;
  b.record(Stream::h2d, 0);
  b.record(Stream::cpu, 0);
  EXPECT_THROW(run(b), UserError);
}

TEST(Simulator, EmptyScheduleTakesNoTime) {
  Builder b;
  plan::SimResult r = run(b);
  EXPECT_EQ(r.step_seconds, 0);
  EXPECT_EQ(r.bottleneck, "none");
}

ir::Module lowered_tiny() {
  ir::Module m = frontend::load_model(testing::source_path("models/tiny.json"));
  passes::lower(m);
  return m;
}

TEST(Simulator, LaunchCostsItsGemmAndAttentionFlops) {
  ir::Module tiny = lowered_tiny();
  Builder b;
  b.s.config.batch = 8;
  b.s.config.seq = 128;
  b.s.config.micro_batches = 2;  // 4 sequences per launch
  ir::SchedInstr in;
  in.op = SchedOp::launch;
  in.stream = Stream::compute;
  in.stage = "block";
  in.instance = 0;
  b.s.instrs.push_back(in);
  plan::SimResult r = plan::simulate(b.s, tiny, plan::default_machine());
  // Linear weights of a block: 4 * 256^2 + 3 * 688 * 256 = 790528; 2 FLOPs
  // per weight per token over 512 tokens; attention 2 * B * H * S^2 * D.
  double linear = 2.0 * 512 * 790528, attention = 2.0 * 4 * 4 * 128 * 128 * 64;
  EXPECT_DOUBLE_EQ(r.gemm_flops, linear + attention);
  EXPECT_GT(r.step_seconds, r.gemm_flops / 780e12);
  EXPECT_EQ(r.bottleneck, "GPU compute");

  // The backward stage recomputes the forward (all but down_proj, whose
  // output only feeds the block's result), does twice its GEMMs, and
  // attention backward is 2.5x forward.
  plan::StageCost fwd = plan::stage_cost(*tiny.find_stage("block"), 4, 128, plan::default_machine());
  plan::StageCost bwd = plan::stage_cost(*tiny.find_stage("block.bwd"), 4, 128, plan::default_machine());
  double down_proj = 2.0 * 512 * 688 * 256;
  EXPECT_DOUBLE_EQ(bwd.gemm_flops, 3 * linear - down_proj + attention * 3.5);
  EXPECT_GT(bwd.kernels, fwd.kernels);
  EXPECT_GT(fwd.memory_bytes, 0);

  // The kept backward reads the forward's matmul and attention results: only
  // the gradient's GEMMs and attention_grad remain.
  plan::StageCost kept = plan::stage_cost(*tiny.find_stage("block.kept.bwd"), 4, 128, plan::default_machine());
  EXPECT_DOUBLE_EQ(kept.gemm_flops, 2 * linear + attention * 2.5);

  // Attention at the machine's own rates: the same FLOPs, more seconds.
  plan::Machine m = plan::default_machine();
  m.gemm_tflops = 1;  // the GEMMs' share is then linear / 1e12 s exactly (they are compute bound)
  const double gemm_only = plan::stage_cost(*tiny.find_stage("block"), 4, 128, m).gemm_seconds;
  m.attention_tflops = 0.25;
  m.attention_grad_tflops = 0.5;
  const plan::StageCost slow = plan::stage_cost(*tiny.find_stage("block"), 4, 128, m);
  EXPECT_DOUBLE_EQ(slow.gemm_flops, linear + attention);
  EXPECT_NEAR(slow.gemm_seconds - gemm_only, attention / 0.25e12 - attention / 1e12, 1e-9 * slow.gemm_seconds);
  const double kept_slow = plan::stage_cost(*tiny.find_stage("block.kept.bwd"), 4, 128, m).gemm_seconds;
  EXPECT_NEAR(kept_slow, 2 * linear / 1e12 + 2.5 * attention / 0.5e12, 1e-9 * kept_slow);
}

TEST(Simulator, UnknownStageIsAUserError) {
  Builder b;
  ir::SchedInstr in;
  in.op = SchedOp::launch;
  in.stage = "mystery";
  b.s.instrs.push_back(in);
  EXPECT_THROW(run(b), UserError);
}

TEST(Simulator, OptimizerStepRunsAtTheCpuRate) {
  ir::Module tiny = lowered_tiny();
  Builder b;
  ir::SchedInstr in;
  in.op = SchedOp::optimizer_step;
  in.stream = Stream::cpu;
  in.stage = "block";
  in.instance = 2;
  b.s.instrs.push_back(in);
  const plan::Machine m = plan::default_machine();
  plan::SimResult r = plan::simulate(b.s, tiny, m);
  EXPECT_NEAR(r.step_seconds, (790528 + 2 * 256) / (m.cpu_adamw_gparams * 1e9), 1e-15);
}

// 8-bit moments (6 bytes per parameter in the store range the step writes)
// run at the machine's 8-bit rate, 8 and 12 at the bf16/fp32 one.
TEST(Simulator, OptimizerStepWithEightBitMomentsRunsAtItsOwnRate) {
  ir::Module tiny = lowered_tiny();
  const int64_t params = 790528 + 2 * 256;
  plan::Machine m = plan::default_machine();
  m.cpu_adamw_gparams = 4.0;
  m.cpu_adamw_8bit_gparams = 1.0;
  for (int64_t bytes_per_param : {6, 8, 12}) {
    Builder b;
    ir::SchedInstr in = ir::make_instr(SchedOp::optimizer_step, Stream::cpu, "block", 2);
    in.operands = {{"grad", {b.slab, 0, params * 4}, false}, {"params", {b.store, 0, params * bytes_per_param}, true}};
    b.s.instrs.push_back(in);
    const double rate = bytes_per_param == 6 ? m.cpu_adamw_8bit_gparams : m.cpu_adamw_gparams;
    EXPECT_NEAR(plan::simulate(b.s, tiny, m).step_seconds, params / (rate * 1e9), 1e-15) << bytes_per_param;
  }
}

TEST(Simulator, ChromeTraceHasOneLanePerStream) {
  Builder b;
  b.stream_in(55e9);
  b.record(Stream::h2d, 0);
  b.wait(Stream::cpu, 0);
  b.grad_norm(100e9);
  b.s.instrs[0].stage = "block";
  b.s.instrs[0].instance = 3;
  plan::SimResult r = run(b);
  nlohmann::json trace = nlohmann::json::parse(plan::chrome_trace_json(b.s, r));
  int slices = 0, lanes = 0;
  bool found = false;
  for (const auto& e : trace["traceEvents"]) {
    if (e["ph"] == "M" && e["name"] == "thread_name") ++lanes;
    if (e["ph"] != "X") continue;
    ++slices;
    if (e["name"] == "stream_in block[3]") {
      found = true;
      EXPECT_EQ(e["tid"], 1);
      EXPECT_DOUBLE_EQ(e["dur"].get<double>(), 1e6);
    }
  }
  EXPECT_EQ(lanes, ir::kNumStreams);
  EXPECT_EQ(slices, 3);  // stream_in, the wait that held cpu, grad_norm
  EXPECT_TRUE(found);
}

TEST(Simulator, ShippedMachineMatchesTheBuiltInDefault) {
  plan::Machine file = plan::load_machine(testing::source_path("machines/h100-pcie5.json"));
  plan::Machine def = plan::default_machine();
  EXPECT_EQ(file.name, "h100-pcie5");
  EXPECT_EQ(file.h2d_gbps, def.h2d_gbps);
  EXPECT_EQ(file.d2h_gbps, def.d2h_gbps);
  EXPECT_EQ(file.bidir_gbps, def.bidir_gbps);
  EXPECT_EQ(file.gemm_tflops, def.gemm_tflops);
  EXPECT_EQ(file.elementwise_gbps, def.elementwise_gbps);
  EXPECT_EQ(file.cpu_adamw_gparams, def.cpu_adamw_gparams);
  EXPECT_EQ(file.cpu_adamw_8bit_gparams, def.cpu_adamw_8bit_gparams);
  EXPECT_EQ(file.host_memory_gbps, def.host_memory_gbps);
  EXPECT_EQ(file.host_bytes, 125.0 * (1ull << 30));
  EXPECT_EQ(file.gpu_bytes, 80e9);
  EXPECT_EQ(file.launch_overhead_us, def.launch_overhead_us);
}

std::string machine_error(const std::string& text) {
  try {
    plan::parse_machine(text, "box.json");
  } catch (const UserError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Simulator, MachineErrorsNameTheFileAndField) {
  std::string full = testing::read_file(testing::source_path("machines/h100-pcie5.json"));
  nlohmann::json doc = nlohmann::json::parse(full);
  doc.erase("bidir_gbps");
  EXPECT_EQ(machine_error(doc.dump()), "box.json: \"bidir_gbps\": missing field; every rate and size is required");
  doc = nlohmann::json::parse(full);
  doc["gemm_tflops"] = "fast";
  EXPECT_EQ(machine_error(doc.dump()), "box.json: \"gemm_tflops\": must be a positive number; got \"fast\"");
  doc = nlohmann::json::parse(full);
  doc["host_bytes"] = "125 GiBs";
  EXPECT_NE(machine_error(doc.dump()).find("\"host_bytes\": must be a positive number or a size"), std::string::npos);
  doc = nlohmann::json::parse(full);
  doc["h2d_gpbs"] = 55;
  EXPECT_NE(machine_error(doc.dump()).find("box.json: \"h2d_gpbs\": unknown field; fields are name, notes, h2d_gbps"),
            std::string::npos);
  EXPECT_NE(machine_error("{").find("box.json: not valid JSON"), std::string::npos);
  doc = nlohmann::json::parse(full);
  doc["gpu_bytes"] = "1.5 TB";
  EXPECT_EQ(plan::parse_machine(doc.dump(), "box.json").gpu_bytes, 1.5e12);
  EXPECT_THROW(plan::load_machine("/nonexistent/box.json"), UserError);
}

// A lowered step: whatever the lowering emits, the simulated timeline must be
// consistent — streams in program order, waits end no earlier than their
// records, and the step no shorter than any stream's busy time.
TEST(Simulator, LoweredStepTimelineIsConsistent) {
  ir::Module tiny = lowered_tiny();
  passes::StreamingOptions o;
  o.batch = 8;
  o.seq = 128;
  o.micro_batches = 2;
  ir::Schedule s = passes::lower_to_schedule(tiny, o);
  plan::SimResult r = plan::simulate(s, tiny, plan::default_machine());
  ASSERT_GT(r.step_seconds, 0);
  std::vector<double> last_end(ir::kNumStreams, 0), recorded(s.events, -1);
  for (size_t i = 0; i < s.instrs.size(); ++i) {
    const ir::SchedInstr& in = s.instrs[i];
    size_t k = static_cast<size_t>(in.stream);
    EXPECT_GE(r.times[i].start, last_end[k] - 1e-12) << i;
    EXPECT_GE(r.times[i].end, r.times[i].start) << i;
    last_end[k] = r.times[i].end;
    if (in.op == SchedOp::record) recorded[in.event] = r.times[i].end;
  }
  for (size_t i = 0; i < s.instrs.size(); ++i)
    if (s.instrs[i].op == SchedOp::wait) {
      EXPECT_GE(r.times[i].end, recorded[s.instrs[i].event] - 1e-12) << i;
    }
  for (int k = 0; k < ir::kNumStreams; ++k) EXPECT_LE(r.streams[k].busy, r.step_seconds + 1e-12);
  // Every block's weights cross PCIe twice (forward and backward), but the
  // last block's, which stays in its slot from its forward to its backward.
  EXPECT_GE(r.h2d_bytes, 2.0 * (2 * 4 - 1) * 790528);
  EXPECT_EQ(r.gpu_bytes, s.bytes(Place::gpu));
  EXPECT_GT(r.gemm_flops, 0);
}

// With clipping the updates run into the next step: the prediction is the
// steady state. A slow CPU optimizer then bounds the step (it is busy nearly
// all of it, the forward waiting layer by layer), and a fast one leaves the
// step as short as without clipping.
TEST(Simulator, DeferredUpdatesPredictTheSteadyState) {
  ir::Module tiny = lowered_tiny();
  passes::StreamingOptions o;
  o.batch = 8;
  o.seq = 128;
  ir::Schedule clipped = passes::lower_to_schedule(tiny, o);
  o.clip = false;
  ir::Schedule unclipped = passes::lower_to_schedule(tiny, o);

  plan::Machine slow = plan::default_machine();
  slow.cpu_adamw_gparams = 1e-3;  // 3.3 s of updates for tiny's 3.3 M parameters
  plan::SimResult r = plan::simulate(clipped, tiny, slow);
  EXPECT_EQ(r.bottleneck, "CPU optimizer");
  EXPECT_GT(r.bottleneck_share, 0.95);
  EXPECT_LE(r.bottleneck_share, 1.0 + 1e-9);
  EXPECT_NEAR(r.step_seconds, 3.3, 0.2);

  plan::Machine fast = plan::default_machine();
  fast.cpu_adamw_gparams = 1e6;
  fast.host_memory_gbps = 1e6;
  const double with_clip = plan::simulate(clipped, tiny, fast).step_seconds;
  const double without = plan::simulate(unclipped, tiny, fast).step_seconds;
  EXPECT_NEAR(with_clip, without, 0.1 * without);
}

}  // namespace
}  // namespace horizon
