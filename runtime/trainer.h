// The training loop: batches in, AdamW steps out. Each step zeroes the
// gradients, runs forward and backward on the backend, clips by the global
// gradient norm, and updates every stored tensor; every `eval_every` steps it
// measures the validation loss. Presentation (progress bar, metrics file)
// belongs to the caller, which receives one StepMetrics per step.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "ir/module.h"
#include "runtime/host_store.h"
#include "runtime/lr_schedule.h"
#include "runtime/optimizer.h"

namespace horizon::runtime {

struct TokenBatch {
  int64_t batch = 0, seq = 0;
  std::vector<int32_t> tokens, targets;  // [batch * seq] each
};

struct TrainConfig {
  int64_t steps = 100;
  LrSchedule lr;
  AdamWConfig adamw;
  float clip = 1.0f;  // 0 disables clipping
  int64_t eval_every = 0;
};

struct StepMetrics {
  int64_t step = 0;  // 1-based, after the update
  double loss = 0, val_loss = -1;  // val_loss < 0: not measured this step
  double lr = 0, grad_norm = 0;
  double step_seconds = 0;
  int64_t tokens = 0;  // tokens processed this step
  int64_t activation_peak_bytes = 0;
};

class CpuModel;

class Trainer {
 public:
  Trainer(const ir::Module& lowered, HostStore& store, const TrainConfig& config);
  ~Trainer();

  using BatchSource = std::function<TokenBatch()>;
  using ValidationSource = std::function<std::vector<TokenBatch>()>;
  using StepCallback = std::function<void(const StepMetrics&)>;

  /// Runs config.steps steps (resuming from the store's step count).
  void run(const BatchSource& next_batch, const ValidationSource& validation, const StepCallback& on_step);

  /// Mean loss over batches, forward only.
  double evaluate(const std::vector<TokenBatch>& batches);

 private:
  HostStore& store_;
  TrainConfig config_;
  std::unique_ptr<CpuModel> model_;
  AdamWOptimizer optimizer_;
  std::vector<std::vector<float>> grads_;
};

}  // namespace horizon::runtime
