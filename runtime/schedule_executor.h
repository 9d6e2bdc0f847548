// Executes a schedule IR program on the CPU with the device emulated: every
// GPU buffer of the schedule is host memory allocated once, each stream is a
// thread running its instructions in program order, events are condition
// variables, and launches run the graph-IR stages through the CPU stage
// executor with weights read from the slot and every transient at its arena
// offset. It runs the very program a GPU would, so the streaming logic —
// slots, prefetch, checkpoints, offloads, deferred updates — is tested on
// every machine, and its result must equal the unstreamed step bit for bit.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>

#include "ir/module.h"
#include "ir/schedule.h"
#include "runtime/gradient_sink.h"
#include "runtime/host_store.h"
#include "runtime/optimizer.h"
#include "runtime/trainer.h"

namespace horizon::runtime {

/// What the last step did, for tests and the planner's cost model.
struct ExecutorMeasurements {
  /// Highest arena byte any placed transient reached (offset + planned size).
  int64_t arena_high_water = 0;
  std::array<double, ir::kNumStreams> busy_seconds{};   // per stream, waits excluded
  int64_t h2d_bytes = 0, d2h_bytes = 0, d2d_bytes = 0;  // by the places of source and destination
  double loss = 0;                                      // mean over micro-batches
  double grad_norm = 0;                                 // global norm of the mean gradient, before clipping
};

class ScheduleExecutor {
 public:
  /// `lowered` is the graph the schedule was compiled from (passes::lower'd);
  /// `store` must be laid out from it. Validates every instruction (operand
  /// ranges inside their buffers and of the sizes their stage implies, known
  /// stages, events and arena plans) and throws UserError naming the first
  /// bad one. `clip` is the global-norm threshold, used when the schedule
  /// clips (config.clip); 0 computes the norm but does not clip.
  ScheduleExecutor(const ir::Schedule& schedule, const ir::Module& lowered, HostStore& store, const AdamWConfig& adamw,
                   float clip = 1.0f);
  ~ScheduleExecutor();
  ScheduleExecutor(const ScheduleExecutor&) = delete;
  ScheduleExecutor& operator=(const ScheduleExecutor&) = delete;

  void set_learning_rate(float lr);
  /// Non-null: steps hand every tensor's gradient to `sink` and leave the
  /// store unchanged (see gradient_sink.h); null: steps train.
  void set_gradient_sink(GradientSink* sink);
  /// Steps divide every micro-batch's loss by `count` instead of their own
  /// batch's targets >= 0 (pairs, for DPO): a data-parallel rank runs its
  /// share of a step whose mean is over every rank's batch. 0, the default,
  /// counts the step's own batch.
  void set_loss_count(int64_t count);
  /// A deadlock (every running stream waiting for an event nobody will
  /// record) fails the step at once, naming the blocked waits. This bounds
  /// any single wait on top (a safety net); zero, the default, does not.
  void set_wait_timeout(std::chrono::milliseconds timeout);

  /// Runs one whole step — every micro-batch forward and backward, then the
  /// updates — on config.batch x config.seq tokens and targets. Returns the
  /// loss: the mean over the step's targets >= 0. A failed step leaves the store partly
  /// updated. The first step copies resident regions (%resident) from the
  /// store; from then on their home is (emulated) GPU memory.
  /// With packed documents (a schedule of a model lowered with
  /// packed_documents) `positions` and `segments` are the batch's; null
  /// gives whole rows.
  float step(const int32_t* tokens, const int32_t* targets, const int32_t* positions = nullptr,
             const int32_t* segments = nullptr, const float* reference = nullptr);
  /// A DPO schedule's per-row policy log-probabilities of the last step ([batch]); empty otherwise.
  std::vector<float> last_logprobs() const;
  /// Copies resident regions' planes back into the store; call before
  /// reading the store. Nothing to do when every region streams.
  void finish_updates();

  const ExecutorMeasurements& last_step() const;
  /// Host memory: the schedule's host buffers as allocated plus the store.
  int64_t host_bytes() const;
  /// Emulated device memory: the schedule's GPU buffers as allocated.
  int64_t device_bytes() const;
  const ir::Schedule& schedule() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

/// A Trainer backend that runs each step through a ScheduleExecutor. The
/// schedule fixes batch, seq and micro-batches; `config` gives AdamW and clip.
std::unique_ptr<StepBackend> make_streamed_step(const ir::Schedule& schedule, const ir::Module& lowered,
                                                HostStore& store, const TrainConfig& config);

}  // namespace horizon::runtime
