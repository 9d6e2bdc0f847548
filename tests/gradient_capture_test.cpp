// The gradient sink of the streamed step on the emulated device: what it
// captures equals the unstreamed reference's mean gradient bit for bit (the
// executor's guarantee, so any difference is a capture bug), for one and
// several micro-batches, clipping on and off, device and host checkpoints,
// tied and untied heads; and a captured step leaves the store untouched.
#include <gtest/gtest.h>

#include <cstring>

#include "frontend/model_json.h"
#include "passes/lower.h"
#include "passes/schedule_pipeline.h"
#include "runtime/cpu/cpu_model.h"
#include "runtime/gradient_sink.h"
#include "runtime/schedule_executor.h"
#include "runtime/trainer.h"
#include "support/random.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

constexpr int64_t kBatch = 4, kSeq = 16;

using testing::lowered;

runtime::TokenBatch random_batch() {
  runtime::TokenBatch b{kBatch, kSeq, {}, {}, {}, {}};
  Rng rng(17);
  for (int64_t i = 0; i < kBatch * kSeq; ++i) {
    b.tokens.push_back(static_cast<int32_t>(rng.below(256)));
    b.targets.push_back(i % 5 == 2 ? -1 : static_cast<int32_t>(rng.below(256)));
  }
  return b;
}

struct Reference {
  double loss = 0;
  std::vector<std::vector<float>> grads;
};

// The unstreamed step's arithmetic (runtime/trainer.cpp): micro-batches
// accumulate, a tied tensor's part from the stage that binds it joins last,
// then the 1/M of the mean.
Reference reference(const ir::Module& m, const runtime::HostStore& store, const runtime::TokenBatch& b, int64_t M) {
  Reference r;
  std::vector<std::vector<float>> tied(store.tensors().size());
  for (const runtime::StoredTensor& t : store.tensors()) r.grads.emplace_back(static_cast<size_t>(t.elements), 0.0f);
  const ir::ParamLayout& layout = store.layout();
  for (size_t reg = 0; reg < layout.regions.size(); ++reg)
    for (int t : layout.regions[reg].bound)
      if (layout.tensors[static_cast<size_t>(t)].region != static_cast<int>(reg))
        tied[static_cast<size_t>(t)].resize(r.grads[static_cast<size_t>(t)].size());
  runtime::CpuModel cpu(m, store);
  const int64_t rows = b.batch / M, n = rows * b.seq;
  // Each micro-batch divides by the step's count, so the sum is the step's mean.
  const int64_t count = runtime::loss_count(b);
  for (int64_t i = 0; i < M; ++i)
    r.loss += cpu.forward_backward(
        runtime::BatchView{b.tokens.data() + i * n, b.targets.data() + i * n, nullptr, nullptr, rows, b.seq, count},
        r.grads, &tied);
  for (size_t t = 0; t < r.grads.size(); ++t)
    for (size_t i = 0; i < tied[t].size(); ++i) r.grads[t][i] += tied[t][i];
  return r;
}

/// Every byte the optimizer could change: master planes, moments, step.
std::vector<uint8_t> store_state(const runtime::HostStore& store) {
  std::vector<uint8_t> out;
  const size_t moment_bytes = store.moments() == codegen::cpu::MomentType::bf16 ? 2 : 4;
  for (size_t t = 0; t < store.tensors().size(); ++t) {
    const int i = static_cast<int>(t);
    const size_t n = static_cast<size_t>(store.tensors()[t].elements);
    std::vector<float> master(n);
    store.get_master(i, master.data());
    const auto* mp = reinterpret_cast<const uint8_t*>(master.data());
    out.insert(out.end(), mp, mp + n * 4);
    for (const void* moment : {store.m(i), store.v(i)}) {
      const auto* p = static_cast<const uint8_t*>(moment);
      out.insert(out.end(), p, p + n * moment_bytes);
    }
  }
  const int64_t step = store.step();
  const auto* sp = reinterpret_cast<const uint8_t*>(&step);
  out.insert(out.end(), sp, sp + sizeof step);
  return out;
}

