#include "plan/data_parallel.h"

#include <algorithm>
#include <string>

#include "ir/param_layout.h"
#include "support/error.h"

namespace horizon::plan {
namespace {

// Elements of each region the schedule keeps resident (updated on the GPU,
// by an optimizer_step on the compute stream).
std::vector<int64_t> resident_regions(const ir::Schedule& s, const ir::ParamLayout& layout) {
  std::vector<int64_t> elements;
  for (const ir::SchedInstr& in : s.instrs)
    if (in.op == ir::SchedOp::optimizer_step && in.stream == ir::Stream::compute)
      if (int r = layout.region_of(in.stage, in.instance); r >= 0)
        elements.push_back(layout.regions[static_cast<size_t>(r)].elements);
  return elements;
}

}  // namespace

double collective_gbps(const Machine& machine, const ParallelShape& shape) {
  auto need = [&](double value, const char* field, const char* what) {
    if (value > 0) return value;
    throw UserError("machine " + machine.name + " has no \"" + field + "\" (" + what +
                    ", GB/s per GPU and direction): add it to the machine description to plan several " +
                    (shape.hosts > 1 ? "hosts" : "GPUs"));
  };
  double gbps = need(machine.gpu_link_gbps, "gpu_link_gbps", "NVLink, or PCIe peer to peer without it");
  if (shape.hosts > 1) gbps = std::min(gbps, need(machine.network_gbps, "network_gbps", "a host's network links"));
  return gbps;
}

double ring_seconds(double bytes, int64_t ranks, double gbps) {
  if (ranks <= 1) return 0;
  return bytes * static_cast<double>(ranks - 1) / static_cast<double>(ranks) / (gbps * 1e9);
}

ParallelStep parallel_step(const ir::Schedule& s, const ir::Module& graph, const Machine& machine,
                           const ParallelShape& shape, double one_gpu_seconds, double pcie_bytes) {
  ParallelStep p;
  p.step_seconds = one_gpu_seconds;
  const int64_t R = shape.ranks();
  if (R <= 1) return p;
  const double gbps = collective_gbps(machine, shape);
  const ir::ParamLayout layout = ir::layout_params(graph);
  p.gradient_bytes = 4.0 * static_cast<double>(stored_params(graph));
  for (int64_t n : resident_regions(s, layout)) p.gathered_bytes += 2 * 2.0 * static_cast<double>(n);
  p.reduce_scatter_seconds = ring_seconds(p.gradient_bytes, R, gbps);
  p.all_gather_seconds = ring_seconds(p.gathered_bytes, R, gbps);
  // The backward ends with the embedding's gradient (region 0): its
  // reduce-scatter has no compute left to hide behind, and the global norm
  // — hence every update — waits for it.
  if (!layout.regions.empty())
    p.tail_seconds = ring_seconds(4.0 * static_cast<double>(layout.regions[0].elements), R, gbps);
  if (shape.gpus > 1)
    p.host_streaming_seconds = static_cast<double>(shape.gpus) * pcie_bytes / (machine.host_memory_gbps * 1e9);
  p.step_seconds =
      std::max({one_gpu_seconds, p.reduce_scatter_seconds + p.all_gather_seconds, p.host_streaming_seconds}) +
      p.tail_seconds;
  return p;
}

MemoryTable gpu_memory_per_gpu(const MemoryTable& one_gpu, const ir::Schedule& s, const ir::Module& graph,
                               const ParallelShape& shape) {
  const int64_t R = shape.ranks();
  MemoryTable t = one_gpu;
  t.title = "GPU memory, per GPU";
  if (R <= 1) return t;
  t.total = 0;
  const ir::ParamLayout layout = ir::layout_params(graph);
  const std::vector<int64_t> resident = resident_regions(s, layout);
  double resident_elements = 0, largest_resident = 0;
  for (int64_t n : resident) {
    resident_elements += static_cast<double>(n);
    largest_resident = std::max(largest_resident, static_cast<double>(n));
  }
  const std::string share = "1/" + std::to_string(R);
  for (MemoryLine& l : t.lines) {
    if (l.what == "resident layers (planes)") {
      l.bytes /= static_cast<double>(R);
      l.note = share + " on each GPU (sharded, ZeRO-3)";
    } else if (l.what == "gradients (fp32)" && resident_elements > 0) {
      // Resident layers keep their gradient on the GPU: each rank its shard.
      const double sharded = 4 * resident_elements;
      l.bytes = l.bytes - sharded + sharded / static_cast<double>(R);
      l.note = "resident layers' " + share;
    }
    t.total += l.bytes;
  }
  auto add = [&](const std::string& what, double bytes, const std::string& note) {
    t.lines.push_back({what, bytes, note});
    t.total += bytes;
  };
  if (largest_resident > 0) {
    add("resident gather buffers (bf16)", 2 * 2 * largest_resident, "the layer in use and the next, whole");
    add("resident layer gradient (fp32)", 4 * largest_resident, "whole until its reduce-scatter");
  }
  add("reduce-scatter output (fp32)", 4.0 * static_cast<double>(layout.max_region_elements()) / static_cast<double>(R),
      "the largest layer's gradient / " + std::to_string(R));
  return t;
}

MemoryTable host_memory_per_host(const MemoryTable& one_gpu, const ParallelShape& shape) {
  MemoryTable t = one_gpu;
  t.title = "host memory, per host";
  if (shape.ranks() <= 1) return t;
  t.total = 0;
  const double N = static_cast<double>(shape.gpus), H = static_cast<double>(shape.hosts);
  for (MemoryLine& l : t.lines) {
    if (l.what == "bf16 weights (w_hi)") {
      // Every GPU streams all of them: whole on every host.
    } else if (l.what == "fp32 master low halves (w_lo)" || l.what == "Adam moments (m, v)" ||
               l.what == "8-bit moment scales" || l.what == "host store") {
      if (shape.hosts > 1) {
        l.bytes /= H;
        l.note = "1/" + std::to_string(shape.hosts) + " on each host";
      }
    } else if (l.what == "pinned gradient slabs (fp32)") {
      // N processes, each with its rank's shard of every slab.
      l.bytes *= N / static_cast<double>(shape.ranks());
      l.note = std::to_string(shape.gpus) + " processes x 1/" + std::to_string(shape.ranks()) + " shard";
    } else {
      l.bytes *= N;  // one per process (GPU)
      l.note = std::to_string(shape.gpus) + " processes";
    }
    t.total += l.bytes;
  }
  return t;
}

}  // namespace horizon::plan
