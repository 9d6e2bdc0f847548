// The pass manager (passes/pass_manager.h) both pipelines run on: every pass
// of the graph and of the schedule pipeline is timed with its changed flag,
// HORIZON_DUMP_IR=all prints each pass once (and only a header for a pass
// that changed nothing), an unknown pass is refused with the list of names,
// and the verifier after each pass catches a pass that breaks the IR. The
// planner's executor reserve (passes/executor_reserve.h) is asked once and
// gives the schedule the old two-lowering scheme gave; a model the CUDA
// kernels cannot run is a user error naming head_dim, not an internal error.
#include <gtest/gtest.h>

#include <cstdlib>
#include <regex>
#include <sstream>

#include "cli/resident_option.h"
#include "frontend/model_json.h"
#include "ir/printer.h"
#include "ir/schedule.h"
#include "ir/verifier.h"
#include "passes/lower.h"
#include "passes/pass_manager.h"
#include "passes/schedule_pipeline.h"
#include "passes/step_plan.h"
#include "support/error.h"
#include "tests/test_support.h"
#ifdef HORIZON_HAVE_CUDA
#include "codegen/cuda/cuda_limits.h"
#include "runtime/cuda/stage_scratch.h"
#endif

namespace horizon {
namespace {

using testing::lowered;

ir::Module unlowered(const std::string& name) { return frontend::load_model(testing::source_path("models/" + name)); }

passes::StreamingOptions tiny_options(int64_t resident) {
  passes::StreamingOptions o;
  o.batch = 2;
  o.seq = 16;
  o.resident = resident;
  return o;
}

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(PassManager, TimesEveryPassOfBothPipelinesWithItsChangedFlag) {
  auto r = testing::run_horizon("compile " + testing::source_path("models/tiny.json") +
                                " --emit=schedule --batch 2 --seq 16 --time-passes");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> names = passes::graph_pass_names();
  for (const std::string& p : passes::schedule_pass_names()) names.push_back(p);
  for (const std::string& p : names)
    EXPECT_TRUE(std::regex_search(r.err, std::regex("pass " + p + " +[0-9.]+ ms  (changed|unchanged)\n"))) << p << "\n"
                                                                                                           << r.err;
  EXPECT_NE(r.err.find("pass autodiff"), std::string::npos);
  EXPECT_NE(r.err.find("pass lower_to_schedule"), std::string::npos);
}

TEST(PassManager, DumpAllPrintsEverySchedulePassOnce) {
  setenv("HORIZON_DUMP_IR", "all", 1);
  auto r = testing::run_horizon("compile " + testing::source_path("models/tiny.json") +
                                " --emit=schedule --batch 2 --seq 16 --resident auto");
  unsetenv("HORIZON_DUMP_IR");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const std::string& p : passes::schedule_pass_names())
    EXPECT_EQ(count(r.err, "// after " + p + " (schedule)"), 1) << p << "\n" << r.err.substr(0, 2000);
  // Every layer is resident (80 GB): insert_buffer_swap has nothing to do, so
  // the schedule prints after lower_to_schedule, place_resident,
  // insert_recompute, insert_offload (the checkpoints) and insert_events.
  EXPECT_EQ(count(r.err, "// after insert_buffer_swap (schedule): unchanged"), 1);
  EXPECT_EQ(count(r.err, "schedule \"tiny\" {"), 5);
}

TEST(PassManager, DumpOfAnUnchangedPassIsOnlyAHeader) {
  ir::Module m = lowered("tiny.json");
  std::ostringstream log;
  passes::PassOptions o;
  o.dump_ir = "all";
  o.log = &log;
  // tiny's defaults are what plan_buffer_slots' fields start at: it changes nothing.
  passes::lower_to_schedule(m, tiny_options(0), o);
  EXPECT_NE(log.str().find("// after plan_buffer_slots (schedule): unchanged\n// after plan_resident"),
            std::string::npos)
      << log.str();
  EXPECT_NE(log.str().find("// after plan_memory (schedule)\n// step plan"), std::string::npos) << log.str();
}

TEST(PassManager, UnknownPassListsTheNames) {
  ir::Module m = testing::lowered("tiny.json");
  passes::LowerOptions graph;
  graph.stop_after = "autodif";
  ir::Module fresh = unlowered("tiny.json");
  try {
    passes::lower(fresh, graph);
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown pass 'autodif'; passes are: autodiff, "
                                         "eliminate_dead_code, add_kept_stages, fuse_elementwise, fuse_lm_head_loss"),
              std::string::npos)
        << e.what();
  }
  try {
    passes::lower_to_schedule(m, tiny_options(0), "insert_recomptue");
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_NE(
        std::string(e.what()).find("passes are: plan_memory, plan_recompute, plan_offload, "
                                   "plan_buffer_slots, plan_resident, plan_kept_activations, plan_gpu_checkpoints, "
                                   "lower_to_schedule, place_resident, "
                                   "insert_recompute, insert_offload, insert_buffer_swap, insert_events"),
        std::string::npos)
        << e.what();
  }
}

