// How long each schedule instruction takes on a Machine. Kernels are costed
// from the graph IR stage they run, at the per-launch shape (batch /
// micro_batches sequences of `seq` tokens): GEMMs and attention by FLOPs at
// the GEMM rate, everything else by the bytes it reads and writes at the
// elementwise rate, plus a launch overhead per kernel. Transfers are bytes;
// their duration depends on what else crosses the link at the same time,
// which only the simulator knows, so they are returned as bytes on a lane.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "ir/module.h"
#include "ir/param_layout.h"
#include "ir/schedule.h"
#include "plan/machine.h"

namespace horizon::plan {

/// What an instruction occupies while it runs.
enum class Resource {
  none,      // record, wait, bind, free: no time of its own
  gpu,       // kernels and device copies, `seconds`
  h2d_link,  // `bytes` host -> GPU
  d2h_link,  // `bytes` GPU -> host
  cpu,       // optimizer and norm, `seconds`
};

struct InstrCost {
  Resource resource = Resource::none;
  double seconds = 0;  // gpu, cpu
  double bytes = 0;    // links: bytes moved; gpu and cpu copies: bytes touched
  double gemm_flops = 0;
};

/// One launch of a graph stage on one micro-batch.
struct StageCost {
  double gemm_flops = 0;    // GEMMs and attention
  double gemm_seconds = 0;  // each at max(FLOPs / GEMM rate, bytes / memory bandwidth)
  double memory_bytes = 0;  // bytes read and written by the other kernels
  double memory_seconds = 0;
  int64_t kernels = 0;  // a fused elementwise group is one kernel
  double overhead_seconds = 0;
  double seconds() const { return gemm_seconds + memory_seconds + overhead_seconds; }
};

/// `sequences` sequences of `seq` tokens through `stage`.
StageCost stage_cost(const ir::Stage& stage, int64_t sequences, int64_t seq, const Machine& m);

class CostModel {
 public:
  /// `graph` must be lowered (it has the .bwd stages the schedule launches).
  CostModel(const ir::Module& graph, const ir::ScheduleConfig& config, const Machine& machine);

  /// UserError if a launch names a stage the graph does not have.
  InstrCost cost(const ir::SchedInstr& in) const;

  const Machine& machine() const { return machine_; }
  /// Sequences one launch processes: batch / micro_batches.
  int64_t sequences_per_launch() const { return sequences_; }

 private:
  const StageCost& launch_cost(const std::string& stage) const;
  double step_params(const ir::SchedInstr& in) const;

  const ir::Module& graph_;
  Machine machine_;
  int64_t sequences_ = 1, seq_ = 1;
  ir::ParamLayout layout_;
  mutable std::map<std::string, StageCost> stages_;
};

}  // namespace horizon::plan
