// `horizon plan FILE --model MODEL`: the plan of a schedule dump is the plan
// of the model it was dumped from, figure for figure; an edit shows in the
// figures the way it should (a buffer more in the GPU table, a prefetch
// less in the step time); bad input is refused naming the file and line or
// the option.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "ir/schedule.h"
#include "plan/machine.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

using testing::run_horizon;
using testing::source_path;

std::string model(const char* name) { return source_path(std::string("models/") + name); }

std::string dump(const testing::TempDir& dir, const std::string& model_path, const std::string& flags) {
  auto r = run_horizon("compile " + model_path + " --emit=schedule " + flags);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return dir.write("step.schedule", r.out);
}

// `text` without the lines that contain any of `drop`.
std::string without_lines(const std::string& text, const std::vector<std::string>& drop) {
  std::istringstream in(text);
  std::string kept;
  for (std::string line; std::getline(in, line);) {
    bool dropped = false;
    for (const std::string& d : drop) dropped |= line.find(d) != std::string::npos;
    if (!dropped) kept += line + "\n";
  }
  return kept;
}

// The seconds on the "step time" line of a plan.
double step_seconds(const std::string& plan) {
  const size_t at = plan.find("step time");
  return at == std::string::npos ? -1 : std::strtod(plan.c_str() + at + 9, nullptr);
}

TEST(PlanScheduleFile, ThePlanOfADumpIsThePlanOfItsModel) {
  testing::TempDir dir;
  for (const std::string flags : {"--batch 2 --seq 16", "--batch 4 --seq 32 --micro-batches 2 --resident 0 "
                                                        "--checkpoint-every 2 --host-checkpoints on --moments f32"}) {
    SCOPED_TRACE(flags);
    auto planned = run_horizon("plan " + model("tiny.json") + " " + flags);
    ASSERT_EQ(planned.exit_code, 0) << planned.err;
    const std::string file = dump(dir, model("tiny.json"), flags);
    auto from_file = run_horizon("plan " + file + " --model " + model("tiny.json"));
    ASSERT_EQ(from_file.exit_code, 0) << from_file.err;
    EXPECT_NE(from_file.out.find("schedule " + file + ": "), std::string::npos) << from_file.out;
    EXPECT_NE(from_file.out.find("verified race-free"), std::string::npos) << from_file.out;
    // All but what only planning the model knows: the reason for the
    // checkpoints' place, the micro-batch search and the step with every
    // block recomputed (both re-plan the step).
    EXPECT_EQ(without_lines(from_file.out, {"schedule " + file}),
              without_lines(planned.out, {"(--host-checkpoints auto)", "largest micro-batch that fits",
                                          "with every block recomputed"}));
  }
}

