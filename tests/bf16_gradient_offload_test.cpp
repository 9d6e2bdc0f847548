// `--grad-offload bf16` (docs/bf16-gradient-offload.md): the pair layout
// casts in place and widens back exactly; the emulated executor's step
// equals, bit for bit, a reference that rounds each gradient part to bf16
// before the norm and AdamW (and differs from the fp32 one, so the
// comparison can fail); the slabs, the planned host bytes, the memory
// table and the D2H bytes drop by the hand-computed 2 bytes per streamed
// parameter.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "ir/param_count.h"
#include "ir/param_layout.h"
#include "passes/schedule_pipeline.h"
#include "passes/step_plan.h"
#include "plan/machine.h"
#include "plan/memory_table.h"
#include "plan/simulator.h"
#include "runtime/cpu/cpu_model.h"
#include "runtime/optimizer.h"
#include "runtime/schedule_executor.h"
#include "runtime/trainer.h"
#include "support/bf16_gradient.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

constexpr int64_t kBatch = 4, kSeq = 16, kSteps = 2;
constexpr float kClip = 0.5f, kLr = 2e-3f;

// tiny.json's parameters, by hand: embed 256 x 256 = 65,536; a block
// 2 x 256 (norms) + 4 x 256 x 256 (q, k, v, o) + 3 x 688 x 256 (mlp) =
// 791,040, four of them 3,164,160; head 256 + 256 x 256 = 65,792.
constexpr int64_t kTinyParams = 65'536 + 4 * 791'040 + 65'792;  // 3,295,488, every region even

runtime::AdamWConfig adamw() {
  runtime::AdamWConfig c;
  c.weight_decay = 0.1f;
  return c;
}

struct Outcome {
  std::vector<double> losses, norms;
  std::vector<std::vector<uint32_t>> masters;
  int64_t d2h = 0;
};

void keep_masters(const runtime::HostStore& store, Outcome& o) {
  for (size_t t = 0; t < store.tensors().size(); ++t) {
    std::vector<uint32_t> bits(static_cast<size_t>(store.tensors()[t].elements));
    std::vector<float> w(bits.size());
    store.get_master(static_cast<int>(t), w.data());
    std::memcpy(bits.data(), w.data(), w.size() * 4);
    o.masters.push_back(std::move(bits));
  }
}

void round_to_bf16(std::vector<float>& g) {
  for (float& x : g) x = bf16_to_float(float_to_bf16(x));
}

// The unstreamed step (runtime/trainer.cpp) with each gradient part -- a
// tensor's own, and a tied tensor's part from the stage that binds it --
// rounded to bf16 (nearest even) where the streamed step offloads it.
Outcome reference(const ir::Module& m, int64_t M, bool clip, bool round) {
  runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
  store.init_random(21);
  runtime::CpuModel model(m, store);
  runtime::AdamWOptimizer optimizer(store, adamw());
  const ir::ParamLayout& layout = store.layout();
  std::vector<std::vector<float>> grads, tied(layout.tensors.size());
  for (const auto& t : store.tensors()) grads.emplace_back(static_cast<size_t>(t.elements), 0.0f);
  for (size_t r = 0; r < layout.regions.size(); ++r)
    for (int t : layout.regions[r].bound)
      if (layout.tensors[static_cast<size_t>(t)].region != static_cast<int>(r))
        tied[static_cast<size_t>(t)].resize(grads[static_cast<size_t>(t)].size());
  Outcome o;
  for (const runtime::TokenBatch& b : testing::random_batches(kSteps, kBatch, kSeq, 11, 256)) {
    for (auto& g : grads) std::fill(g.begin(), g.end(), 0.0f);
    for (auto& g : tied) std::fill(g.begin(), g.end(), 0.0f);
    const int64_t mb = kBatch / M, n = mb * kSeq, count = runtime::loss_count(b);
    double loss = 0;
    for (int64_t k = 0; k < M; ++k)
      loss += model.forward_backward(
          runtime::BatchView{b.tokens.data() + k * n, b.targets.data() + k * n, nullptr, nullptr, mb, kSeq, count},
          grads, &tied);
    if (round) {
      for (auto& g : grads) round_to_bf16(g);
      for (auto& g : tied) round_to_bf16(g);
    }
    double sq = 0;
    for (size_t t = 0; t < grads.size(); ++t) {
      for (size_t i = 0; i < tied[t].size(); ++i) grads[t][i] += tied[t][i];
      sq += runtime::sum_of_squares(grads[t].data(), static_cast<int64_t>(grads[t].size()));
    }
    const double norm = std::sqrt(sq);
    const float scale = std::isfinite(loss) ? runtime::gradient_scale(norm, clip ? kClip : 0.0f) : 0.0f;
    optimizer.begin_step();
    for (size_t t = 0; t < grads.size(); ++t) optimizer.update(static_cast<int>(t), grads[t].data(), kLr, scale);
    o.losses.push_back(loss);
    o.norms.push_back(norm);
  }
  keep_masters(store, o);
  return o;
}