TEST(PassManager, VerifierAfterEachPassCatchesAPassThatBreaksTheIr) {
  const passes::IRHooks<ir::Module> hooks{[](const ir::Module& m) { return ir::print_module(m); },
                                          [](const ir::Module& m) { ir::verify_module(m); }};
  // A planted bug: the pass gives an operand of the first instruction an id past the stage's values.
  const passes::Pass<ir::Module> breaks{"breaks", [](ir::Module& m) {
                                          m.stages[0].instrs[0].operands[0] = 100000;
                                          return true;
                                        }};
  const passes::Pass<ir::Module> harmless{"harmless", [](ir::Module&) { return false; }};
  passes::PassOptions o;
  o.verify_each = true;
  std::ostringstream log;
  o.log = &log;
  o.time_passes = true;
  ir::Module m = unlowered("tiny.json");
  EXPECT_ANY_THROW(passes::run_passes<ir::Module>("test", {breaks, harmless}, hooks, m, o));
  EXPECT_EQ(log.str().find("harmless"), std::string::npos) << "the pipeline went on after the broken pass";
  // Without per-pass verification the end of the pipeline still catches it.
  o.verify_each = false;
  ir::Module again = unlowered("tiny.json");
  EXPECT_ANY_THROW(passes::run_passes<ir::Module>("test", {breaks, harmless}, hooks, again, o));
  // A well-behaved pipeline passes.
  ir::Module fine = unlowered("tiny.json");
  EXPECT_TRUE(passes::run_passes<ir::Module>("test", {harmless}, hooks, fine, o));
}

// The old scheme lowered twice: once with no resident layer to measure the
// executor's scratch, then again with it reserved. The reserve interface
// asks once and must give the same schedule.
TEST(ExecutorReserve, OneLoweringGivesTheScheduleOfTheTwoLoweringScheme) {
  const ir::Module m = lowered("tiny.json");
  for (const bool evaluation : {false, true}) {
    passes::StreamingOptions o = tiny_options(-1);
    const ir::Schedule streamed = passes::lower_to_schedule(m, tiny_options(0));
    const double scratch = 3'000'000;
    int calls = 0;
    o.gpu_bytes = static_cast<double>(streamed.bytes(ir::Place::gpu)) + 12.0 * 256 * 256 * 4 + 2 * scratch;
    passes::StreamingOptions two = o;
    two.gpu_reserve_bytes += scratch + 1e6;
    if (evaluation) {
      const auto bytes = [&](const char* name) {
        return static_cast<double>(streamed.buffers[static_cast<size_t>(streamed.find_buffer(name))].bytes);
      };
      two.gpu_reserve_bytes += scratch + bytes("arena") + bytes("slot0") + bytes("x0") + bytes("x1");
    }
    o.executor.stage_scratch = [&](const ir::Module&, const std::vector<ir::ArenaPlan>& arenas, int64_t, int64_t) {
      ++calls;
      EXPECT_EQ(arenas.size(), 5u);
      return static_cast<int64_t>(scratch);
    };
    o.executor.margin_bytes = 1e6;
    o.executor.evaluation = evaluation;
    const std::string one = ir::print_schedule(passes::lower_to_schedule(m, o));
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(one, ir::print_schedule(passes::lower_to_schedule(m, two))) << "evaluation " << evaluation;
    // The reserve matters: without it more layers stay.
    EXPECT_NE(one, ir::print_schedule(passes::lower_to_schedule(m, tiny_options(-1))));
  }
}

