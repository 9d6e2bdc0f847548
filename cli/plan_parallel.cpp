#include "cli/plan_parallel.h"

#include <cstdio>

#include "support/error.h"
#include "support/numbers.h"

namespace horizon::cli {

void add_parallel_options(Arguments& a) {
  a.option("gpus", "N", "GPUs per host, each running the step on its own --batch (data parallel over NCCL)", "1");
  a.option("hosts", "H", "hosts with --gpus GPUs each (the host store split over them)", "1");
}

plan::ParallelShape parallel_shape(const Arguments& a) {
  plan::ParallelShape shape{a.get_int("gpus"), a.get_int("hosts")};
  if (shape.gpus <= 0 || shape.hosts <= 0)
    throw UserError("horizon plan: --gpus and --hosts must be positive, got --gpus " + a.get("gpus") + " --hosts " +
                    a.get("hosts"));
  return shape;
}

std::string parallel_refusal(const std::string& model, const plan::ParallelShape& shape, const plan::MemoryTable& host,
                             const plan::MemoryTable& gpu) {
  std::string problem, fixes;
  if (!gpu.fits())
    problem = "GPU memory: each GPU needs " + format_bytes(gpu.total) + ", the budget is " + format_bytes(gpu.budget);
  if (!host.fits()) {
    problem += std::string(problem.empty() ? "" : "; and ") + "host memory: each host needs " +
               format_bytes(host.total) + ", the budget is " + format_bytes(host.budget);
    fixes = "more --hosts (the master halves and moments split over them), fewer --gpus per host (host checkpoints "
            "count per GPU), --moments 8bit, --early-updates with train --clip 0, or more host RAM";
  }
  if (!gpu.fits())
    fixes += std::string(fixes.empty() ? "" : "; for the GPU: ") + "--micro-batches more, or --resident 0";
  return model + " does not fit on " + std::to_string(shape.gpus) + " GPU(s) x " + std::to_string(shape.hosts) +
         " host(s): " + problem + "; to fit: " + fixes;
}

void print_parallel_step(const ir::Schedule& s, const ir::Module& graph, const plan::Machine& machine,
                         const plan::ParallelShape& shape, const plan::SimResult& one_gpu, double model_flops) {
  const int64_t R = shape.ranks();
  if (R <= 1) return;
  const double pcie = one_gpu.h2d_bytes + one_gpu.d2h_bytes;
  const plan::ParallelStep p = plan::parallel_step(s, graph, machine, shape, one_gpu.step_seconds, pcie);
  const double tokens = static_cast<double>(s.config.batch * s.config.seq);
  auto line = [](const char* what, const std::string& value) { std::printf("  %-24s %s\n", what, value.c_str()); };
  auto num = [](const char* format, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, v);
    return std::string(buf);
  };
  std::printf("\ndata parallel (predicted): %lld GPU(s) per host x %lld host(s) = %lld ranks, ring at %s GB/s per "
              "direction\n",
              static_cast<long long>(shape.gpus), static_cast<long long>(shape.hosts), static_cast<long long>(R),
              num("%.0f", plan::collective_gbps(machine, shape)).c_str());
  line("global batch", std::to_string(R * s.config.batch) + " x " + std::to_string(s.config.seq) + " (--batch " +
                           std::to_string(s.config.batch) + " per GPU)");
  line("reduce-scatter",
       format_bytes(p.gradient_bytes) + " of fp32 gradient per rank: " + num("%.4g", p.reduce_scatter_seconds) + " s");
  if (p.gathered_bytes > 0)
    line("all-gather", format_bytes(p.gathered_bytes) +
                           " of resident bf16 weights per rank: " + num("%.4g", p.all_gather_seconds) + " s");
  if (shape.gpus > 1)
    line("host streaming", std::to_string(shape.gpus) + " GPUs x " + format_bytes(pcie) + " of PCIe traffic at " +
                               num("%.0f", machine.host_memory_gbps) +
                               " GB/s: " + num("%.4g", p.host_streaming_seconds) + " s");
  line("last reduce-scatter", num("%.4g", p.tail_seconds) + " s after the backward (the embedding's gradient)");
  line("step time", num("%.4g", p.step_seconds) + " s  (one GPU alone " + num("%.4g", one_gpu.step_seconds) + " s)");
  line("tokens/s", format_count(static_cast<int64_t>(static_cast<double>(R) * tokens / p.step_seconds)) +
                       "  (per GPU " + format_count(static_cast<int64_t>(tokens / p.step_seconds)) + ", " +
                       num("%.1f", 100 * one_gpu.step_seconds / p.step_seconds) + " % of one GPU alone)");
  line("model TFLOPS per GPU", num("%.1f", model_flops / p.step_seconds / 1e12));
}

}  // namespace horizon::cli