passes::StreamingOptions options(int64_t M, bool clip, bool bf16, int64_t keep = 0) {
  passes::StreamingOptions o;
  o.keep_activations = keep;
  o.batch = kBatch;
  o.seq = kSeq;
  o.micro_batches = M;
  o.clip = clip;
  o.bf16_gradients = bf16;
  return o;
}

Outcome streamed(const ir::Module& m, const ir::Schedule& s, bool clip) {
  runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
  store.init_random(21);
  runtime::ScheduleExecutor exec(s, m, store, adamw(), clip ? kClip : 0.0f);
  exec.set_learning_rate(kLr);
  Outcome o;
  for (const runtime::TokenBatch& b : testing::random_batches(kSteps, kBatch, kSeq, 11, 256)) {
    exec.step(b.tokens.data(), b.targets.data());
    o.losses.push_back(exec.last_step().loss);
    o.norms.push_back(exec.last_step().grad_norm);
    o.d2h = exec.last_step().d2h_bytes;
  }
  keep_masters(store, o);
  return o;
}

bool same(const Outcome& a, const Outcome& b) {
  return a.losses == b.losses && a.norms == b.norms && a.masters == b.masters;
}

TEST(Bf16GradientOffload, PairLayoutCastsInPlaceAndWidensEveryElement) {
  for (int64_t n : {1, 2, 7, 10, 1001}) {
    std::vector<float> g(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
      g[static_cast<size_t>(i)] =
          std::ldexp(1.0f + 0x1p-8f * static_cast<float>(i % 3), -static_cast<int>(i % 40)) * (i % 2 ? -1.0f : 1.0f);
    if (n > 2) g[2] = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> packed = g;
    pack_bf16_pairs(packed.data(), n);
    std::vector<uint16_t> slab(static_cast<size_t>(bf16_pair_bytes(n) / 2));
    std::memcpy(slab.data(), packed.data(), slab.size() * 2);
    std::vector<float> wide(static_cast<size_t>(n));
    widen_bf16_pairs(slab.data(), bf16_pair_half(n), 0, n, wide.data());
    for (int64_t i = 0; i < n; ++i) {
      const uint32_t want = static_cast<uint32_t>(float_to_bf16(g[static_cast<size_t>(i)])) << 16;
      EXPECT_EQ(std::bit_cast<uint32_t>(wide[static_cast<size_t>(i)]), want) << "n " << n << " element " << i;
    }
    // A middle span widens alone (a tensor inside its region's slab).
    if (n > 4) {
      std::vector<float> part(3);
      widen_bf16_pairs(slab.data(), bf16_pair_half(n), n / 2 - 1, 3, part.data());
      for (int64_t i = 0; i < 3; ++i)
        EXPECT_EQ(std::bit_cast<uint32_t>(part[static_cast<size_t>(i)]),
                  std::bit_cast<uint32_t>(wide[static_cast<size_t>(n / 2 - 1 + i)]));
    }
  }
  // Ties go to even: 1 + 2^-8 is halfway between two bf16 neighbours.
  float tie = 1.0f + 0x1p-8f;
  pack_bf16_pairs(&tie, 1);
  uint32_t word = 0;
  std::memcpy(&word, &tie, 4);
  EXPECT_EQ(word & 0xffffu, 0x3f80u);
}

// Both clipping modes, one and two micro-batches, untied (tiny) and tied
// (tiny-qwen: the head's lm_head is the embedding, two slabs per tensor),
// with and without blocks that keep their activations.
TEST(Bf16GradientOffload, EmulatedStepEqualsABf16RoundedReferenceBitForBit) {
  for (const char* name : {"tiny.json", "tiny-qwen.json"}) {
    const ir::Module m = testing::lowered(name);
    for (int64_t M : {1, 2})
      for (bool clip : {true, false}) {
        SCOPED_TRACE(std::string(name) + " M=" + std::to_string(M) + " clip=" + std::to_string(clip));
        const Outcome want = reference(m, M, clip, true);
        // Every block recomputing its forward, and two keeping their activations (block.kept.bwd).
        for (int64_t keep : {0, 2}) {
          const ir::Schedule s = passes::lower_to_schedule(m, options(M, clip, true, keep));
          ASSERT_TRUE(s.config.bf16_gradients);
          const Outcome got = streamed(m, s, clip);
          EXPECT_EQ(got.losses, want.losses) << "keep " << keep;
          EXPECT_EQ(got.norms, want.norms) << "keep " << keep;
          EXPECT_TRUE(got.masters == want.masters) << "master weights differ, keep " << keep;
        }
      }
  }
}

// The comparison above can fail: the fp32 reference is another result.
TEST(Bf16GradientOffload, TheUnroundedReferenceDiffers) {
  const ir::Module m = testing::lowered("tiny.json");
  const Outcome got = streamed(m, passes::lower_to_schedule(m, options(1, true, true)), true);
  EXPECT_FALSE(same(got, reference(m, 1, true, false)));
  EXPECT_TRUE(same(got, reference(m, 1, true, true)));
  // And fp32 offload is the fp32 reference.
  EXPECT_TRUE(
      same(streamed(m, passes::lower_to_schedule(m, options(1, true, false)), true), reference(m, 1, true, false)));
}

TEST(Bf16GradientOffload, HostBytesAndOffloadedBytesDropByTwoPerStreamedParameter) {
  const ir::Module m = testing::lowered("tiny.json");
  ASSERT_EQ(ir::summarize_params(m).total, kTinyParams);
  const int64_t drop = 2 * kTinyParams;  // 6,590,976 bytes: every region streams, 4 -> 2 B/param of slab
  for (bool clip : {true, false}) {
    SCOPED_TRACE(clip ? "one slab per region" : "two slabs in turn");
    const ir::Schedule f32 = passes::lower_to_schedule(m, options(1, clip, false));
    const ir::Schedule b16 = passes::lower_to_schedule(m, options(1, clip, true));
    // Without clipping the two slabs are of the largest region (a block): 2 x 791,040 x 2 bytes.
    const int64_t want = clip ? drop : 2 * 791'040 * 2;
    EXPECT_EQ(f32.bytes(ir::Place::host) - b16.bytes(ir::Place::host), want);
    EXPECT_EQ(passes::make_step_plan(m, options(1, clip, false)).host_bytes() -
                  passes::make_step_plan(m, options(1, clip, true)).host_bytes(),
              want);
    EXPECT_EQ(f32.bytes(ir::Place::gpu), b16.bytes(ir::Place::gpu)) << "the cast needs no GPU buffer";
    // The planner's table names the slabs' precision.
    const plan::MemoryTable table = plan::host_memory(b16, m, 1e12);
    bool found = false;
    for (const auto& line : table.lines)
      if (line.what == "pinned gradient slabs (bf16)") {
        found = true;
        EXPECT_EQ(line.bytes, clip ? 2.0 * kTinyParams : 2.0 * 2 * 791'040);
      }
    EXPECT_TRUE(found);
    // The cost model moves half the bytes across PCIe, and so does the executor.
    const plan::SimResult a = plan::simulate(f32, m, plan::default_machine());
    const plan::SimResult b = plan::simulate(b16, m, plan::default_machine());
    EXPECT_EQ(a.d2h_bytes - b.d2h_bytes, static_cast<double>(drop));
    EXPECT_EQ(streamed(m, f32, clip).d2h - streamed(m, b16, clip).d2h, drop);
  }
}

// The option on the command line: a streamed run trains with it, an
// unstreamed one is told what it needs, and a run short of host memory is
// offered it.
TEST(Bf16GradientOffload, TrainTakesTheOption) {
  const std::string model = testing::source_path("models/tiny.json"), data = testing::source_path("README.md");
  const std::string common = "train " + model + " --data " + data + " --steps 2 --batch 2 --seq 32 --eval-batches 0";
  const testing::CommandResult streamed = testing::run_horizon(common + " --stream --grad-offload bf16");
  EXPECT_EQ(streamed.exit_code, 0) << streamed.err;
  const testing::CommandResult unstreamed = testing::run_horizon(common + " --device cpu --grad-offload bf16");
  EXPECT_EQ(unstreamed.exit_code, 1);
  EXPECT_NE(unstreamed.err.find("add --stream"), std::string::npos) << unstreamed.err;
  const testing::CommandResult bad = testing::run_horizon(common + " --stream --grad-offload fp16");
  EXPECT_NE(bad.err.find("--grad-offload must be fp32 or bf16"), std::string::npos) << bad.err;
  const testing::CommandResult tight = testing::run_horizon(common + " --stream --host-mem 30M");
  EXPECT_EQ(tight.exit_code, 1);
  EXPECT_NE(tight.err.find("--grad-offload bf16 (gradient slabs of half the size"), std::string::npos) << tight.err;
}

}  // namespace
}  // namespace horizon