struct Shape {
  int64_t micro_batches, checkpoint_every, slots;
  bool host_checkpoints, clip;
};

void expect_capture_equals_reference(const std::string& model) {
  const ir::Module m = lowered(model);
  const runtime::TokenBatch b = random_batch();
  for (const Shape& s : {Shape{1, 1, 2, true, false}, Shape{1, 2, 3, false, true}, Shape{2, 1, 2, false, false},
                         Shape{4, 2, 2, true, true}}) {
    SCOPED_TRACE(model + " M=" + std::to_string(s.micro_batches) + " K=" + std::to_string(s.checkpoint_every) +
                 " slots=" + std::to_string(s.slots) + " host_checkpoints=" + std::to_string(s.host_checkpoints) +
                 " clip=" + std::to_string(s.clip));
    passes::StreamingOptions o;
    o.batch = kBatch;
    o.seq = kSeq;
    o.micro_batches = s.micro_batches;
    o.checkpoint_every = s.checkpoint_every;
    o.slots = s.slots;
    o.host_checkpoints = s.host_checkpoints ? 1 : 0;
    o.clip = s.clip;
    const ir::Schedule schedule = passes::lower_to_schedule(m, o);

    runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
    store.init_random(21);
    store.set_step(3);  // a store mid-run: the captured step must not count
    const Reference want = reference(m, store, b, s.micro_batches);
    const std::vector<uint8_t> before = store_state(store);

    runtime::ScheduleExecutor exec(schedule, m, store, runtime::AdamWConfig{}, s.clip ? 0.5f : 0.0f);
    exec.set_learning_rate(1e-2f);
    runtime::GradientCapture capture(store.tensors().size());
    exec.set_gradient_sink(&capture);
    EXPECT_EQ(exec.step(b.tokens.data(), b.targets.data()), static_cast<float>(want.loss));

    EXPECT_TRUE(store_state(store) == before) << "a captured step changed the store";
    ASSERT_EQ(capture.gradients.size(), want.grads.size());
    for (size_t t = 0; t < want.grads.size(); ++t) {
      ASSERT_EQ(capture.gradients[t].size(), want.grads[t].size()) << store.tensors()[t].name << " was not captured";
      EXPECT_EQ(std::memcmp(capture.gradients[t].data(), want.grads[t].data(), want.grads[t].size() * 4), 0)
          << store.tensors()[t].name << " differs from the reference";
    }
  }
}

TEST(GradientCapture, TinyEqualsUnstreamedBitForBit) { expect_capture_equals_reference("tiny.json"); }
TEST(GradientCapture, TiedQwenEqualsUnstreamedBitForBit) { expect_capture_equals_reference("tiny-qwen.json"); }

TEST(GradientCapture, WithoutASinkTheStepTrains) {
  const ir::Module m = lowered("tiny-qwen.json");
  passes::StreamingOptions o;
  o.batch = kBatch;
  o.seq = kSeq;
  const ir::Schedule schedule = passes::lower_to_schedule(m, o);
  runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
  store.init_random(21);
  const std::vector<uint8_t> before = store_state(store);
  runtime::ScheduleExecutor exec(schedule, m, store, runtime::AdamWConfig{});
  exec.set_learning_rate(1e-2f);
  runtime::GradientCapture capture(store.tensors().size());
  exec.set_gradient_sink(&capture);
  exec.set_gradient_sink(nullptr);
  const runtime::TokenBatch b = random_batch();
  exec.step(b.tokens.data(), b.targets.data());
  EXPECT_FALSE(store_state(store) == before);
  EXPECT_EQ(store.step(), 1);
  EXPECT_TRUE(capture.gradients[0].empty());
}

}  // namespace
}  // namespace horizon
