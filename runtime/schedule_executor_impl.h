// The schedule executor's state, shared by its files: schedule_executor.cpp
// (memory, streams, copies, the step) and schedule_executor_launch.cpp
// (stage launches). Validation and role mapping live in ResolvedSchedule,
// the norm and AdamW in HostUpdates, both shared with the CUDA executor.
// Everything here is resolved once at construction, so a step only runs
// instructions.
#pragma once

#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/cpu/stage_executor.h"
#include "runtime/emulated_streams.h"
#include "runtime/host_updates.h"
#include "runtime/resolved_schedule.h"
#include "runtime/schedule_executor.h"

namespace horizon::runtime {

struct FreeBlock {
  void operator()(char* p) const { std::free(p); }
};
using MemoryBlock = std::unique_ptr<char, FreeBlock>;

struct ScheduleExecutor::Impl {
  Impl(const ir::Schedule& schedule, const ir::Module& graph, HostStore& store, const AdamWConfig& adamw, float clip);

  ResolvedSchedule plan;
  HostStore& store;

  // Memory: one block per schedule buffer (null for %store, which is the HostStore).
  std::vector<MemoryBlock> blocks;
  int64_t host_allocated = 0, device_allocated = 0;

  std::unique_ptr<HostUpdates> updates;
  std::map<std::string, std::unique_ptr<CpuStageExecutor>> executors;  // by stage name

  // Emulation scratch (what a GPU does in registers or epilogues), allocated once.
  std::vector<float> weights_fp32;  // a launch's weights widened from bf16
  std::vector<float> grad_partial;  // an accumulating launch's gradient before it is added

  // The process-wide ThreadPool serves one calling thread at a time, so the
  // streams take turns for work that uses it (launches, norm, AdamW).
  std::mutex pool_mu;
  EmulatedEvents events;
  std::unique_ptr<StreamWorkers> workers;

  // Per stream, written only by that stream's thread during a step.
  struct StreamStats {
    double busy = 0;
    int64_t h2d = 0, d2h = 0, d2d = 0;
    int64_t arena_high_water = 0;
  };
  std::vector<StreamStats> stream_stats;
  ExecutorMeasurements last;
  bool resident_loaded = false;  // %resident holds the store's planes of resident regions
  int64_t loss_count = 0;        // the step's targets >= 0: what every micro-batch's loss divides by
  int64_t given_loss_count = 0;  // set_loss_count's, replacing loss_count when positive

  // schedule_executor.cpp
  void allocate();
  char* at(const ir::Range& r) const;
  void run_stream(int stream);
  void copy(int index, StreamStats& stats);

  // schedule_executor_launch.cpp
  void launch(int index, StreamStats& stats);
};

}  // namespace horizon::runtime
