#include "cli/plan_report.h"

#include <cstdio>

#include "cli/moments_option.h"
#include "cli/resident_option.h"
#include "ir/param_count.h"
#include "ir/param_layout.h"
#include "ir/step_pair.h"
#include "plan/chrome_trace.h"
#include "plan/simulator.h"
#include "support/numbers.h"
#ifdef HORIZON_HAVE_CUDA
#include "runtime/cuda/stage_scratch.h"
#endif

namespace horizon::cli {
namespace {

// The trainer's model FLOPs per token: 6 per parameter (forward and
// backward) plus attention's 12 * layers * hidden * seq.
double flops_per_token(const ir::Module& m, int64_t seq) {
  double params = static_cast<double>(ir::summarize_params(m).total);
  double layers = m.config_number("layers", 0), hidden = m.config_number("hidden", 0);
  return 6.0 * params + 12.0 * layers * hidden * static_cast<double>(seq);
}

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

}  // namespace

double model_flops_per_step(const ir::Schedule& s, const ir::Module& graph) {
  return flops_per_token(graph, s.config.seq) * static_cast<double>(s.config.batch * s.config.seq);
}

PlanTables plan_tables_of(ir::Schedule s, const ir::Module& graph, const plan::Machine& machine,
                          codegen::cpu::MomentType moments) {
  PlanTables t{std::move(s), {}, {}};
  t.host = plan::host_memory(t.s, graph, machine.host_bytes);
  if (const double scales = moment_scale_bytes(graph, moments); scales > 0) {
    t.host.lines.push_back({"8-bit moment scales", scales, "2 fp32 per 256 params"});
    t.host.total += scales;
  }
  t.gpu = plan::gpu_memory(t.s, machine.gpu_bytes);
#ifdef HORIZON_HAVE_CUDA
  const double scratch = static_cast<double>(runtime::cuda::planned_stage_scratch(t.s, graph));
  t.gpu.lines.push_back({"CUDA stage scratch", scratch, "GEMM workspaces, bf16 operand copies"});
  t.gpu.total += scratch;
#endif
  return t;
}

std::string over_budget(const plan::MemoryTable& host, const plan::MemoryTable& gpu) {
  std::string problem;
  if (!gpu.fits())
    problem = "GPU memory: the step needs " + format_bytes(gpu.total) + ", the budget is " + format_bytes(gpu.budget);
  if (!host.fits())
    problem += std::string(problem.empty() ? "" : "; and ") + "host memory: the step needs " +
               format_bytes(host.total) + ", the budget is " + format_bytes(host.budget);
  return problem;
}

void print_plan_summary(const ir::Schedule& s, const ir::Module& graph, const plan::Machine& machine,
                        const std::string& checkpoints_why) {
  const ir::ScheduleConfig& c = s.config;
  std::printf("plan for %s on %s: batch %lld x seq %lld = %s tokens per step\n", s.model.c_str(), machine.name.c_str(),
              static_cast<long long>(c.batch), static_cast<long long>(c.seq), format_count(c.batch * c.seq).c_str());
  std::printf("  %lld micro-batch(es) of %lld sequences, checkpoint every %lld block(s) on the %s, %lld weight slots, "
              "prefetch %lld, %s\n",
              static_cast<long long>(c.micro_batches), static_cast<long long>(c.batch / c.micro_batches),
              static_cast<long long>(c.checkpoint_every), c.host_checkpoints ? "host" : "GPU",
              static_cast<long long>(c.slots), static_cast<long long>(c.prefetch),
              c.clip ? "global norm before the updates" : "updates as gradients land");
  if (!checkpoints_why.empty())
    std::printf("  checkpoints on the %s (--host-checkpoints auto): %s\n", c.host_checkpoints ? "host" : "GPU",
                checkpoints_why.c_str());
  std::printf("  %lld of %lld layers resident on the GPU (updated there; --resident 0 streams every layer)\n",
              static_cast<long long>(resident_layers(s)),
              static_cast<long long>(ir::layout_params(graph).regions.size()));
  std::printf("  %lld of %lld blocks keep their activations on the GPU, so their backward does not recompute the\n"
              "    forward's matmuls and attention (--keep-activations 0 recomputes every block)\n\n",
              static_cast<long long>(kept_blocks(s)), static_cast<long long>(graph.find_stage("block")->instances));
}

plan::SimResult print_step_prediction(const ir::Schedule& s, const ir::Module& graph, const plan::Machine& machine) {
  const plan::SimResult r = plan::simulate(s, graph, machine);
  const double step = r.step_seconds;
  const int64_t tokens = s.config.batch * s.config.seq;
  const double model_flops = model_flops_per_step(s, graph);
  std::printf(ir::deferred_updates(s).empty()
                  ? "step (simulated)\n"
                  : "step (simulated, steady state: the updates after the gradient norm overlap the next step)\n");
  std::printf("  %-24s %s s\n", "step time", fmt("%.4g", step).c_str());
  std::printf("  %-24s %s\n", "tokens/s",
              format_count(static_cast<int64_t>(static_cast<double>(tokens) / step)).c_str());
  std::printf("  %-24s %s  (6N + 12 L hidden S per token; GEMM incl. recompute %s)\n", "model TFLOPS",
              fmt("%.1f", model_flops / step / 1e12).c_str(), fmt("%.1f", r.gemm_flops / step / 1e12).c_str());
  std::printf("  %-24s %s %%\n", "GPU busy", fmt("%.1f", 100 * r.stream(ir::Stream::compute).busy / step).c_str());
  std::printf("  %-24s %s GB/s  (H2D %s GB in %s s busy, D2H %s GB in %s s busy)\n", "PCIe",
              fmt("%.1f", (r.h2d_bytes + r.d2h_bytes) / step / 1e9).c_str(), fmt("%.1f", r.h2d_bytes / 1e9).c_str(),
              fmt("%.3g", r.stream(ir::Stream::h2d).busy).c_str(), fmt("%.1f", r.d2h_bytes / 1e9).c_str(),
              fmt("%.3g", r.stream(ir::Stream::d2h).busy).c_str());
  std::printf("  %-24s %s %%\n", "CPU optimizer busy",
              fmt("%.1f", 100 * r.stream(ir::Stream::cpu).busy / step).c_str());
  std::printf("  %-24s %s (busy %s %% of the step)\n", "bottleneck", r.bottleneck.c_str(),
              fmt("%.1f", 100 * r.bottleneck_share).c_str());
  return r;
}

void print_trace(const std::string& path, const ir::Schedule& s, const plan::SimResult& r) {
  if (path.empty()) return;
  plan::write_chrome_trace(path, s, r);
  std::printf("\ntrace: %s (open in ui.perfetto.dev)\n", path.c_str());
}

}  // namespace horizon::cli
