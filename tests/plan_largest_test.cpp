// `horizon plan --largest` (cli/plan_largest.h): the search finds the deepest
// candidate that fits with few plans, models resize in depth and width, and
// the command prints the model it found. Also the shipped H200 machine files
// and the 120B model: it must plan on the 1 TB box.
#include "cli/plan_largest.h"

#include <gtest/gtest.h>

#include <cmath>

#include "plan/machine.h"
#include "support/error.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

using testing::run_horizon;

std::string source(const std::string& p) { return std::string(HORIZON_SOURCE_DIR) + "/" + p; }

TEST(PlanLargest, FindsTheDeepestModelThatFits) {
  for (int64_t limit : {int64_t{1}, int64_t{2}, int64_t{37}, int64_t{64}, int64_t{100}}) {
    const cli::LargestModel found = cli::find_largest_model(
        source("models/tiny.json"), 0, 100, [&](const ir::Module& m) { return m.config_number("layers", 0) <= limit; });
    EXPECT_EQ(found.layers, limit);
    EXPECT_LE(found.tried, 2 * std::log2(static_cast<double>(limit)) + 3) << limit;
  }
  const cli::LargestModel none =
      cli::find_largest_model(source("models/tiny.json"), 0, 100, [](const ir::Module&) { return false; });
  EXPECT_EQ(none.layers, 0);
  EXPECT_EQ(none.tried, 1);
}

TEST(PlanLargest, ResizesDepthAndWidth) {
  const ir::Module deep = cli::resized_model(source("models/llama2-7b.json"), 48, 0);
  EXPECT_EQ(deep.config_number("layers", 0), 48);
  EXPECT_EQ(deep.config_number("hidden", 0), 4096);
  EXPECT_EQ(deep.name, "llama2-7b-48x4096");
  const ir::Module wide = cli::resized_model(source("models/llama2-7b.json"), 2, 5120);
  EXPECT_EQ(wide.config_number("heads", 0), 40);
  EXPECT_EQ(wide.config_number("intermediate", 0), 13824);  // llama2-13b's: 11008 * 5120 / 4096 rounded to 256
  testing::expect_user_error([] { cli::resized_model(source("models/llama2-7b.json"), 2, 5000); },
                             {"config.head_dim", "--width 5000"});
}

TEST(PlanLargest, PrintsTheModelItFound) {
  const testing::CommandResult r =
      run_horizon("plan " + source("models/llama2-7b.json") + " --batch 4 --seq 2048 --largest --moments 8bit");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("largest model of width 4096 that fits h100-pcie5"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("8-bit moment scales"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("step time"), std::string::npos) << r.out;
  const testing::CommandResult bad =
      run_horizon("plan " + source("models/tiny.json") + " --batch 4 --seq 128 --width 64");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("--width goes with --largest"), std::string::npos) << bad.err;
}

// Issue 14: bf16 gradient slabs (2 instead of 4 B/param of streamed layers)
// leave room for more layers on the built-in H100 box, with either moments.
// Measured 2026-12-02 (llama2-7b width, batch 4 x 2048): bf16 moments 59 ->
// 66 layers (12.2B -> 13.6B parameters), 8-bit moments 73 -> 82 (15.0B -> 16.9B).
TEST(PlanLargest, Bf16GradientOffloadFitsMoreLayers) {
  auto layers = [](const std::string& flags) {
    const testing::CommandResult r =
        run_horizon("plan " + source("models/llama2-7b.json") + " --batch 4 --seq 2048 --largest " + flags);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const size_t at = r.out.find("): ");
    std::printf("[ info     ] %s: %s\n", flags.c_str(), r.out.substr(0, r.out.find('\n')).c_str());
    return at == std::string::npos ? 0 : std::stoll(r.out.substr(at + 3));
  };
  for (const char* moments : {"bf16", "8bit"}) {
    const int64_t fp32 = layers(std::string("--moments ") + moments + " --grad-offload fp32");
    const int64_t bf16 = layers(std::string("--moments ") + moments + " --grad-offload bf16");
    EXPECT_GE(bf16, fp32 + 5) << moments;  // 2 B/param of ~2 GiB per layer freed by 15-19 GiB of slabs
  }
}

TEST(Machines, H200FilesLoad) {
  const plan::Machine big = plan::load_machine(source("machines/h200-1.5tb.json"));
  const plan::Machine small = plan::load_machine(source("machines/h200-1tb.json"));
  EXPECT_EQ(big.host_bytes, 1536.0 * (1ull << 30));
  EXPECT_EQ(small.host_bytes, 1024.0 * (1ull << 30));
  EXPECT_EQ(small.gpu_bytes, 141e9);
}

// Issue 14: a 120B Llama-style model plans on the 1 TB box (without clipping's
// per-layer gradient slabs, 4 B/param that a 1 TB box does not have).
TEST(Machines, Llama120bFitsTheOneTerabyteBox) {
  const testing::CommandResult r =
      run_horizon("plan " + source("models/llama-120b.json") + " --batch 4 --seq 2048 --early-updates --machine " +
                  source("machines/h200-1tb.json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("fits"), std::string::npos);
}

}  // namespace
}  // namespace horizon
