#include "runtime/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>
#include <vector>

#include "runtime/cpu/cpu_model.h"
#include "runtime/thread_pool.h"
#include "support/error.h"

namespace horizon::runtime {

double block_sum_of_squares(const float* v, int64_t len) {
  // Eight independent accumulators: vectorizable, and the same bits on every
  // machine since the order depends only on len.
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= len; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] += static_cast<double>(v[i + k]) * v[i + k];
  for (; i < len; ++i) acc[0] += static_cast<double>(v[i]) * v[i];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

double sum_of_squares(const float* values, int64_t n) {
  return sum_of_squares(n, [values](int64_t first, int64_t, float*) { return values + first; });
}

double sum_of_squares(int64_t n, const GradientChunks& chunks) {
  // Fixed blocks: parallel, yet the same bits whatever the thread count,
  // since the blocks and the order of combining them depend only on n.
  static_assert(kSquaresBlock <= kGradientChunk);
  const int64_t blocks = (n + kSquaresBlock - 1) / kSquaresBlock;
  std::vector<double> partial(static_cast<size_t>(blocks), 0.0);
  parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
    thread_local std::vector<float> scratch;  // touched only by sources that widen or add
    if (scratch.empty()) scratch.resize(static_cast<size_t>(kSquaresBlock));
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t len = std::min(kSquaresBlock, n - b * kSquaresBlock);
      partial[static_cast<size_t>(b)] = block_sum_of_squares(chunks(b * kSquaresBlock, len, scratch.data()), len);
    }
  });
  double s = 0;
  for (double p : partial) s += p;
  return s;
}

float gradient_scale(double norm, float clip) {
  float factor = 1.0f;
  if (clip > 0 && norm > clip) factor = static_cast<float>(clip / norm);
  if (!std::isfinite(norm)) factor = 0.0f;
  return factor;
}

int64_t loss_count(const int32_t* targets, int64_t n) {
  return std::count_if(targets, targets + n, [](int32_t t) { return t >= 0; });
}

bool packs_documents(const int32_t* positions, const int32_t* segments, int64_t batch, int64_t seq) {
  for (int64_t r = 0; r < batch; ++r)
    for (int64_t i = 0; i < seq; ++i) {
      const int64_t n = r * seq + i;
      if ((segments && segments[n] != segments[r * seq]) || (positions && positions[n] != i)) return true;
    }
  return false;
}

void whole_row_documents(int32_t* positions, int32_t* segments, int64_t batch, int64_t seq) {
  for (int64_t n = 0; n < batch * seq; ++n) {
    positions[n] = static_cast<int32_t>(n % seq);
    segments[n] = 0;
  }
}

int64_t loss_count(const TokenBatch& batch) {
  if (!batch.reference.empty()) return batch.batch / 2;
  return loss_count(batch.targets.data(), static_cast<int64_t>(batch.targets.size()));
}

namespace {

/// Rows [first, first + batch * seq) of `b`, the loss over `count` targets.
BatchView micro_batch(const TokenBatch& b, int64_t first, int64_t batch, int64_t count) {
  auto at = [&](const std::vector<int32_t>& v) { return v.empty() ? nullptr : v.data() + first; };
  BatchView v{b.tokens.data() + first, b.targets.data() + first, at(b.positions), at(b.segments), batch, b.seq, count};
  if (!b.reference.empty()) v.reference = b.reference.data() + first / b.seq;
  return v;
}

class UnstreamedStep : public StepBackend {
 public:
  UnstreamedStep(const ir::Module& lowered, HostStore& store, const TrainConfig& config)
      : model_(lowered, store), optimizer_(store, config.adamw), config_(config), beta_(preference_beta(lowered)) {
    if (config.micro_batches <= 0) throw UserError("micro_batches must be positive");
    for (const StoredTensor& t : store.tensors()) grads_.emplace_back(static_cast<size_t>(t.elements), 0.0f);
    tied_.resize(grads_.size());
    const ir::ParamLayout& layout = store.layout();
    for (size_t r = 0; r < layout.regions.size(); ++r)
      for (int t : layout.regions[r].bound)
        if (layout.tensors[static_cast<size_t>(t)].region != static_cast<int>(r))
          tied_[static_cast<size_t>(t)].resize(grads_[static_cast<size_t>(t)].size());
  }

