// The CUDA schedule executor's state, shared by its files:
// cuda_schedule_executor.cpp (memory, the step), _program.cpp (copies and
// launches resolved to addresses, streams and events), _streams.cpp (the
// issuing threads, the CPU worker, measurements) and _resident.cpp (layers
// kept and updated on the GPU). Everything is created at
// construction; a step only enqueues work and runs the host updates.
#pragma once

#include <cuda_runtime.h>

#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "runtime/cuda/cuda_schedule_executor.h"
#include "runtime/cuda/cuda_stage_executor.h"
#include "runtime/cuda/device_memory.h"
#include "runtime/cuda/device_optimizer.h"
#include "runtime/cuda/gradient_cast.h"
#include "runtime/cuda/pinned_memory.h"
#include "runtime/emulated_streams.h"
#include "runtime/host_updates.h"
#include "runtime/resolved_schedule.h"
#include "runtime/update_tail.h"

namespace horizon::runtime::cuda {

/// A cudaStream_t destroyed with its owner.
class OwnedStream {
 public:
  OwnedStream() = default;
  explicit OwnedStream(const std::string& what);
  ~OwnedStream();
  OwnedStream(OwnedStream&& o) noexcept : stream_(std::exchange(o.stream_, nullptr)) {}
  OwnedStream& operator=(OwnedStream&& o) noexcept {
    std::swap(stream_, o.stream_);
    return *this;
  }
  OwnedStream(const OwnedStream&) = delete;
  OwnedStream& operator=(const OwnedStream&) = delete;
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

/// A cudaEvent_t destroyed with its owner; `timing` events can be measured.
class OwnedEvent {
 public:
  OwnedEvent() = default;
  OwnedEvent(bool timing, const std::string& what);
  ~OwnedEvent();
  OwnedEvent(OwnedEvent&& o) noexcept : event_(std::exchange(o.event_, nullptr)) {}
  OwnedEvent& operator=(OwnedEvent&& o) noexcept {
    std::swap(event_, o.event_);
    return *this;
  }
  OwnedEvent(const OwnedEvent&) = delete;
  OwnedEvent& operator=(const OwnedEvent&) = delete;
  cudaEvent_t get() const { return event_; }

 private:
  cudaEvent_t event_ = nullptr;
};

/// One src -> dst pair of a copy instruction, as addresses.
struct CopyPlan {
  void* dst = nullptr;
  const void* src = nullptr;
  size_t bytes = 0;
};

/// A launch or recompute resolved to device pointers.
struct DeviceLaunch {
  CudaStageExecutor* executor = nullptr;
  DeviceStageBindings bindings;
  // A first micro-batch overwrites its gradient accumulator; the slices of
  // parameters the stage computes no gradient for still hold the previous
  // layer's, so they are cleared (as the emulated executor clears them).
  std::vector<std::pair<void*, size_t>> clears;
  // Stage kernels want 16-byte aligned operands, but a micro-batch's loss
  // is one float of %loss: it lands in an aligned slot and is copied home.
  std::vector<CopyPlan> after;
};

struct CudaScheduleExecutor::Impl {
  Impl(const ir::Schedule& schedule, const ir::Module& graph, HostStore& store, const AdamWConfig& adamw, float clip);
  ~Impl();

  ResolvedSchedule plan;
  HostStore& store;
  int device = 0;
  std::string description;
  bool timing = true;

  // Memory, per schedule buffer: device memory for GPU buffers, pinned host
  // memory for host buffers; %store is the HostStore, its weight planes pinned.
  std::vector<DeviceMemory> device_buffers;
  std::vector<PinnedBuffer> host_buffers;
  std::vector<PinnedRange> store_pins;  // per region: its w_hi plane
  PinnedBuffer batch_staging;           // tokens, targets, then the loss count: the step's batch on its way in
  DeviceMemory loss_count;              // int: the step's targets >= 0, what every micro-batch's loss divides by
  PinnedBuffer loss_host;               // %loss on its way out
  PinnedBuffer logps_host;              // a DPO step's %logps on its way out
  DeviceMemory scalar_landing;          // aligned landing slot of scalar outputs (see DeviceLaunch::after)
  int64_t device_allocated = 0, host_allocated = 0, scratch = 0;

  std::map<std::pair<std::string, int>, std::unique_ptr<CudaStageExecutor>> executors;  // by (stage, stream)
  std::unique_ptr<HostUpdates> updates;

