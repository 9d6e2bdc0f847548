// GPU evaluation against the CPU model: the same weights and batches give
// the same validation loss within bf16-GEMM tolerance.
#include <gtest/gtest.h>

#include <cmath>

#include "frontend/model_json.h"
#include "passes/lower.h"
#include "runtime/cpu/cpu_model.h"
#include "support/random.h"
#include "tests/test_support.h"
#ifdef HORIZON_HAVE_CUDA
#include "runtime/cuda/cuda_evaluator.h"
#include "runtime/cuda/cuda_step.h"
#endif

namespace horizon {
namespace {

TEST(CudaEvaluator, MatchesTheCpuLoss) {
#ifndef HORIZON_HAVE_CUDA
  GTEST_SKIP() << "built without CUDA";
#else
  std::string why;
  if (runtime::cuda::cuda_device_count(&why) == 0) GTEST_SKIP() << "no CUDA device (" << why << ")";
  for (const char* name : {"tiny.json", "tiny-qwen.json", "tiny-qwen3.json", "tiny-gpt2.json"}) {
    ir::Module m = frontend::load_model(testing::source_path(std::string("models/") + name));
    passes::lower(m);
    runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
    store.init_random(21);
    Rng rng(3);
    std::vector<runtime::TokenBatch> batches;
    for (int k = 0; k < 2; ++k) {
      runtime::TokenBatch b{2, 37, {}, {}, {}, {}};
      for (int i = 0; i < 2 * 37; ++i) {
        b.tokens.push_back(static_cast<int32_t>(rng.below(256)));
        b.targets.push_back(i % 5 == 1 ? -1 : static_cast<int32_t>(rng.below(256)));
      }
      batches.push_back(b);
    }
    runtime::CpuModel cpu(m, store);
    double want = 0;
    for (const auto& b : batches) want += cpu.loss(b.tokens.data(), b.targets.data(), b.batch, b.seq);
    want /= 2;
    runtime::cuda::CudaEvaluator gpu(m, store, 2, 37);
    const double got = gpu.loss(batches);
    ASSERT_TRUE(std::isfinite(got)) << name;
    EXPECT_NEAR(got, want, 2e-3 * std::fabs(want)) << name;
    EXPECT_EQ(gpu.loss(batches), got) << name << ": evaluation must be repeatable";
  }
#endif
}

}  // namespace
}  // namespace horizon