  StepResult step(const TokenBatch& batch, float lr) override {
    const int64_t M = config_.micro_batches;
    if (batch.batch % M != 0)
      throw UserError("batch " + std::to_string(batch.batch) + " is not divisible into " + std::to_string(M) +
                      " micro-batches; pick a batch that is a multiple of --micro-batches");
    for (auto& g : grads_) std::fill(g.begin(), g.end(), 0.0f);
    for (auto& g : tied_) std::fill(g.begin(), g.end(), 0.0f);
    StepResult result;
    const int64_t mb = batch.batch / M, n = mb * batch.seq;
    // Every micro-batch divides by the step's count: their losses and
    // gradients add up to the mean over the step's unmasked tokens.
    const int64_t count = loss_count(batch);
    if (beta_ && static_cast<int64_t>(batch.reference.size()) != batch.batch)
      throw UserError("a DPO step needs the reference log-probability of each of its " + std::to_string(batch.batch) +
                      " rows");
    if (beta_ && mb % 2)
      throw UserError("a DPO micro-batch holds whole chosen/rejected pairs: batch / micro-batches must be even");
    PreferenceRewards rewards(beta_.value_or(0));
    double loss = 0;
    for (int64_t m = 0; m < M; ++m) {
      loss += model_.forward_backward(micro_batch(batch, m * n, mb, count), grads_, &tied_);
      result.activation_peak_bytes = std::max(result.activation_peak_bytes, model_.last_peak_bytes());
      if (beta_) rewards.add(model_.last_sequence_logprobs().data(), batch.reference.data() + m * mb, mb);
    }
    result.loss = loss;
    result.extra = rewards.metrics();
    // A tied tensor's gradient from the stage that binds it joins last, as a
    // streamed step adds its separately accumulated slab in the update.
    for (size_t t = 0; t < tied_.size(); ++t)
      for (size_t i = 0; i < tied_[t].size(); ++i) grads_[t][i] += tied_[t][i];

    std::vector<double> sums(grads_.size(), 0.0);
    parallel_for(static_cast<int64_t>(grads_.size()), 1, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const auto& g = grads_[static_cast<size_t>(t)];
        sums[static_cast<size_t>(t)] = sum_of_squares(g.data(), static_cast<int64_t>(g.size()));
      }
    });
    double sq = 0;
    for (double s : sums) sq += s;
    result.grad_norm = std::sqrt(sq);
    const float scale = std::isfinite(result.loss) ? gradient_scale(result.grad_norm, config_.clip) : 0.0f;

    optimizer_.begin_step();
    for (size_t t = 0; t < grads_.size(); ++t) optimizer_.update(static_cast<int>(t), grads_[t].data(), lr, scale);
    return result;
  }

 private:
  CpuModel model_;
  AdamWOptimizer optimizer_;
  TrainConfig config_;
  std::optional<double> beta_;  // a DPO head's beta: the step reports TRL's rewards
  std::vector<std::vector<float>> grads_;
  std::vector<std::vector<float>> tied_;  // sized only for tensors another region binds
};

}  // namespace

std::unique_ptr<StepBackend> make_unstreamed_step(const ir::Module& lowered, HostStore& store,
                                                  const TrainConfig& config) {
  return std::make_unique<UnstreamedStep>(lowered, store, config);
}

Trainer::Trainer(const ir::Module& lowered, HostStore& store, const TrainConfig& config)
    : Trainer(lowered, store, config, make_unstreamed_step(lowered, store, config)) {}

Trainer::Trainer(const ir::Module& lowered, HostStore& store, const TrainConfig& config,
                 std::unique_ptr<StepBackend> backend)
    : store_(store),
      config_(config),
      model_(std::make_unique<CpuModel>(lowered, store)),
      backend_(std::move(backend)) {}

Trainer::~Trainer() = default;

double Trainer::evaluate(const std::vector<TokenBatch>& batches) {
  if (backend_) backend_->finish_weights();
  if (double on_device = 0; backend_ && backend_->evaluate(batches, &on_device)) return on_device;
  // The mean over the unmasked tokens of all batches, not a mean of means.
  int64_t count = 0;
  for (const TokenBatch& b : batches) count += loss_count(b);
  double sum = 0;
  for (const TokenBatch& b : batches) sum += model_->loss(micro_batch(b, 0, b.batch, count));
  return sum;
}

void Trainer::finish_updates() {
  if (backend_) backend_->finish_updates();
}

void Trainer::run(const BatchSource& next_batch, const ValidationSource& validation, const StepCallback& on_step) {
  int64_t bad_in_a_row = 0;
  stop_ = false;
  for (int64_t step = store_.step(); step < config_.steps && !stop_; ++step) {
    auto start = std::chrono::steady_clock::now();
    TokenBatch batch = next_batch();
    StepMetrics m;
    m.lr = config_.lr.at(step);
    StepResult r = backend_->step(batch, static_cast<float>(m.lr));
    m.loss = r.loss;
    m.grad_norm = r.grad_norm;
    m.activation_peak_bytes = r.activation_peak_bytes;
    m.extra = r.extra;
    m.step = step + 1;
    m.tokens = batch.batch * batch.seq;
    if (config_.eval_every > 0 && (m.step % config_.eval_every == 0 || m.step == config_.steps) && validation)
      m.val_loss = evaluate(validation());
    m.step_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    m.skipped = !std::isfinite(m.loss) || !std::isfinite(m.grad_norm);
    bad_in_a_row = m.skipped ? bad_in_a_row + 1 : 0;
    if (m.skipped)
      std::fprintf(stderr, "\nstep %lld: loss %g, gradient norm %g: update skipped (weights and moments unchanged)\n",
                   static_cast<long long>(m.step), m.loss, m.grad_norm);
    if (on_step) on_step(m);
    if (config_.max_bad_steps > 0 && bad_in_a_row >= config_.max_bad_steps) {
      finish_updates();
      throw UserError("training diverged: " + std::to_string(bad_in_a_row) + " steps in a row (up to step " +
                      std::to_string(m.step) +
                      ") had a non-finite loss or gradient norm and were skipped; lower --lr, check --init and the "
                      "model file, and resume from the last checkpoint (or raise --max-bad-steps)");
    }
  }
  if (backend_) backend_->finish_updates();
}

}  // namespace horizon::runtime
