#include "cli/cuda_training.h"

#include <algorithm>
#include <cstdio>

#include "support/error.h"
#include "support/numbers.h"
#ifdef HORIZON_HAVE_CUDA
#include "plan/machine.h"
#include "plan/simulator.h"
#include "runtime/cuda/cuda_evaluator.h"
#include "runtime/cuda/cuda_step.h"
#include "runtime/cuda/cuda_step_report.h"
#include "runtime/cuda/cuda_step_trace.h"
#endif

namespace horizon::cli {

CudaReport::~CudaReport() = default;

#ifdef HORIZON_HAVE_CUDA
namespace {

/// Prints the GPU metrics under the progress lines (on the same cadence),
/// their mean at the end, and writes the last step's trace.
class GpuReport final : public CudaReport {
 public:
  GpuReport(runtime::cuda::CudaStep& backend, const ir::Module& model, int64_t total_steps, std::string trace)
      : backend_(backend), report_(prediction(backend, model)), total_(total_steps), trace_(std::move(trace)) {}

  void step(const runtime::StepMetrics& s, Progress& progress) override {
    const runtime::cuda::CudaStepMeasurements& m = backend_.executor().last_step();
    last_step_ = s.step;
    report_.add(s.step, total_, m);
    const int64_t every = std::max<int64_t>(1, total_ / 20);
    if (s.step != 1 && s.step % every != 0 && s.step != total_) return;
    progress.finish();
    std::printf("  %s\n", report_.line(m).c_str());
    std::fflush(stdout);
  }

  void finish() override {
    if (std::string summary = report_.summary(); !summary.empty()) std::printf("%s\n", summary.c_str());
    if (trace_.empty() || last_step_ == 0) return;
    const runtime::cuda::CudaScheduleExecutor& e = backend_.executor();
    runtime::cuda::write_cuda_trace(
        trace_, e.schedule(), e.last_step(),
        "step " + std::to_string(last_step_) + " of " + e.schedule().model + " on " + e.device_description());
    std::printf("wrote the measured timeline of step %lld to %s\n", static_cast<long long>(last_step_), trace_.c_str());
  }

 private:
  // The planner's simulation of the same schedule on the reference box.
  static runtime::cuda::CudaStepReport::Prediction prediction(runtime::cuda::CudaStep& backend,
                                                              const ir::Module& model) {
    const plan::SimResult r = plan::simulate(backend.executor().schedule(), model, plan::default_machine());
    return {r.step_seconds, r.step_seconds > 0 ? r.stream(ir::Stream::compute).busy / r.step_seconds : 0};
  }

  runtime::cuda::CudaStep& backend_;
  runtime::cuda::CudaStepReport report_;
  int64_t total_ = 0, last_step_ = 0;
  std::string trace_;
};

}  // namespace

double cuda_free_memory_bytes() { return static_cast<double>(runtime::cuda::free_device_memory()); }

std::function<std::vector<float>(const runtime::TokenBatch&)> cuda_sequence_logprobs(const ir::Module& model,
                                                                                     const runtime::HostStore& store,
                                                                                     int64_t batch, int64_t seq) {
  auto evaluator = std::make_shared<runtime::cuda::CudaEvaluator>(model, store, batch, seq);
  return [evaluator](const runtime::TokenBatch& b) { return evaluator->sequence_logprobs(b); };
}

std::unique_ptr<runtime::StepBackend> make_cuda_backend(const ir::Schedule& schedule, const ir::Module& model,
                                                        runtime::HostStore& store, const runtime::TrainConfig& cfg,
                                                        int64_t total_steps, const std::string& trace,
                                                        std::unique_ptr<CudaReport>& report) {
  std::unique_ptr<runtime::cuda::CudaStep> step = runtime::cuda::make_cuda_step(schedule, model, store, cfg);
  const runtime::cuda::CudaScheduleExecutor& e = step->executor();
  std::printf("cuda: %s | device memory %s (schedule %s + stage scratch %s) | pinned host %s\n",
              e.device_description().c_str(), format_bytes(static_cast<double>(e.device_bytes())).c_str(),
              format_bytes(static_cast<double>(e.device_bytes() - e.scratch_bytes())).c_str(),
              format_bytes(static_cast<double>(e.scratch_bytes())).c_str(),
              format_bytes(static_cast<double>(e.host_bytes() - store.bytes())).c_str());
  report = std::make_unique<GpuReport>(*step, model, total_steps, trace);
  return step;
}
#else
double cuda_free_memory_bytes() { throw UserError("horizon train: this build has no CUDA backend"); }

std::function<std::vector<float>(const runtime::TokenBatch&)> cuda_sequence_logprobs(const ir::Module&,
                                                                                     const runtime::HostStore&, int64_t,
                                                                                     int64_t) {
  throw UserError("horizon train: this build has no CUDA backend");
}

std::unique_ptr<runtime::StepBackend> make_cuda_backend(const ir::Schedule&, const ir::Module&, runtime::HostStore&,
                                                        const runtime::TrainConfig&, int64_t, const std::string&,
                                                        std::unique_ptr<CudaReport>&) {
  throw UserError("horizon train: this build has no CUDA backend");
}
#endif

}  // namespace horizon::cli
