// The NaN guard through `horizon train` on every device: with --lr 1e30 the
// first update is finite but huge and the steps after it overflow; each such
// step is skipped, so the checkpoint saved after a skipped step holds exactly
// the weights and moments of the one before it. Runs on the CPU reference,
// the emulated device with resident layers, and the GPU (streamed and
// resident layers, deferred updates) where one is present.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "frontend/safetensors.h"
#include "tests/test_support.h"
#ifdef HORIZON_HAVE_CUDA
#include "runtime/cuda/cuda_step.h"
#endif

namespace horizon {
namespace {

void expect_skipped_steps_change_nothing(const std::string& device) {
  testing::TempDir dir;
  std::string text;
  for (int i = 0; i < 300; ++i) text += "a diverging run keeps its last finite state " + std::to_string(i) + "\n";
  const std::string run = dir / "run";
  testing::CommandResult r = testing::run_horizon(
      "train " + testing::source_path("models/tiny.json") + " --data " + dir.write("c.txt", text) +
      " --batch 4 --seq 32 --micro-batches 2 --steps 20 --lr 1e30 --schedule constant --weight-decay 0.1 " +
      "--eval-batches 0 --save-every 1 --max-bad-steps 3 --save " + run + " " + device);
  ASSERT_EQ(r.exit_code, 1) << r.out << r.err;
  ASSERT_NE(r.err.find("training diverged"), std::string::npos) << r.err;

  int64_t first_skipped = 0;
  std::istringstream in(testing::read_file(run + "/metrics.jsonl"));
  for (std::string line; std::getline(in, line);) {
    nlohmann::json j = nlohmann::json::parse(line);
    if (j.value("skipped", false) && !first_skipped) first_skipped = j["step"].get<int64_t>();
  }
  ASSERT_GT(first_skipped, 1) << "the first step must update (lr 1e30 on finite weights)";
  const std::string before = run + "/checkpoint-" + std::to_string(first_skipped - 1),
                    after = run + "/checkpoint-" + std::to_string(first_skipped);
  EXPECT_TRUE(testing::read_file(before + "/model.safetensors") == testing::read_file(after + "/model.safetensors"))
      << device << ": a skipped step changed the weights";
  frontend::SafetensorsFile a = frontend::SafetensorsFile::open(before + "/optimizer.safetensors");
  frontend::SafetensorsFile b = frontend::SafetensorsFile::open(after + "/optimizer.safetensors");
  ASSERT_EQ(a.tensors().size(), b.tensors().size());
  for (const auto& t : a.tensors()) {
    auto x = a.bytes(t.name), y = b.bytes(t.name);
    EXPECT_TRUE(std::equal(x.begin(), x.end(), y.begin(), y.end())) << device << ": " << t.name << " changed";
  }
}

TEST(SkippedStep, CpuLeavesWeightsAndMomentsUntouched) { expect_skipped_steps_change_nothing("--device cpu"); }
TEST(SkippedStep, EmulatedResidentLeavesWeightsAndMomentsUntouched) {
  expect_skipped_steps_change_nothing("--device cpu --stream --resident 2");
}
// Without clipping too: the streamed schedule still measures the global norm
// before the first update, so no layer keeps an update from a bad step.
TEST(SkippedStep, EmulatedWithoutClippingLeavesWeightsAndMomentsUntouched) {
  expect_skipped_steps_change_nothing("--device cpu --stream --resident 1 --clip 0");
}
// --early-updates gives that up for memory: it must say so up front and
// refuse to pretend it clips.
TEST(SkippedStep, EarlyUpdatesNeedClipZeroAndStillStopADivergingRun) {
  testing::TempDir dir;
  const std::string data = dir.write("c.txt", std::string(4000, 'a'));
  const std::string base = "train " + testing::source_path("models/tiny.json") + " --data " + data +
                           " --batch 4 --seq 32 --steps 20 --eval-batches 0 --device cpu --stream --early-updates";
  const testing::CommandResult clipping = testing::run_horizon(base);
  EXPECT_EQ(clipping.exit_code, 1);
  EXPECT_NE(clipping.err.find("--early-updates updates layers before the global norm is known"), std::string::npos)
      << clipping.err;
  const testing::CommandResult diverging = testing::run_horizon(base + " --clip 0 --lr 1e30 --schedule constant");
  EXPECT_EQ(diverging.exit_code, 1) << diverging.out;
  EXPECT_NE(diverging.err.find("training diverged"), std::string::npos) << diverging.err;
}
TEST(SkippedStep, CudaLeavesWeightsAndMomentsUntouched) {
#ifdef HORIZON_HAVE_CUDA
  std::string why;
  if (runtime::cuda::cuda_device_count(&why) == 0) GTEST_SKIP() << "no CUDA device (" << why << ")";
  expect_skipped_steps_change_nothing("--device cuda --resident 0");
  expect_skipped_steps_change_nothing("--device cuda --resident 3");
  expect_skipped_steps_change_nothing("--device cuda --resident auto --moments f32");
  expect_skipped_steps_change_nothing("--device cuda --resident 2 --clip 0");
#else
  GTEST_SKIP() << "built without CUDA";
#endif
}

}  // namespace
}  // namespace horizon