TEST(PlanScheduleFile, AnExtraBufferShowsInTheGpuTableAndCanOverflowIt) {
  testing::TempDir dir;
  std::string text = testing::read_file(dump(dir, model("tiny.json"), "--batch 2 --seq 16"));
  auto before = run_horizon("plan " + dir / "step.schedule" + " --model " + model("tiny.json") + " --gpu-mem 1G");
  ASSERT_EQ(before.exit_code, 0) << before.err;
  const size_t arena = text.find("  buffer %arena");
  ASSERT_NE(arena, std::string::npos);
  text.insert(arena, "  buffer %extra : gpu checkpoint 1073741824\n");
  const std::string file = dir.write("extra.schedule", text);
  auto big = run_horizon("plan " + file + " --model " + model("tiny.json"));
  ASSERT_EQ(big.exit_code, 0) << big.err;
  EXPECT_NE(big.out.find("checkpoints                          1.00 GiB"), std::string::npos) << big.out;
  EXPECT_EQ(step_seconds(big.out), step_seconds(before.out));  // nothing uses it: no time
  auto refused = run_horizon("plan " + file + " --model " + model("tiny.json") + " --gpu-mem 1G");
  EXPECT_EQ(refused.exit_code, 1) << refused.out;
  EXPECT_NE(refused.out.find("DOES NOT FIT"), std::string::npos) << refused.out;
  EXPECT_NE(refused.err.find(file + ": the schedule of tiny does not fit"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("GPU memory: the step needs"), std::string::npos) << refused.err;
}

// llama-1b streamed without clipping is bound by GPU compute, each block's
// weights arriving while the block before computes. Making block 1's
// stream_in wait for block 0's forward (the wait block 2's stream_in has)
// leaves the compute stream waiting for its weights: a longer step, by at
// most the time those weights take to cross PCIe.
TEST(PlanScheduleFile, ARemovedPrefetchLengthensTheStep) {
  testing::TempDir dir;
  const std::string file = dump(dir, model("llama-1b.json"), "--batch 8 --seq 2048 --resident 0 --early-updates");
  std::string text = testing::read_file(file);
  const size_t block1 = text.find("  h2d      stream_in block[1]"), block2 = text.find("  h2d      stream_in block[2]");
  ASSERT_NE(block1, std::string::npos);
  ASSERT_NE(block2, std::string::npos);
  const size_t wait2 = text.rfind("\n  h2d      wait ", block2 - 1) + 1;  // the line right before block 2's stream_in
  ASSERT_EQ(text.find('\n', wait2) + 1, block2) << "block 2's stream_in has no wait of its own";
  const std::string wait_for_block0 = text.substr(wait2, block2 - wait2);
  const size_t block1_wait = text.rfind("\n", block1 - 2) + 1;  // block 1's own wait (for the embedding's slot)
  text.insert(block1_wait, wait_for_block0);
  const std::string edited = dir.write("no-prefetch.schedule", text);

  auto original = run_horizon("plan " + file + " --model " + model("llama-1b.json"));
  auto late = run_horizon("plan " + edited + " --model " + model("llama-1b.json"));
  ASSERT_EQ(original.exit_code, 0) << original.err;
  ASSERT_EQ(late.exit_code, 0) << late.err;
  const ir::Schedule s = ir::parse_schedule(text, edited);
  int64_t block1_bytes = 0;
  for (const ir::SchedInstr& in : s.instrs)
    if (in.op == ir::SchedOp::stream_in && in.stage == "block" && in.instance == 1)
      block1_bytes = in.operands[0].range.bytes;
  const double crossing = static_cast<double>(block1_bytes) / (plan::default_machine().h2d_gbps * 1e9);
  EXPECT_GT(step_seconds(late.out), step_seconds(original.out)) << original.out << late.out;
  EXPECT_LE(step_seconds(late.out), step_seconds(original.out) + crossing + 1e-4) << original.out << late.out;
}

TEST(PlanScheduleFile, BadInputIsAUserErrorNamingTheFileAndWhatToDo) {
  testing::TempDir dir;
  const std::string file = dump(dir, model("tiny.json"), "--batch 2 --seq 16 --resident 0");
  const std::string with_model = " --model " + model("tiny.json");

  std::string text = testing::read_file(file);
  text.replace(text.find("launch embed[0]"), 6, "lunch ");
  const std::string typo = dir.write("typo.schedule", text);
  auto r = run_horizon("plan " + typo + with_model);
  EXPECT_EQ(r.exit_code, 1);
  const size_t line = static_cast<size_t>(std::count(text.begin(), text.begin() + text.find("lunch"), '\n')) + 1;
  EXPECT_NE(r.err.find(typo + ":" + std::to_string(line) + ":"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("unknown instruction 'lunch'"), std::string::npos) << r.err;

  r = run_horizon("plan " + file);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(file + " is a schedule dump; pass the model it was compiled from with --model"),
            std::string::npos)
      << r.err;
  r = run_horizon("plan " + file + with_model + " --batch 4");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--batch does not apply to the schedule dump " + file), std::string::npos) << r.err;
  r = run_horizon("plan " + file + " --model " + model("tiny-qwen.json"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("pass the model it was compiled from"), std::string::npos) << r.err;
  r = run_horizon("plan " + file + with_model + " --moments f32");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("pass the --moments it was compiled with"), std::string::npos) << r.err;
  r = run_horizon("plan " + model("tiny.json") + " --batch 2 --seq 16" + with_model);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--model goes with a schedule dump"), std::string::npos) << r.err;

  // A wait deleted: the verifier's race, named with the file.
  text = testing::read_file(file);
  const size_t wait = text.find("  compute  wait ");
  text.erase(wait, text.find('\n', wait) + 1 - wait);
  const std::string racy = dir.write("racy.schedule", text);
  r = run_horizon("plan " + racy + with_model);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(racy + ": "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("bind embed[0]"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace horizon
