// End-to-end training on the CPU backend: the loss falls, runs are
// reproducible, and a saved checkpoint reproduces the trained model exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "cli/checkpoint.h"
#include "data/batch_sampler.h"
#include "data/token_dataset.h"
#include "frontend/model_json.h"
#include "passes/lower.h"
#include "runtime/cpu/cpu_model.h"
#include "runtime/trainer.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

using testing::lowered;

// A small corpus with structure a model can learn quickly.
data::TokenDataset corpus() {
  std::string text;
  for (int i = 0; i < 400; ++i) text += "the quick brown fox jumps over the lazy dog " + std::to_string(i % 10) + "\n";
  std::vector<int32_t> tokens(text.begin(), text.end());
  return data::TokenDataset::from_tokens(tokens, 256, 0.1, "fox corpus");
}

std::vector<double> train_losses(const ir::Module& m, int64_t steps, uint64_t seed, runtime::HostStore& store) {
  data::TokenDataset ds = corpus();
  data::BatchSampler sampler(ds.train(), 4, 32, seed);
  runtime::TrainConfig cfg;
  cfg.steps = steps;
  cfg.lr.peak = 3e-3;
  cfg.lr.warmup = 5;
  cfg.lr.total = steps;
  std::vector<double> losses;
  runtime::Trainer trainer(m, store, cfg);
  trainer.run(
      [&] {
        data::Batch b = sampler.next();
        return runtime::TokenBatch{b.batch, b.seq, b.tokens, b.targets, {}, {}};
      },
      nullptr, [&](const runtime::StepMetrics& s) { losses.push_back(s.loss); });
  return losses;
}

TEST(Train, FiftyStepsLowerTheLoss) {
  ir::Module m = lowered("tiny.json");
  runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
  store.init_random(7);
  std::vector<double> losses = train_losses(m, 50, 7, store);
  ASSERT_EQ(losses.size(), 50u);
  EXPECT_NEAR(losses[0], std::log(256.0), 0.3);  // an untrained byte model is near uniform
  double last = (losses[45] + losses[46] + losses[47] + losses[48] + losses[49]) / 5;
  EXPECT_LT(last, losses[0] * 0.6) << "first " << losses[0] << " last " << last;
  EXPECT_EQ(store.step(), 50);
}

TEST(Train, IdenticalSeedsGiveIdenticalLosses) {
  ir::Module m = lowered("tiny-qwen.json");
  std::vector<double> a, b, c;
  {
    runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
    store.init_random(3);
    a = train_losses(m, 6, 3, store);
  }
  {
    runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
    store.init_random(3);
    b = train_losses(m, 6, 3, store);
  }
  {
    runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
    store.init_random(4);
    c = train_losses(m, 6, 4, store);
  }
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(Train, SaveLoadGivesIdenticalLogits) {
  ir::Module m = lowered("tiny-qwen.json");
  runtime::HostStore store(m, codegen::cpu::MomentType::bf16);
  store.init_random(5);
  train_losses(m, 5, 5, store);
  testing::TempDir dir;
  cli::save_checkpoint(dir.path(), m, store);
  // A Llama-family model also gets the config.json transformers loads.
  EXPECT_NE(testing::read_file(dir.path() + "/config.json").find("Qwen2ForCausalLM"), std::string::npos);

  runtime::HostStore loaded(m, codegen::cpu::MomentType::bf16);
  cli::load_weights(dir.path(), loaded);
  std::vector<int32_t> tokens = {104, 101, 108, 108, 111, 32, 119, 111, 114, 108, 100};
  const int64_t S = static_cast<int64_t>(tokens.size());
  std::vector<float> before = runtime::CpuModel(m, store).logits(tokens.data(), 1, S);
  std::vector<float> after = runtime::CpuModel(m, loaded).logits(tokens.data(), 1, S);
  ASSERT_EQ(before.size(), static_cast<size_t>(S * 256));
  EXPECT_EQ(before, after);
}

TEST(Train, ResumeRestoresMasterMomentsAndStep) {
  ir::Module m = lowered("tiny-qwen.json");
  runtime::HostStore first(m, codegen::cpu::MomentType::bf16);
  first.init_random(9);
  train_losses(m, 4, 9, first);
  testing::TempDir dir;
  cli::save_checkpoint(dir.path(), m, first);

  runtime::HostStore resumed(m, codegen::cpu::MomentType::bf16);
  resumed.init_random(1234);  // different weights, overwritten by the resume
  cli::resume_checkpoint(dir.path(), resumed);
  EXPECT_EQ(resumed.step(), 4);
  for (size_t t = 0; t < first.tensors().size(); ++t) {
    const size_t n = static_cast<size_t>(first.tensors()[t].elements);
    std::vector<float> a(n), b(n);
    first.get_master(static_cast<int>(t), a.data());
    resumed.get_master(static_cast<int>(t), b.data());
    EXPECT_EQ(a, b) << first.tensors()[t].name;
    EXPECT_EQ(0, std::memcmp(first.m(static_cast<int>(t)), resumed.m(static_cast<int>(t)), n * 2));
    EXPECT_EQ(0, std::memcmp(first.v(static_cast<int>(t)), resumed.v(static_cast<int>(t)), n * 2));
  }
}

}  // namespace
}  // namespace horizon
