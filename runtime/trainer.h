// The training loop: batches in, AdamW steps out. A step — forward and
// backward over M micro-batches, clipping by the global gradient norm, the
// update of every stored tensor — is computed by a StepBackend: the
// unstreamed CPU model (the reference) or a streamed schedule. Every
// `eval_every` steps the loop measures the validation loss. Presentation
// (progress bar, metrics file) belongs to the caller, which receives one
// StepMetrics per step.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "ir/module.h"
#include "runtime/host_store.h"
#include "runtime/lr_schedule.h"
#include "runtime/optimizer.h"
#include "runtime/preference_metrics.h"

namespace horizon::runtime {

struct TokenBatch {
  int64_t batch = 0, seq = 0;
  std::vector<int32_t> tokens, targets;  // [batch * seq] each; a target < 0 carries no loss
  // Packed documents, [batch * seq] each, or empty for one document per row:
  // the position of each token within its document (restarting at 0) and
  // its document's index within the row. Attention never crosses documents.
  std::vector<int32_t> positions, segments;
  // Preference training: the reference model's log-probability of each row
  // ([batch]; rows 2k and 2k+1 are pair k's chosen and rejected). The loss is
  // then the mean over the step's pairs.
  std::vector<float> reference = {};
};

struct TrainConfig {
  int64_t steps = 100;
  LrSchedule lr;
  AdamWConfig adamw;
  float clip = 1.0f;  // 0 disables clipping
  int64_t eval_every = 0;
  // The batch splits into this many equal micro-batches along the batch
  // dimension; their gradients add up in order. Each divides its loss by the
  // targets >= 0 of the whole step, so the sum is the step's mean (as
  // transformers computes it with num_items_in_batch), however unevenly
  // the masked tokens fall.
  int64_t micro_batches = 1;
  // A step whose loss or gradient norm is not finite is skipped (weights and
  // moments untouched); this many in a row stop the run with a UserError.
  int64_t max_bad_steps = 3;
};

struct StepMetrics {
  int64_t step = 0;                // 1-based, after the update
  double loss = 0, val_loss = -1;  // val_loss < 0: not measured this step
  double lr = 0, grad_norm = 0;
  double step_seconds = 0;
  int64_t tokens = 0;  // tokens processed this step
  int64_t activation_peak_bytes = 0;
  bool skipped = false;     // non-finite loss or gradient norm: no update was applied
  NamedMetrics extra = {};  // objective-specific (DPO: rewards/chosen, ...)
};

/// What a backend reports of one step.
struct StepResult {
  double loss = 0;       // mean over the step's targets >= 0 (all micro-batches)
  double grad_norm = 0;  // global norm of the step's gradient, before clipping
  int64_t activation_peak_bytes = 0;
  NamedMetrics extra = {};  // objective-specific metrics of the step
};

/// Computes one training step and updates the store in place.
class StepBackend {
 public:
  virtual ~StepBackend() = default;
  /// Forward and backward over `batch`, then one AdamW update at `lr`.
  virtual StepResult step(const TokenBatch& batch, float lr) = 0;
  /// Validation loss over `batches` (the mean over all their targets >= 0)
  /// on this backend's device; false
  /// when the backend leaves evaluation to the CPU model.
  /// Blocks until every update of the steps so far is in the store; a
  /// backend may return from step() with updates still running (they
  /// overlap the next step). The trainer calls this before anything else
  /// reads the store.
  virtual void finish_updates() {}
  /// Makes the store's bf16 working weights current, all that validation
  /// reads; the rest of the store may lag until finish_updates (a GPU
  /// backend copies less). By default, finish_updates.
  virtual void finish_weights() { finish_updates(); }
  virtual bool evaluate(const std::vector<TokenBatch>& batches, double* loss) {
    (void)batches;
    (void)loss;
    return false;
  }
};

/// The reference backend: the whole model forward and backward on the CPU
/// per micro-batch (CpuModel), then clipping and the update.
std::unique_ptr<StepBackend> make_unstreamed_step(const ir::Module& lowered, HostStore& store,
                                                  const TrainConfig& config);

/// Sum of squares in double, in element order: every backend computes the
/// gradient norm this way (per tensor, tensors summed in store order), so
/// clipping gives the same bits whichever backend ran.
double sum_of_squares(const float* values, int64_t n);
/// sum_of_squares adds fixed blocks of this many elements, each summed by
/// block_sum_of_squares, in block order: a data-parallel rank whose shard
/// starts on a block boundary computes its blocks' partial sums with the
/// same bits (runtime/parallel/gradient_shards.h).
constexpr int64_t kSquaresBlock = int64_t{1} << 15;
/// One block's sum of squares (n <= kSquaresBlock elements).
double block_sum_of_squares(const float* values, int64_t n);
/// The same of a gradient given in chunks (runtime/optimizer.h), in the same blocks: the same bits.
double sum_of_squares(int64_t n, const GradientChunks& chunks);
/// The factor AdamW multiplies the step's gradient (its micro-batches'
/// summed; each already divided by the step's loss count) by: the clip
/// factor when `norm` exceeds `clip` (> 0), else 1; 0 when the norm is not
/// finite: every optimizer (CPU JIT, emulated and GPU resident, deferred or
/// not) leaves the weights and the moments of a tensor untouched for a scale
/// of 0 (skips_update), so a step that blew up is skipped instead of
/// poisoning the model.
float gradient_scale(double norm, float clip);
/// Whether an update with this gradient scale is skipped (see gradient_scale).
inline bool skips_update(float grad_scale) { return grad_scale == 0.0f; }
/// Targets >= 0 among n: what a step's loss divides by. 0 gives a loss of 0
/// and no gradient, never NaN.
int64_t loss_count(const int32_t* targets, int64_t n);
/// For a preference batch (reference given) its pairs, else its targets >= 0.
int64_t loss_count(const TokenBatch& batch);
/// Whether positions/segments (either may be null) pack more than one
/// document into some row: a model compiled for whole rows cannot run them.
bool packs_documents(const int32_t* positions, const int32_t* segments, int64_t batch, int64_t seq);
/// A batch of whole rows as packed-document channels: positions 0..seq-1, segments 0.
void whole_row_documents(int32_t* positions, int32_t* segments, int64_t batch, int64_t seq);

class CpuModel;

class Trainer {
 public:
  /// Trains with the unstreamed reference backend.
  Trainer(const ir::Module& lowered, HostStore& store, const TrainConfig& config);
  /// Trains with `backend` (e.g. a streamed schedule); evaluation stays on the CPU model.
  Trainer(const ir::Module& lowered, HostStore& store, const TrainConfig& config, std::unique_ptr<StepBackend> backend);
  ~Trainer();

  using BatchSource = std::function<TokenBatch()>;
  using ValidationSource = std::function<std::vector<TokenBatch>()>;
  using StepCallback = std::function<void(const StepMetrics&)>;

  /// Runs config.steps steps (resuming from the store's step count).
  void run(const BatchSource& next_batch, const ValidationSource& validation, const StepCallback& on_step);

  /// Loss over batches, forward only: the mean over all their targets >= 0.
  double evaluate(const std::vector<TokenBatch>& batches);

  /// Ends run() after the current step (e.g. on SIGINT); safe to call from on_step.
  void stop() { stop_ = true; }
  /// Blocks until every update so far is in the store: call before reading
  /// the store from on_step (a checkpoint).
  void finish_updates();

 private:
  HostStore& store_;
  TrainConfig config_;
  std::unique_ptr<CpuModel> model_;  // evaluation
  std::unique_ptr<StepBackend> backend_;
  bool stop_ = false;
};

}  // namespace horizon::runtime