  // Resident regions (passes/place_resident.h): their planes live in
  // %resident from construction on, copied back to the store by
  // finish_updates; the compute stream measures and updates them.
  // bf16 gradient offload (config.bf16_gradients): the cast before each offload.
  std::unique_ptr<GradientCast> gradient_cast;
  std::unique_ptr<DeviceOptimizer> device_optimizer;
  DeviceMemory norm_landing;  // a GPU grad_norm's per-tensor sums on their way to host memory
  // 8-bit moments: the resident regions' block scales (not in %resident, whose
  // planes the schedule sizes in whole bytes per parameter), and where each
  // region's m scales begin in it (its v scales follow).
  DeviceMemory resident_scales;
  std::map<int, int64_t> resident_scale_offset;
  std::map<int, std::vector<std::pair<int64_t, int64_t>>>
      norm_spans;           // per GPU grad_norm: (offset, elements) per tensor
  float device_lr = 0;      // the learning rate and step count of the step being issued,
  int64_t device_step = 0;  // fixed before its threads start (the cpu stream moves the store's on)

  // Deferred updates (runtime/update_tail.h): the cpu stream's program up to
  // and including its grad_norm runs in the step; the optimizer_steps after
  // it (`tail_instrs`) run on `tail` while the next step begins, and a
  // stream_in waits for the previous step's update of the regions it reads.
  std::unique_ptr<UpdateTail> tail;
  std::vector<int> tail_instrs;
  std::map<int, std::vector<int>> regions_read;  // per stream_in: the store regions it copies from
  bool overlap_updates = true;
  int64_t step_index = 0;  // steps started by this executor
  float step_lr = 0;       // the learning rate of the step being started

  // The program resolved to addresses, by instruction index.
  std::map<int, std::vector<CopyPlan>> copies;
  std::map<int, DeviceLaunch> launches;
  std::array<int64_t, 3> copy_bytes{};  // per direction (h2d, d2h, d2d) over one step's copies

  // Streams and events. The schedule's events are recorded once per step;
  // `issued` is their host-side handshake: a GPU stream marks an event once
  // it has enqueued its cudaEventRecord (the cpu stream once its work is
  // done), so a waiter never waits on an event not yet enqueued this step.
  std::array<OwnedStream, 3> streams;            // indexed by ir::Stream: compute, h2d, d2h
  std::vector<OwnedEvent> events;                // per schedule event
  std::vector<int> recorder;                     // per schedule event: the stream recording it, -1 if none
  std::vector<OwnedEvent> span_begin, span_end;  // per instruction, timing events where it can be timed
  std::vector<char> span_recorded;               // per instruction: its span events were recorded this step
  OwnedEvent step_begin, step_end;
  std::array<OwnedEvent, 3> stream_done;  // per GPU stream: its last instruction of the step
  EmulatedEvents issued;
  std::unique_ptr<StreamWorkers> workers;
  // Host times of the cpu stream's instructions, seconds since `epoch`: the
  // latest run of each, written by the thread that ran it (a tail runs into
  // the next step, so spans are matched to a step's window when measured).
  std::chrono::steady_clock::time_point epoch;
  double host_begin = 0;  // when step_begin was enqueued
  std::unique_ptr<std::atomic<double>[]> cpu_start, cpu_end;
  CudaStepMeasurements last;

  // cuda_schedule_executor.cpp
  void describe_device();
  void check_streams();
  void allocate();
  char* address(const ir::Range& r) const;
  void finish_step();
  void plan_tail();
  double host_now() const;

  // cuda_schedule_executor_program.cpp
  void resolve_copies();
  void resolve_launches();
  void create_events();

  // cuda_schedule_executor_streams.cpp
  void run_stream(int stream);
  void issue_gpu(int index, cudaStream_t stream);
  void run_cpu(int index);
  void run_cpu_program();
  void measure();
  void add_deferred_spans();

  // cuda_schedule_executor_resident.cpp
  void prepare_resident();
  void copy_resident(bool to_device, bool weights_only = false);
  void save_resident(bool weights_only);
  void issue_device_norm(int index, cudaStream_t stream);
  void issue_device_update(int index, cudaStream_t stream);
};

inline bool is_gpu_stream(int stream) { return stream != static_cast<int>(ir::Stream::cpu); }

}  // namespace horizon::runtime::cuda
