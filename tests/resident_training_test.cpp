// Resident layers through the whole `horizon train` path: the state that
// lives on the device between steps reaches the store for validation
// (weights only), for the checkpoint at the end (everything) and comes back
// from a checkpoint on --resume, so a run cut in two and resumed ends with
// the same bytes as one run — with validation after every step in the way —
// and as a run that streams every layer (without clipping, where the GPU's
// norm cannot round differently, those are the same bits too). On the
// emulated device everywhere; on the GPU where one is present.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/test_support.h"
#ifdef HORIZON_HAVE_CUDA
#include "runtime/cuda/cuda_step.h"
#endif

namespace horizon {
namespace {

// Every "loss X" of the per-step progress lines, in order.
std::vector<std::string> losses(const std::string& metrics) {
  std::vector<std::string> out;
  for (size_t at = metrics.find("\"loss\":"); at != std::string::npos; at = metrics.find("\"loss\":", at + 1))
    out.push_back(metrics.substr(at, metrics.find(',', at) - at));
  return out;
}

// `device` selects the backend and how many layers are resident; `resident`
// is what train must report.
void expect_resumed_run_ends_with_the_bytes_of_one_run(const std::string& device, const std::string& resident) {
  testing::TempDir dir;
  std::string text;
  for (int i = 0; i < 300; ++i) text += "resident layers stay on the device " + std::to_string(i % 11) + "\n";
  const std::string data = dir.write("corpus.txt", text);
  const std::string common = testing::source_path("models/tiny.json") + " --data " + data +
                             " --batch 4 --seq 32 --micro-batches 2 --seed 5 --schedule constant --lr 3e-3 --clip 0 " +
                             device;
  const std::string whole = dir.path() + "/whole", half = dir.path() + "/half", rest = dir.path() + "/rest",
                    streamed = dir.path() + "/streamed";
  // One run of 4 steps, validating after each (weights-only copies from the GPU in between) ...
  testing::CommandResult a = testing::run_horizon("train " + common + " --steps 4 --eval-every 1 --save " + whole);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_NE(a.out.find(resident), std::string::npos) << a.out;
  // ... against 2 steps, saved, then resumed for 2 more.
  testing::CommandResult b = testing::run_horizon("train " + common + " --steps 2 --eval-batches 0 --save " + half);
  ASSERT_EQ(b.exit_code, 0) << b.err;
  testing::CommandResult c =
      testing::run_horizon("train " + common + " --steps 4 --eval-batches 0 --resume " + half + " --save " + rest);
  ASSERT_EQ(c.exit_code, 0) << c.err;

  testing::CommandResult d =
      testing::run_horizon("train " + common + " --steps 4 --eval-batches 0 --resident 0 --save " + streamed);
  ASSERT_EQ(d.exit_code, 0) << d.err;
  EXPECT_NE(d.out.find("0 of 6 layers resident"), std::string::npos) << d.out;

  for (const char* file : {"model.safetensors", "optimizer.safetensors"}) {
    const std::string end = std::string("/checkpoint-4/") + file, mid = std::string("/checkpoint-2/") + file;
    EXPECT_TRUE(testing::read_file(whole + end) == testing::read_file(rest + end))
        << file << " differs between one run and a resumed one";
    EXPECT_TRUE(testing::read_file(whole + end) == testing::read_file(streamed + end))
        << file << " differs between resident and streamed layers";
    EXPECT_FALSE(testing::read_file(half + mid) == testing::read_file(rest + end))
        << file << " did not change in the resumed steps";
  }
  EXPECT_TRUE(testing::read_file(whole + "/model.safetensors") == testing::read_file(rest + "/model.safetensors"));
  std::vector<std::string> one = losses(testing::read_file(whole + "/metrics.jsonl"));
  std::vector<std::string> resumed = losses(testing::read_file(half + "/metrics.jsonl"));
  for (const std::string& l : losses(testing::read_file(rest + "/metrics.jsonl"))) resumed.push_back(l);
  EXPECT_EQ(one, resumed);
}

TEST(ResidentTraining, EmulatedResumedRunEndsWithTheBytesOfOneRun) {
  expect_resumed_run_ends_with_the_bytes_of_one_run("--device cpu --stream --resident 3", "3 of 6 layers resident");
}

// 8-bit moments: resident layers' block scales live beside the packed planes
// (the store's on the emulated device, a device array on the GPU) and must
// travel with them.
TEST(ResidentTraining, EmulatedEightBitMomentsResumedRunEndsWithTheBytesOfOneRun) {
  expect_resumed_run_ends_with_the_bytes_of_one_run("--device cpu --stream --resident 3 --moments 8bit",
                                                    "3 of 6 layers resident");
}

TEST(ResidentTraining, ResidentWithoutAStreamedScheduleIsRefused) {
  testing::TempDir dir;
  const std::string data = dir.write("corpus.txt", std::string(4000, 'a'));
  testing::CommandResult r = testing::run_horizon("train " + testing::source_path("models/tiny.json") + " --data " +
                                                  data + " --device cpu --resident 2 --steps 1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--resident shapes the streamed schedule on the GPU; use --device cuda"), std::string::npos)
      << r.err;
}

TEST(ResidentTraining, CudaResumedRunEndsWithTheBytesOfOneRun) {
#ifdef HORIZON_HAVE_CUDA
  std::string why;
  if (runtime::cuda::cuda_device_count(&why) == 0) GTEST_SKIP() << "no CUDA device (" << why << ")";
  expect_resumed_run_ends_with_the_bytes_of_one_run("--device cuda --resident auto", "6 of 6 layers resident");
  // fp32 moments: 12 bytes per parameter, the GPU kernel's other plane layout.
  expect_resumed_run_ends_with_the_bytes_of_one_run("--device cuda --resident 4 --moments f32",
                                                    "4 of 6 layers resident");
  // 8-bit moments: the GPU kernel's bytes are the JIT's, and the scales travel with the planes.
  expect_resumed_run_ends_with_the_bytes_of_one_run("--device cuda --resident 4 --moments 8bit",
                                                    "4 of 6 layers resident");
#else
  GTEST_SKIP() << "built without CUDA";
#endif
}

}  // namespace
}  // namespace horizon
