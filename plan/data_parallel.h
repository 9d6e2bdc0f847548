// `horizon plan --gpus N --hosts H`: what data parallelism over N GPUs per
// host and H hosts does to one GPU's planned step. Every GPU runs the
// single-GPU schedule on its own batch (--batch is per GPU); on top:
//  - each step's fp32 gradient is reduce-scattered over the R = N x H ranks
//    (NCCL ring: every rank sends (R-1)/R of its input), the layers
//    resident on the GPU are sharded and all-gathered (bf16) per use, once
//    for forward and once for backward (ZeRO-3);
//  - the N GPUs of a host stream the weights from one shared host store,
//    so the host's memory serves N GPUs' PCIe traffic;
//  - per host, the bf16 weights are whole (every GPU streams all of them)
//    while the master's low halves and the moments are split over the
//    hosts; per-process host buffers count N times, a gradient slab holds
//    only its rank's shard.
// The prediction is conservative where it simplifies: a rank's gradient
// offload and its optimizer work are taken at one GPU's size.
#pragma once

#include <cstdint>

#include "ir/module.h"
#include "ir/schedule.h"
#include "plan/machine.h"
#include "plan/memory_table.h"

namespace horizon::plan {

struct ParallelShape {
  int64_t gpus = 1;  // per host
  int64_t hosts = 1;
  int64_t ranks() const { return gpus * hosts; }
};

/// The ring's bandwidth per rank and direction, GB/s: the GPU link inside
/// one host; across hosts the slower of it and a host's network (each host
/// boundary is crossed by every ring channel, one per NIC). UserError naming
/// the machine and field when the description lacks a link it needs.
double collective_gbps(const Machine& machine, const ParallelShape& shape);

/// Seconds of a ring reduce-scatter of `bytes` per rank (each rank keeps
/// bytes / ranks), or of a ring all-gather whose result is `bytes`: each
/// rank sends (ranks - 1) / ranks of `bytes`. 0 for one rank.
double ring_seconds(double bytes, int64_t ranks, double gbps);

struct ParallelStep {
  double gradient_bytes = 0;  // reduce-scattered per rank and step (fp32, every stored parameter)
  double gathered_bytes = 0;  // all-gathered per rank and step (bf16 resident weights, twice)
  double reduce_scatter_seconds = 0, all_gather_seconds = 0;
  double tail_seconds = 0;            // the last gradient's reduce-scatter: nothing left to overlap it
  double host_streaming_seconds = 0;  // a host's N GPUs' PCIe bytes at the host's memory rate (N > 1)
  double step_seconds = 0;
};

/// The step of one rank: the single-GPU `one_gpu_seconds` (of `s`,
/// simulated with h2d/d2h bytes `pcie_bytes`), or the collectives or the
/// host's memory when they take longer (they run beside compute), plus the
/// tail. One rank: exactly `one_gpu_seconds`.
ParallelStep parallel_step(const ir::Schedule& s, const ir::Module& graph, const Machine& machine,
                           const ParallelShape& shape, double one_gpu_seconds, double pcie_bytes);

/// One GPU's table as each GPU's: resident planes split over the ranks,
/// plus the buffers the gathers and the reduce-scatter need.
MemoryTable gpu_memory_per_gpu(const MemoryTable& one_gpu, const ir::Schedule& s, const ir::Module& graph,
                               const ParallelShape& shape);
/// One GPU's host table as each host's.
MemoryTable host_memory_per_host(const MemoryTable& one_gpu, const ParallelShape& shape);

}  // namespace horizon::plan
