// Executes a schedule IR program on a real GPU: the same program, operand
// roles and host-side updates as the emulated executor (schedule_executor.h),
// with every GPU buffer in device memory, copies as cudaMemcpyAsync between
// pinned host memory and the device, launches through CudaStageExecutor and
// the schedule's events as CUDA events. Memory, streams, events and stage
// executors are all created when the executor is built; a step allocates
// nothing and synchronizes with the host once, for the loss at its end.
//
// This header names no CUDA type, so code built without the CUDA headers
// (the trainer, the CLI) can hold an executor behind HORIZON_HAVE_CUDA.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ir/module.h"
#include "ir/schedule.h"
#include "runtime/gradient_sink.h"
#include "runtime/host_store.h"
#include "runtime/optimizer.h"

namespace horizon::runtime::cuda {

/// When an instruction ran, in seconds since the step began on the GPU; for a
/// wait, the time it held its stream. start < 0: not timed (record, bind,
/// free, or timing off).
struct InstrSpan {
  double start = -1, end = -1;
};

/// What the last step did, measured with CUDA events (GPU streams) and the
/// host clock (the cpu stream).
struct CudaStepMeasurements {
  double loss = 0;                                     // mean over micro-batches
  double grad_norm = 0;                                // global norm of the mean gradient, before clipping
  double step_seconds = 0;                             // GPU timeline: the step's first to last event
  std::array<double, ir::kNumStreams> busy_seconds{};  // per stream: its instructions' spans, waits excluded
  int64_t h2d_bytes = 0, d2h_bytes = 0, d2d_bytes = 0;
  std::vector<InstrSpan> spans;  // per schedule instruction

  double busy_share(ir::Stream s) const;
  /// Bytes over the busy time of the stream that moved them, in GB/s (1e9 B).
  double h2d_gbps() const;
  double d2h_gbps() const;
};

class CudaScheduleExecutor {
 public:
  /// Runs on the current CUDA device. `lowered` is the graph the schedule was
  /// compiled from and `store` is laid out from it; both must outlive the
  /// executor, which pins the store's bf16 weight planes until it is
  /// destroyed. Validates the schedule like ScheduleExecutor (UserError
  /// naming the instruction) and also requires copies and launches on GPU
  /// streams and the norm and updates on the cpu stream (a resident
  /// region's on compute). `clip` is the global-norm threshold when the
  /// schedule clips; 0 measures without clipping. CudaError when the device
  /// cannot provide the memory. Resident regions' planes are copied from the
  /// store to the device here and live there until finish_updates (or
  /// finish_weights) copies them back.
  CudaScheduleExecutor(const ir::Schedule& schedule, const ir::Module& lowered, HostStore& store,
                       const AdamWConfig& adamw, float clip = 1.0f);
  ~CudaScheduleExecutor();
  CudaScheduleExecutor(const CudaScheduleExecutor&) = delete;
  CudaScheduleExecutor& operator=(const CudaScheduleExecutor&) = delete;

  /// The learning rate of the next step() (its updates may run after it returns).
  void set_learning_rate(float lr);
  /// With clipping, the updates after the gradient norm run while the next
  /// step begins (runtime/update_tail.h); on by default. Off runs them inside
  /// the step, as a baseline with the same results.
  void set_overlap_updates(bool on);
  /// Blocks until every update of the steps run so far is in the store;
  /// call before reading the store (validation, checkpoints). Rethrows a
  /// failure of those updates. last_step() then also has the spans of the
  /// last step's deferred updates (after its window; not in its busy time).
  void finish_updates();
  /// The same for the store's bf16 weight planes only (what validation
  /// reads): resident layers' other planes stay behind until
  /// finish_updates. Copies 2 of their 8 bytes per parameter, from pinned memory.
  void finish_weights();
  /// Non-null: steps hand every tensor's gradient to `sink` and leave the
  /// store unchanged (see gradient_sink.h); null: steps train. Deferred
  /// updates hand theirs over after step() returns: call finish_updates()
  /// before reading what the sink received.
  void set_gradient_sink(GradientSink* sink);
  /// Events around every instruction (spans, busy times, the trace); on by
  /// default. Off leaves only the step time.
  void set_timing(bool on);

  /// One whole step on config.batch x config.seq tokens and targets (host
  /// memory); returns the mean micro-batch loss once the GPU finished it and
  /// the gradient norm is known. The updates may still be running (see
  /// set_overlap_updates); the next step's weight copies wait for them. A
  /// failed step leaves the store partly updated and the streams idle.
  /// With packed documents (a schedule of a model lowered with
  /// packed_documents) `positions` and `segments` are the batch's; null
  /// gives whole rows.
  float step(const int32_t* tokens, const int32_t* targets, const int32_t* positions = nullptr,
             const int32_t* segments = nullptr, const float* reference = nullptr);
  /// A DPO schedule's per-row policy log-probabilities of the last step ([batch]); empty otherwise.
  std::vector<float> last_logprobs() const;

  const CudaStepMeasurements& last_step() const;
  /// Device memory: the schedule's GPU buffers plus scratch_bytes().
  int64_t device_bytes() const;
  /// The stage executors' scratch (GEMM workspaces, bf16 operand copies),
  /// plus 16 bytes where a scalar output needs an aligned landing slot.
  int64_t scratch_bytes() const;
  /// Pinned host memory allocated for the schedule's host buffers and the
  /// batch, plus the store (whose weight planes are registered, not copied).
  int64_t host_bytes() const;
  const ir::Schedule& schedule() const;
  /// "NVIDIA H100 80GB HBM3 (device 0, sm_90, 79.1 GiB)".
  const std::string& device_description() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace horizon::runtime::cuda
