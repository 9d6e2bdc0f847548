// The CUDA backend of the trainer: each step runs the compiled schedule on
// the GPU through a CudaScheduleExecutor, with the host store as the model's
// home and the optimizer on the CPU. Also the device probe the CLI uses to
// pick a backend. No CUDA type appears here; the trainer and the CLI include
// this header only where HORIZON_HAVE_CUDA is defined.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "ir/module.h"
#include "ir/schedule.h"
#include "runtime/cuda/cuda_schedule_executor.h"
#include "runtime/host_store.h"
#include "runtime/trainer.h"

namespace horizon::runtime::cuda {

/// CUDA devices this process can use; 0 where there is no device or no
/// usable driver (then `why_not`, if given, says what the runtime reported).
/// Never throws and never aborts, so `--device auto` can ask anywhere.
int cuda_device_count(std::string* why_not = nullptr);

/// Free memory of the current device (cudaMemGetInfo); CudaError on failure.
int64_t free_device_memory();

/// A Trainer backend on the current CUDA device. The schedule fixes batch,
/// seq and micro-batches; `config` gives AdamW and the clip threshold.
class CudaEvaluator;

class CudaStep : public StepBackend {
 public:
  ~CudaStep() override;
  CudaStep(const ir::Schedule& schedule, const ir::Module& lowered, HostStore& store, const TrainConfig& config);

  StepResult step(const TokenBatch& batch, float lr) override;
  void finish_updates() override { executor_.finish_updates(); }
  void finish_weights() override { executor_.finish_weights(); }
  /// Validation on the GPU (a CudaEvaluator built on first use).
  bool evaluate(const std::vector<TokenBatch>& batches, double* loss) override;

  /// The executor, for its measurements and memory.
  CudaScheduleExecutor& executor() { return executor_; }

 private:
  CudaScheduleExecutor executor_;
  const ir::Module& lowered_;
  const HostStore& store_;
  std::unique_ptr<CudaEvaluator> evaluator_;
  int64_t activation_bytes_ = 0;  // residual streams, GPU checkpoints and the arena, as planned
};

std::unique_ptr<CudaStep> make_cuda_step(const ir::Schedule& schedule, const ir::Module& lowered, HostStore& store,
                                         const TrainConfig& config);

}  // namespace horizon::runtime::cuda
