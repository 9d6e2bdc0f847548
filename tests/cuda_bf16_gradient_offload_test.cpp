// `--grad-offload bf16` on a GPU: the cast kernel writes the pair layout of
// support/bf16_gradient.h bit for bit as the emulated executor does (in
// place, specials and ties included), and a streamed step with bf16 slabs
// matches the emulated executor's bf16 step within the tolerances of
// cuda_schedule_executor_test.cpp (bf16 GEMMs on the GPU, fp32 on the CPU),
// moving the same, halved, D2H bytes. Skipped where no CUDA device is present.
#include <gtest/gtest.h>

#ifdef HORIZON_HAVE_CUDA

#include <cuda_runtime_api.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "codegen/cpu/cpu_jit.h"
#include "passes/schedule_pipeline.h"
#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/cuda_schedule_executor.h"
#include "runtime/cuda/cuda_step.h"
#include "runtime/cuda/device_memory.h"
#include "runtime/cuda/gradient_cast.h"
#include "runtime/schedule_executor.h"
#include "support/bf16_gradient.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

constexpr int64_t kBatch = 4, kSeq = 32, kSteps = 2;
constexpr float kClip = 0.5f, kLr = 2e-3f;

class CudaBf16GradientOffload : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (runtime::cuda::cuda_device_count(&why) == 0) GTEST_SKIP() << "no CUDA device (" << why << ")";
  }
};

TEST_F(CudaBf16GradientOffload, CastKernelWritesThePairLayoutBitForBit) {
  const runtime::cuda::GradientCast cast;
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t n : {1, 2, 5, 4097, 1'000'001}) {
    std::vector<float> g(static_cast<size_t>(n));
    for (float& x : g) x = normal(rng) * std::ldexp(1.0f, static_cast<int>(rng() % 40) - 30);
    g[0] = 1.0f + 0x1p-8f;  // a tie: to even
    if (n > 3) g[1] = std::numeric_limits<float>::quiet_NaN(), g[2] = -INFINITY, g[3] = 3.4e38f;
    runtime::cuda::DeviceMemory d(n * 4, "the cast test's gradient");
    runtime::cuda::check_cuda(cudaMemcpy(d.get(), g.data(), static_cast<size_t>(n * 4), cudaMemcpyHostToDevice),
                              "cudaMemcpy", "the cast test's gradient");
    cast.cast(static_cast<float*>(d.get()), n, nullptr);
    std::vector<uint8_t> got(static_cast<size_t>(bf16_pair_bytes(n))), want(got.size());
    runtime::cuda::check_cuda(cudaMemcpy(got.data(), d.get(), got.size(), cudaMemcpyDeviceToHost), "cudaMemcpy",
                              "the cast's result");
    std::vector<float> host = g;
    pack_bf16_pairs(host.data(), n);
    std::memcpy(want.data(), host.data(), want.size());
    EXPECT_EQ(got, want) << "n " << n;
  }
}

struct Outcome {
  std::vector<double> losses, norms;
  std::vector<std::vector<float>> change;
  int64_t d2h = 0;
};

template <class Executor>
Outcome run_steps(const ir::Module& m, const ir::Schedule& s, bool clip) {
  runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
  store.init_random(21);
  auto masters = [&] {
    std::vector<std::vector<float>> all;
    for (size_t t = 0; t < store.tensors().size(); ++t) {
      all.emplace_back(static_cast<size_t>(store.tensors()[t].elements));
      store.get_master(static_cast<int>(t), all.back().data());
    }
    return all;
  };
  const auto before = masters();
  runtime::AdamWConfig adamw;
  adamw.weight_decay = 0.1f;
  Executor exec(s, m, store, adamw, clip ? kClip : 0.0f);
  exec.set_learning_rate(kLr);
  Outcome r;
  for (const runtime::TokenBatch& b : testing::random_batches(kSteps, kBatch, kSeq, 11)) {
    exec.step(b.tokens.data(), b.targets.data());
    r.losses.push_back(exec.last_step().loss);
    r.norms.push_back(exec.last_step().grad_norm);
    r.d2h = exec.last_step().d2h_bytes;
  }
  exec.finish_updates();
  r.change = masters();
  for (size_t t = 0; t < r.change.size(); ++t)
    for (size_t i = 0; i < r.change[t].size(); ++i) r.change[t][i] -= before[t][i];
  return r;
}

// The same comparison as CudaScheduleExecutorTest's: losses within 2e-2,
// the weight change of two steps within 8e-2 relative L2.
TEST_F(CudaBf16GradientOffload, StepMatchesTheEmulatedBf16Step) {
  if (codegen::cpu::CpuJit::get().isa() == codegen::cpu::Isa::sse)
    GTEST_SKIP() << "the CPU JIT targets SSE (no FMA): its AdamW rounds differently from the GPU's";
  for (const char* name : {"tiny.json", "tiny-qwen.json"}) {
    const ir::Module m = testing::lowered(name);
    for (int64_t M : {1, 2})
      for (bool clip : {true, false}) {
        SCOPED_TRACE(std::string(name) + " M=" + std::to_string(M) + " clip=" + std::to_string(clip));
        passes::StreamingOptions o;
        o.batch = kBatch;
        o.seq = kSeq;
        o.micro_batches = M;
        o.clip = clip;
        o.bf16_gradients = true;
        const ir::Schedule s = passes::lower_to_schedule(m, o);
        const Outcome want = run_steps<runtime::ScheduleExecutor>(m, s, clip);
        const Outcome got = run_steps<runtime::cuda::CudaScheduleExecutor>(m, s, clip);
        for (size_t i = 0; i < want.losses.size(); ++i) {
          EXPECT_NEAR(got.losses[i], want.losses[i], 2e-2 * std::abs(want.losses[i])) << "step " << i + 1;
          EXPECT_NEAR(got.norms[i], want.norms[i], 5e-2 * want.norms[i]) << "gradient norm of step " << i + 1;
        }
        double diff = 0, norm = 0;
        for (size_t t = 0; t < want.change.size(); ++t)
          for (size_t i = 0; i < want.change[t].size(); ++i) {
            const double d = static_cast<double>(got.change[t][i]) - want.change[t][i];
            diff += d * d;
            norm += static_cast<double>(want.change[t][i]) * want.change[t][i];
          }
        EXPECT_LT(std::sqrt(diff / norm), 8e-2);
        EXPECT_EQ(got.d2h, want.d2h);
        std::printf("[ info     ] %s M=%lld clip=%d: losses %.5f %.5f (emulated %.5f %.5f), change rel L2 %.4f\n", name,
                    static_cast<long long>(M), clip ? 1 : 0, got.losses[0], got.losses[1], want.losses[0],
                    want.losses[1], std::sqrt(diff / norm));
      }
  }
}

}  // namespace
}  // namespace horizon

#endif  // HORIZON_HAVE_CUDA
