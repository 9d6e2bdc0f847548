// A discrete-event simulation of a training step: every stream runs its
// instructions in program order, a wait holds its stream until the matching
// record has run, and the two PCIe lanes share the link's both-directions
// capacity. It predicts the step time, where each stream idles and which
// resource bounds the step, before anything is allocated.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "ir/module.h"
#include "ir/schedule.h"
#include "plan/machine.h"

namespace horizon::plan {

/// When an instruction ran. For a wait, [start, end) is the time its stream
/// was held; record, bind and free take no time.
struct InstrTime {
  double start = 0, end = 0;
};

struct StreamUse {
  double busy = 0;  // seconds running instructions that take time
  double idle = 0;  // step time minus busy (waiting, or finished early)
};

struct SimResult {
  double step_seconds = 0;
  std::array<StreamUse, ir::kNumStreams> streams{};  // indexed by ir::Stream
  std::vector<InstrTime> times;                      // per schedule instruction
  double h2d_bytes = 0, d2h_bytes = 0;               // over PCIe
  double gemm_flops = 0;                             // GEMM and attention FLOPs of all launches
  int64_t gpu_bytes = 0, host_bytes = 0;             // every buffer, allocated once
  /// The busiest of "PCIe H2D", "PCIe D2H", "GPU compute", "CPU optimizer"
  /// (busy time over step time), "none" for an empty schedule.
  std::string bottleneck = "none";
  double bottleneck_share = 0;  // its busy fraction of the step

  const StreamUse& stream(ir::Stream s) const { return streams[static_cast<size_t>(s)]; }
};

/// Simulates `s` on `machine`; `graph` is the lowered module the schedule
/// launches. Where the schedule defers updates into the next step (with
/// clipping), the result is the steady state: the second of two
/// back-to-back steps (ir/step_pair.h), its busy times including the
/// first step's updates that run inside it. A wait that can never be satisfied (its event is never recorded,
/// or recorded only behind another blocked wait) is a UserError naming every
/// blocked stream; so is an event recorded twice.
SimResult simulate(const ir::Schedule& s, const ir::Module& graph, const Machine& machine);

}  // namespace horizon::plan