TEST(ExecutorReserve, NotAskedWhenEveryLayerStreamsAndTheCheckpointsArePlaced) {
  passes::StreamingOptions o = tiny_options(0);
  o.host_checkpoints = 1;
  o.executor.stage_scratch = [](const ir::Module&, const std::vector<ir::ArenaPlan>&, int64_t, int64_t) -> int64_t {
    throw UserError("asked");
  };
  EXPECT_NO_THROW(passes::lower_to_schedule(lowered("tiny.json"), o));
}

// --host-checkpoints auto asks (the checkpoints take GPU memory only if it is
// free); a backend that cannot run the model leaves them on the host, and
// the schedule (for another backend) is still made.
TEST(ExecutorReserve, ABackendThatRefusesTheModelLeavesAutoCheckpointsOnTheHost) {
  passes::StreamingOptions o = tiny_options(0);
  int calls = 0;
  o.executor.stage_scratch = [&](const ir::Module&, const std::vector<ir::ArenaPlan>&, int64_t, int64_t) -> int64_t {
    ++calls;
    throw UserError("head_dim 86: not served");
  };
  passes::StepPlan decided;
  const ir::Schedule s = passes::lower_to_schedule(lowered("tiny.json"), o, passes::PassOptions{}, &decided);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(s.config.host_checkpoints);
  EXPECT_NE(decided.checkpoint_place_why.find("cannot size its scratch for this model (head_dim 86: not served)"),
            std::string::npos)
      << decided.checkpoint_place_why;
}

#ifdef HORIZON_HAVE_CUDA
TEST(ExecutorReserve, CudaReserveMatchesTheScratchOfTheStreamedSchedule) {
  const ir::Module m = lowered("tiny-qwen3.json");
  passes::StreamingOptions o = tiny_options(0);
  const ir::Schedule s = passes::lower_to_schedule(m, o);
  EXPECT_EQ(runtime::cuda::planned_stage_scratch(m, s.arena_plans, o.batch / o.micro_batches, o.seq),
            runtime::cuda::planned_stage_scratch(s, m));
  // And lower_for_gpu's single run equals lowering twice as it used to.
  o.resident = -1;
  o.gpu_bytes = 2e9;
  passes::StreamingOptions two = o;
  two.gpu_reserve_bytes += static_cast<double>(runtime::cuda::planned_stage_scratch(s, m)) + cli::kResidentMarginBytes;
  EXPECT_EQ(ir::print_schedule(cli::lower_for_gpu(m, o)), ir::print_schedule(passes::lower_to_schedule(m, two)));
}

TEST(CudaLimits, HeadDimTheAttentionCannotServeIsAUserErrorNamingTheKey) {
  testing::TempDir dir;
  std::string text = testing::read_file(testing::source_path("models/tiny.json"));
  text.replace(text.find("\"head_dim\": 64"), 14, "\"head_dim\": 86");
  const std::string model = dir.write("tiny86.json", text);
  EXPECT_NO_THROW(codegen::cuda::check_cuda_limits(lowered("tiny.json")));
  for (const std::string& command : {std::string("plan ") + model + " --batch 2 --seq 16",
                                     "compile " + model + " --emit=schedule --batch 2 --seq 16"}) {
    auto r = testing::run_horizon(command);
    EXPECT_EQ(r.exit_code, 1) << command << "\n" << r.err;
    EXPECT_NE(r.err.find("head_dim 86: the CUDA attention supports 64 and 128"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("use --device cpu"), std::string::npos) << r.err;
  }
  // It trains on the CPU, and its schedule with every layer streamed and
  // every block recomputed needs no CUDA executor (keeping activations
  // needs its scratch estimate, as resident layers do).
  auto streamed = testing::run_horizon("compile " + model +
                                       " --emit=schedule --batch 2 --seq 16 --resident 0 --keep-activations 0");
  EXPECT_EQ(streamed.exit_code, 0) << streamed.err;
}
#endif

}  // namespace
}  // namespace horizon
