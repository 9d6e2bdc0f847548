#include "runtime/trainer.h"

#include <chrono>
#include <cmath>

#include "runtime/cpu/cpu_model.h"
#include "runtime/thread_pool.h"

namespace horizon::runtime {

Trainer::Trainer(const ir::Module& lowered, HostStore& store, const TrainConfig& config)
    : store_(store),
      config_(config),
      model_(std::make_unique<CpuModel>(lowered, store)),
      optimizer_(store, config.adamw) {
  for (const StoredTensor& t : store.tensors()) grads_.emplace_back(static_cast<size_t>(t.elements), 0.0f);
}

Trainer::~Trainer() = default;

double Trainer::evaluate(const std::vector<TokenBatch>& batches) {
  double sum = 0;
  for (const TokenBatch& b : batches) sum += model_->loss(b.tokens.data(), b.targets.data(), b.batch, b.seq);
  return batches.empty() ? 0.0 : sum / static_cast<double>(batches.size());
}

void Trainer::run(const BatchSource& next_batch, const ValidationSource& validation, const StepCallback& on_step) {
  for (int64_t step = store_.step(); step < config_.steps; ++step) {
    auto start = std::chrono::steady_clock::now();
    TokenBatch batch = next_batch();
    for (auto& g : grads_) std::fill(g.begin(), g.end(), 0.0f);
    StepMetrics m;
    m.loss = model_->forward_backward(batch.tokens.data(), batch.targets.data(), batch.batch, batch.seq, grads_);
    m.activation_peak_bytes = model_->last_peak_bytes();

    // Global gradient norm, summed per tensor in double for a stable result.
    std::vector<double> sums(grads_.size(), 0.0);
    parallel_for(static_cast<int64_t>(grads_.size()), 1, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        double s = 0;
        for (float g : grads_[static_cast<size_t>(t)]) s += static_cast<double>(g) * g;
        sums[static_cast<size_t>(t)] = s;
      }
    });
    double sq = 0;
    for (double s : sums) sq += s;
    m.grad_norm = std::sqrt(sq);
    float scale = 1.0f;
    if (config_.clip > 0 && m.grad_norm > config_.clip) scale = static_cast<float>(config_.clip / m.grad_norm);
    if (!std::isfinite(m.grad_norm)) scale = 0.0f;  // skip a step that blew up rather than poison the weights

    m.lr = config_.lr.at(step);
    optimizer_.begin_step();
    for (size_t t = 0; t < grads_.size(); ++t)
      optimizer_.update(static_cast<int>(t), grads_[t].data(), static_cast<float>(m.lr), scale);

    m.step = step + 1;
    m.tokens = batch.batch * batch.seq;
    if (config_.eval_every > 0 && (m.step % config_.eval_every == 0 || m.step == config_.steps) && validation)
      m.val_loss = evaluate(validation());
    m.step_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (on_step) on_step(m);
  }
}

}  // namespace horizon::runtime
