// The NaN guard: a step whose loss or gradient norm is not finite leaves the
// weights and the moments exactly as they were, on every backend (the CPU
// reference, the streamed schedule, emulated resident layers whose update is
// the GPU's), and the trainer stops after --max-bad-steps of them in a row.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "passes/lower.h"
#include "passes/schedule_pipeline.h"
#include "runtime/schedule_executor.h"
#include "runtime/trainer.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

constexpr int64_t kBatch = 2, kSeq = 16;

// Every plane of every tensor, as bytes.
std::vector<std::vector<uint8_t>> planes(const runtime::HostStore& store) {
  std::vector<std::vector<uint8_t>> out;
  for (size_t t = 0; t < store.tensors().size(); ++t) {
    const int i = static_cast<int>(t);
    const size_t n = static_cast<size_t>(store.tensors()[t].elements);
    auto add = [&](const void* p, size_t bytes) {
      const auto* b = static_cast<const uint8_t*>(p);
      out.emplace_back(b, b + bytes);
    };
    add(store.w_hi(i), n * 2);
    add(store.w_lo(i), n * 2);
    add(store.m(i), n * static_cast<size_t>(store.moment_bytes()));
    add(store.v(i), n * static_cast<size_t>(store.moment_bytes()));
  }
  return out;
}

runtime::TrainConfig config() {
  runtime::TrainConfig cfg;
  cfg.steps = 10;
  cfg.lr.peak = 1e-3;
  cfg.lr.total = 10;
  cfg.adamw.weight_decay = 0.1f;  // a step that is not skipped would decay every weight
  cfg.clip = 0;
  cfg.micro_batches = 2;
  return cfg;
}

std::unique_ptr<runtime::StepBackend> backend(const std::string& kind, const ir::Module& m, runtime::HostStore& store,
                                              const runtime::TrainConfig& cfg) {
  if (kind == "unstreamed") return runtime::make_unstreamed_step(m, store, cfg);
  passes::StreamingOptions o;
  o.batch = kBatch;
  o.seq = kSeq;
  o.micro_batches = cfg.micro_batches;
  // Clipping plans the norm before every update, so a scale of 0 skips the
  // whole step; without it each tensor with a non-finite gradient is skipped.
  o.clip = kind != "streamed-noclip";
  o.resident = kind == "resident" ? 2 : 0;
  static std::vector<std::unique_ptr<ir::Schedule>> keep;  // a backend refers to its schedule
  keep.push_back(std::make_unique<ir::Schedule>(passes::lower_to_schedule(m, o)));
  return runtime::make_streamed_step(*keep.back(), m, store, cfg);
}

void poison(runtime::HostStore& store, int tensor) {
  std::vector<float> w(static_cast<size_t>(store.tensors()[static_cast<size_t>(tensor)].elements));
  store.get_master(tensor, w.data());
  w[1] = std::nanf("");
  // set_master zeroes the moments: keep them as they were.
  const size_t mb = w.size() * static_cast<size_t>(store.moment_bytes());
  std::vector<uint8_t> m(mb), v(mb);
  std::memcpy(m.data(), store.m(tensor), mb);
  std::memcpy(v.data(), store.v(tensor), mb);
  store.set_master(tensor, w.data());
  std::memcpy(store.m(tensor), m.data(), mb);
  std::memcpy(store.v(tensor), v.data(), mb);
}

class Divergence : public ::testing::TestWithParam<std::string> {};

TEST_P(Divergence, NonFiniteStepLeavesWeightsAndMomentsUntouched) {
  ir::Module m = testing::lowered("tiny.json");
  runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
  store.init_random(5);
  const runtime::TrainConfig cfg = config();
  auto b = backend(GetParam(), m, store, cfg);
  const std::vector<runtime::TokenBatch> data = testing::random_batches(3, kBatch, kSeq, 7);

  const auto fresh = planes(store);
  runtime::StepResult good = b->step(data[0], 1e-3f);
  b->finish_updates();
  ASSERT_TRUE(std::isfinite(good.loss) && std::isfinite(good.grad_norm));
  ASSERT_NE(planes(store), fresh) << "a finite step must update (else this test proves nothing)";

  // A NaN in the last block's weights makes the loss and every gradient NaN.
  poison(store, static_cast<int>(store.tensors().size()) - 2);
  const auto before = planes(store);
  runtime::StepResult bad = b->step(data[1], 1e-3f);
  b->finish_updates();
  EXPECT_FALSE(std::isfinite(bad.grad_norm));
  EXPECT_TRUE(planes(store) == before) << GetParam() << ": a skipped step changed weights or moments";
}

INSTANTIATE_TEST_SUITE_P(Backends, Divergence,
                         ::testing::Values("unstreamed", "streamed", "resident", "streamed-noclip"));

TEST(DivergenceGuard, TrainerStopsAfterMaxBadStepsInARow) {
  ir::Module m = testing::lowered("tiny.json");
  runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
  store.init_random(5);
  poison(store, static_cast<int>(store.tensors().size()) - 1);
  runtime::TrainConfig cfg = config();
  cfg.max_bad_steps = 3;
  runtime::Trainer trainer(m, store, cfg);
  const std::vector<runtime::TokenBatch> data = testing::random_batches(1, kBatch, kSeq, 7);
  std::vector<bool> skipped;
  testing::expect_user_error(
      [&] {
        trainer.run([&] { return data[0]; }, nullptr,
                    [&](const runtime::StepMetrics& s) { skipped.push_back(s.skipped); });
      },
      {"training diverged", "3 steps in a row", "--max-bad-steps"});
  EXPECT_EQ(skipped, (std::vector<bool>{true, true, true}));
}

TEST(DivergenceGuard, GradientScaleMarksNonFiniteNormsAsSkipped) {
  EXPECT_TRUE(runtime::skips_update(runtime::gradient_scale(std::nan(""), 1.0f)));
  EXPECT_TRUE(runtime::skips_update(runtime::gradient_scale(INFINITY, 0.0f)));
  EXPECT_FALSE(runtime::skips_update(runtime::gradient_scale(1e30, 1.0f)));
  EXPECT_FALSE(runtime::skips_update(runtime::gradient_scale(0.0, 0.0f)));
}

}  // namespace
}  // namespace horizon
