// The GPU half of training progress, as text: per step the measured step
// time, compute busy share, PCIe rates, CPU optimizer share and host RSS
// next to the planner's prediction; at the end their mean over the steady
// steps. The caller (the CLI) decides when to print; the planner's numbers
// come in from it, so the runtime needs no planner.
#pragma once

#include <cstdint>
#include <string>

#include "runtime/cuda/cuda_schedule_executor.h"

namespace horizon::runtime::cuda {

class CudaStepReport {
 public:
  /// What the planner predicted for one step (zeros: no prediction).
  struct Prediction {
    double step_seconds = 0;
    double compute_share = 0;  // compute stream busy over the step
  };

  explicit CudaStepReport(Prediction predicted) : predicted_(predicted) {}

  /// Counts step `step` (1-based) toward the mean. The first step loads
  /// modules and warms caches, so it is left out unless it is the only one.
  void add(int64_t step, int64_t total_steps, const CudaStepMeasurements& m);
  /// "gpu: step 3.10 ms (planned 2.20) | compute busy 61% (planned 70%) | H2D 20.1 GB/s, D2H 19.0 GB/s |
  /// CPU optimizer busy 12% | host RSS 1.20 GiB"
  std::string line(const CudaStepMeasurements& m) const;
  /// "gpu mean of 19 steady steps: ..."; empty before any step was counted.
  std::string summary() const;

 private:
  Prediction predicted_;
  int64_t steady_ = 0;
  double seconds_ = 0, compute_ = 0, h2d_ = 0, d2h_ = 0, cpu_ = 0;  // sums over the steady steps
};

}  // namespace horizon::runtime::cuda
