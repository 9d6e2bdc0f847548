// The GPU side of `horizon train`: the CUDA backend, built with its memory
// printed, and the GPU metrics printed under the progress lines (per-step
// lines, their mean at the end, the last step's trace). Without the CUDA
// toolkit at build time make_cuda_backend refuses with a UserError.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "cli/progress.h"
#include "ir/module.h"
#include "ir/schedule.h"
#include "runtime/host_store.h"
#include "runtime/trainer.h"

namespace horizon::cli {

class CudaReport {
 public:
  virtual ~CudaReport();
  virtual void step(const runtime::StepMetrics& s, Progress& progress) = 0;
  virtual void finish() = 0;
};

/// DPO's reference pass on the GPU: each row's log-probability of a batch of
/// `batch` x `seq` under the store's current weights (runtime/cuda/cuda_evaluator.h).
std::function<std::vector<float>(const runtime::TokenBatch&)> cuda_sequence_logprobs(const ir::Module& model,
                                                                                     const runtime::HostStore& store,
                                                                                     int64_t batch, int64_t seq);

/// Free memory of the current CUDA device, what resident layers may fill.
double cuda_free_memory_bytes();

/// The CUDA step of `schedule`; `report` receives its metrics printer.
std::unique_ptr<runtime::StepBackend> make_cuda_backend(const ir::Schedule& schedule, const ir::Module& model,
                                                        runtime::HostStore& store, const runtime::TrainConfig& cfg,
                                                        int64_t total_steps, const std::string& trace,
                                                        std::unique_ptr<CudaReport>& report);

}  // namespace horizon::cli
