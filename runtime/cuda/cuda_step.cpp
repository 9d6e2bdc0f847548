// The CUDA StepBackend is a thin shell over CudaScheduleExecutor; the probe
// asks the CUDA runtime, which loads the driver only now, so a machine
// without one answers "no device" instead of failing to start.
#include "runtime/cuda/cuda_step.h"

#include "runtime/cuda/cuda_evaluator.h"

#include <cuda_runtime.h>

#include <optional>

#include "runtime/cuda/cuda_check.h"
#include "runtime/preference_metrics.h"
#include "support/error.h"

namespace horizon::runtime::cuda {

int cuda_device_count(std::string* why_not) {
  int count = 0;
  // The runtime loads the driver lazily: on a machine without it this
  // returns cudaErrorInsufficientDriver or cudaErrorNoDevice, not a crash.
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    if (why_not)
      *why_not = std::string("cudaGetDeviceCount: ") + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
    cudaGetLastError();  // not sticky, but leave nothing behind for the next caller
    return 0;
  }
  if (count == 0 && why_not) *why_not = "cudaGetDeviceCount found no device";
  return count;
}

int64_t free_device_memory() {
  size_t free = 0, total = 0;
  check_cuda(cudaMemGetInfo(&free, &total), "cudaMemGetInfo", "sizing the layers kept on the GPU");
  return static_cast<int64_t>(free);
}

CudaStep::CudaStep(const ir::Schedule& schedule, const ir::Module& lowered, HostStore& store, const TrainConfig& config)
    : executor_(schedule, lowered, store, config.adamw, config.clip), lowered_(lowered), store_(store) {
  for (const ir::Buffer& b : schedule.buffers)
    if (b.place == ir::Place::gpu && (b.kind == ir::BufferKind::activations || b.kind == ir::BufferKind::checkpoint ||
                                      b.kind == ir::BufferKind::kept || b.kind == ir::BufferKind::workspace))
      activation_bytes_ += b.bytes;
}

CudaStep::~CudaStep() = default;

bool CudaStep::evaluate(const std::vector<TokenBatch>& batches, double* loss) {
  if (batches.empty()) return false;
  executor_.finish_weights();  // the evaluator streams bf16 weights from the store
  if (!evaluator_) evaluator_ = std::make_unique<CudaEvaluator>(lowered_, store_, batches[0].batch, batches[0].seq);
  *loss = evaluator_->loss(batches);
  return true;
}

StepResult CudaStep::step(const TokenBatch& batch, float lr) {
  const ir::ScheduleConfig& c = executor_.schedule().config;
  if (batch.batch != c.batch || batch.seq != c.seq)
    throw UserError("the schedule was compiled for batch " + std::to_string(c.batch) + " x seq " +
                    std::to_string(c.seq) + ", got " + std::to_string(batch.batch) + " x " + std::to_string(batch.seq));
  executor_.set_learning_rate(lr);
  auto channel = [](const std::vector<int32_t>& v) { return v.empty() ? nullptr : v.data(); };
  const std::optional<double> beta = preference_beta(lowered_);
  if (beta && static_cast<int64_t>(batch.reference.size()) != batch.batch)
    throw UserError("a DPO step needs the reference log-probability of each of its " + std::to_string(batch.batch) +
                    " rows");
  executor_.step(batch.tokens.data(), batch.targets.data(), channel(batch.positions), channel(batch.segments),
                 beta ? batch.reference.data() : nullptr);
  const CudaStepMeasurements& m = executor_.last_step();
  StepResult r{m.loss, m.grad_norm, activation_bytes_};
  if (beta) {
    PreferenceRewards rewards(*beta);
    rewards.add(executor_.last_logprobs().data(), batch.reference.data(), batch.batch);
    r.extra = rewards.metrics();
  }
  return r;
}

std::unique_ptr<CudaStep> make_cuda_step(const ir::Schedule& schedule, const ir::Module& lowered, HostStore& store,
                                         const TrainConfig& config) {
  return std::make_unique<CudaStep>(schedule, lowered, store, config);
}

}  // namespace horizon::runtime::cuda
