// The schedule executor's state, shared by its files: schedule_executor.cpp
// (streams, copies, the step), schedule_executor_validate.cpp (memory and
// validation), schedule_executor_launch.cpp (stage launches) and
// schedule_executor_update.cpp (gradient norm and AdamW). Everything here is
// resolved once at construction, so a step only runs instructions.
#pragma once

#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/cpu/stage_executor.h"
#include "runtime/emulated_streams.h"
#include "runtime/schedule_executor.h"

namespace horizon::runtime {

struct FreeBlock {
  void operator()(char* p) const { std::free(p); }
};
using MemoryBlock = std::unique_ptr<char, FreeBlock>;

/// A launch or recompute with its operands resolved to the stage's values.
struct LaunchPlan {
  const ir::Stage* stage = nullptr;
  CpuStageExecutor* executor = nullptr;
  const ir::ArenaPlan* arena_plan = nullptr;
  int region = -1;
  std::vector<int64_t> slot_offsets;  // per parameter: elements into the slot (and into the gradient)
  int64_t slot_elements = 0, region_elements = 0;
  ir::Range weights, grad, grad_tied, arena;
  std::vector<ir::Range> inputs, outputs;  // per Stage::inputs / Stage::outputs
};

/// An optimizer_step: the region it updates and the slabs holding its gradient.
struct UpdatePlan {
  int region = -1;
  ir::Range grad, grad_tied;  // grad_tied.buffer < 0 when the region has no tied tensor
};

struct ScheduleExecutor::Impl {
  Impl(const ir::Schedule& schedule, const ir::Module& graph, HostStore& store, const AdamWConfig& adamw, float clip);

  ir::Schedule schedule;
  const ir::Module& graph;
  HostStore& store;
  AdamWOptimizer optimizer;
  float clip = 0, lr = 0;
  int64_t micro_batches = 1, mb_batch = 0, seq = 0;

  // Memory: one block per schedule buffer (null for %store, which is the HostStore).
  std::vector<MemoryBlock> blocks;
  int store_buffer = -1, tokens_buffer = -1, targets_buffer = -1, loss_buffer = -1;
  int64_t store_bytes_per_param = 0;
  std::vector<int64_t> store_offsets;  // per region: its byte offset in %store
  int64_t host_allocated = 0, device_allocated = 0;

  // The program, resolved.
  std::vector<std::vector<int>> programs;  // per stream: instruction indices in program order
  std::map<int, LaunchPlan> launches;      // by instruction index
  std::map<int, UpdatePlan> updates;       // by instruction index
  std::vector<const UpdatePlan*> update_of_region;
  std::map<std::string, std::unique_ptr<CpuStageExecutor>> executors;  // by stage name
  std::vector<std::string> wait_names;  // by instruction index: how a deadlock report names a wait
  std::vector<int64_t> tied_offset;     // per tensor: elements into its binder's tied gradient, -1 if untied
  bool has_grad_norm = false;

  // Emulation scratch (what a GPU does in registers or epilogues), allocated once.
  std::vector<float> weights_fp32;  // a launch's weights widened from bf16
  std::vector<float> grad_partial;  // an accumulating launch's gradient before it is added
  std::vector<float> tied_sum;      // a tied tensor's two gradient parts added
  std::vector<double> tensor_squares;
  float grad_scale = 1.0f;

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

  // schedule_executor.cpp
  void allocate();
  void validate();
  std::string where(int index) const;
  char* at(const ir::Range& r) const;
  void run_stream(int stream);
  void copy(int index, StreamStats& stats);

  // schedule_executor_launch.cpp
  LaunchPlan prepare_launch(int index);
  void launch(int index, StreamStats& stats);

  // schedule_executor_update.cpp
  UpdatePlan prepare_update(int index);
  void prepare_tied();
  const float* tensor_gradient(int tensor, const UpdatePlan& u, float* sum_scratch);
  void grad_norm(int index);
  void optimizer_step(int index);
  double norm_of_last_step() const;
};

}  // namespace horizon::runtime
