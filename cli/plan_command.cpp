// `horizon plan MODEL --batch B --seq S ...`: compiles a model to the
// schedule of one training step, simulates it on a machine description and
// prints where the memory goes, the largest micro-batch that fits, the
// predicted step time and what bounds it. A step that does not fit is
// refused (exit 1) with the numbers and the changes that would make it fit.
// The streaming options are declared here once and shared with
// `horizon compile --emit=schedule`. A schedule text dump in place of the
// model is planned by plan_schedule_file (cli/plan_schedule_file.cpp).
#include <cmath>
#include <cstdio>
#include <iostream>

#include "cli/arguments.h"
#include "cli/commands.h"
#include "cli/grad_offload_option.h"
#include "cli/moments_option.h"
#include "cli/plan_largest.h"
#include "cli/plan_parallel.h"
#include "cli/plan_report.h"
#include "cli/resident_option.h"
#include "cli/schedule_file.h"
#include "frontend/model_json.h"
#include "ir/param_count.h"
#include "passes/lower.h"
#include "passes/schedule_pipeline.h"
#include "passes/step_plan.h"
#include "plan/machine.h"
#include "plan/memory_table.h"
#include "plan/micro_batch_search.h"
#include "plan/simulator.h"
#include "support/error.h"
#include "support/numbers.h"
#ifdef HORIZON_HAVE_CUDA
#include "runtime/cuda/stage_scratch.h"
#endif

namespace horizon::cli {

void add_streaming_options(Arguments& a, bool declare_shape) {
  if (declare_shape) {
    a.option("batch", "B", "sequences per step (all micro-batches)");
    a.option("seq", "S", "tokens per sequence");
  }
  a.option("micro-batches", "M", "micro-batches per step; each block's weights stream once for all of them", "1");
  a.option("checkpoint-every", "K", "save the input of every K-th block (0: smallest K that fits the GPU)", "0");
  a.option("slots", "N", "GPU weight slots (0: choose)", "0");
  a.option("prefetch", "P", "blocks streamed ahead of the one computing (0: slots - 1)", "0");
  a.option("host-checkpoints", "WHEN", "auto | on | off: keep checkpoints in pinned host memory", "auto");
  a.option("host-mem", "SIZE", "host memory budget, e.g. 120G (default: the machine's)");
  a.option("gpu-mem", "SIZE", "GPU memory budget, e.g. 80G (default: the machine's)");
  a.option("machine", "FILE", "machine description, e.g. machines/h100-pcie5.json (default: built-in H100 PCIe)");
  a.option("resident", "N",
           "layers whose weights, optimizer state and gradient stay on the GPU and are updated there: auto (as\n"
           "many as the GPU memory left by streaming holds), 0 (stream every layer) or a count",
           "auto");
  a.option("keep-activations", "N", kKeepActivationsHelp, "auto");
  a.flag("early-updates",
         "no clipping, and each layer updated as its gradient lands (train --clip 0 --early-updates): two\n"
         "gradient slabs instead of one per layer");
  if (!a.declares("moments")) a.option("moments", "TYPE", kMomentsHelp, "bf16");
  if (!a.declares("grad-offload")) a.option("grad-offload", "TYPE", kGradOffloadHelp, "fp32");
}

plan::Machine machine_option(const Arguments& a) {
  plan::Machine m = a.has("machine") ? plan::load_machine(a.get("machine")) : plan::default_machine();
  if (a.has("host-mem")) m.host_bytes = a.get_bytes("host-mem");
  if (a.has("gpu-mem")) m.gpu_bytes = a.get_bytes("gpu-mem");
  return m;
}

passes::StreamingOptions streaming_options(const Arguments& a, const std::string& command, const plan::Machine& m) {
  for (const char* required : {"batch", "seq"})
    if (!a.has(required))
      throw UserError("horizon " + command + ": missing --" + required + "; e.g. --batch 8 --seq 2048");
  passes::StreamingOptions o;
  o.batch = a.get_int("batch");
  o.seq = a.get_int("seq");
  o.micro_batches = a.get_int("micro-batches");
  o.checkpoint_every = a.get_int("checkpoint-every");
  o.slots = a.get_int("slots");
  o.prefetch = a.get_int("prefetch");
  if (o.batch <= 0 || o.seq <= 0 || o.micro_batches <= 0)
    throw UserError("horizon " + command + ": --batch, --seq and --micro-batches must be positive");
  if (o.checkpoint_every < 0 || o.slots < 0 || o.prefetch < 0)
    throw UserError("horizon " + command +
                    ": --checkpoint-every, --slots and --prefetch must be 0 (choose) or positive");
  std::string when = a.get("host-checkpoints");
  if (when != "auto" && when != "on" && when != "off")
    throw UserError("horizon " + command + ": --host-checkpoints must be auto, on or off, got '" + when + "'");
  o.host_checkpoints = when == "auto" ? -1 : when == "on" ? 1 : 0;
  // As train plans it: the global norm before the first update, with or
  // without clipping, unless --early-updates.
  o.clip = !a.get_flag("early-updates");
  o.bytes_per_param = store_bytes_per_param(parse_moments(command, a.get("moments")));
  o.bf16_gradients = parse_bf16_gradients(command, a.get("grad-offload"));
  o.gpu_bytes = m.gpu_bytes;
  o.host_bytes = m.host_bytes;
  o.resident = parse_resident(command, a.get("resident"));
  o.keep_activations = parse_keep_activations(command, a.get("keep-activations"));
  return o;
}

namespace {

// The smallest micro-batch count that divides the batch and leaves at most
// `fit` sequences per micro-batch; 0 if none does.
int64_t micro_batches_for(int64_t batch, int64_t fit) {
  for (int64_t m = 1; m <= batch; ++m)
    if (batch % m == 0 && batch / m <= fit) return m;
  return 0;
}

// "--host-mem 791G": the smallest whole GiB at or above `bytes`.
std::string gib_flag(const char* flag, double bytes) {
  return std::string(flag) + " " + std::to_string(static_cast<int64_t>(std::ceil(bytes / (1ull << 30)))) + "G";
}

// What would make a refused step fit, each checked by lowering the step again
// with one option changed; only changes that fit by themselves are offered,
// besides more memory.
class Refusal {
 public:
  Refusal(const ir::Module& graph, const passes::StreamingOptions& options, const ir::Schedule& s)
      : graph_(graph), options_(options), s_(s) {}

  std::string message(const plan::MemoryTable& host, const plan::MemoryTable& gpu, int64_t fit) {
    const ir::ScheduleConfig& c = s_.config;
    if (!gpu.fits()) {
      if (int64_t m = micro_batches_for(c.batch, fit); fit > 0 && m > 0)
        fix("fewer sequences per micro-batch (at most " + std::to_string(fit) + " fit): --micro-batches " +
            std::to_string(m));
      passes::StreamingOptions o = options_;
      o.host_checkpoints = 1;
      if (!c.host_checkpoints) offer("--host-checkpoints on", o, ir::Place::gpu);
      for (int64_t k = c.checkpoint_every * 2; k <= layers(); k *= 2) {
        o = options_;
        o.checkpoint_every = k;
        if (offer("--checkpoint-every " + std::to_string(k), o, ir::Place::gpu)) break;
      }
      for (int64_t seq = c.seq / 2; seq >= 128; seq /= 2) {
        o = options_;
        o.seq = seq;
        if (offer("--seq " + std::to_string(seq), o, ir::Place::gpu)) break;
      }
      fix("more GPU memory (" + gib_flag("--gpu-mem", gpu.total) + ")");
    }
    if (!host.fits()) {
      passes::StreamingOptions o = options_;
      o.clip = false;
      if (c.clip)
        offer("--early-updates with train --clip 0 (two gradient slabs instead of one per layer)", o, ir::Place::host);
      o = options_;
      o.bf16_gradients = true;
      if (!options_.bf16_gradients) offer("--grad-offload bf16 (half-size gradient slabs)", o, ir::Place::host);
      o = options_;
      o.host_checkpoints = 0;
      if (c.host_checkpoints) offer("--host-checkpoints off", o, ir::Place::host);
      o = options_;
      o.bytes_per_param = 6;  // (its block scales, 0.03 B/param, are not in this check)
      if (options_.bytes_per_param > 6) offer("--moments 8bit (6 B/param, docs/moments.md)", o, ir::Place::host);
      fix("more host RAM (" + gib_flag("--host-mem", host.total) + ")");
      double store = 0;
      for (const ir::Buffer& b : s_.buffers)
        if (b.kind == ir::BufferKind::store) store += static_cast<double>(b.bytes);
      if (store > host.budget)
        fixes_ += " — the host store alone (weights, master, moments at " + std::to_string(options_.bytes_per_param) +
                  " B/param) needs " + format_bytes(store) +
                  ", more than the budget, so no other option can fit this model";
    }
    return s_.model + " does not fit: " + over_budget(host, gpu) + "; to fit: " + fixes_;
  }

 private:
  void fix(const std::string& f) { fixes_ += (fixes_.empty() ? "" : "; or ") + f; }

  // Offers `what` if the step lowered with `o` fits the budget of `place`.
  bool offer(const std::string& what, const passes::StreamingOptions& o, ir::Place place) {
    const double budget = place == ir::Place::gpu ? options_.gpu_bytes : options_.host_bytes;
    try {
      double bytes = static_cast<double>(passes::lower_to_schedule(graph_, o).bytes(place));
      if (bytes > budget) return false;
      fix(what + " (" + ir::place_name(place) + " " + format_bytes(bytes) + ")");
      return true;
    } catch (const UserError&) {
      return false;
    }
  }
  int64_t layers() const { return static_cast<int64_t>(graph_.config_number("layers", 0)); }

  const ir::Module& graph_;
  const passes::StreamingOptions& options_;
  const ir::Schedule& s_;
  std::string fixes_;
};

// The step lowered for the GPU and its memory tables; `plan` (if not null)
// receives the planning passes' decisions.
PlanTables plan_tables(const ir::Module& graph, passes::StreamingOptions options, const plan::Machine& machine,
                       codegen::cpu::MomentType moments, passes::StepPlan* plan = nullptr) {
  // Resident layers' scales live beside %resident.
  if (options.resident != 0) options.gpu_reserve_bytes += moment_scale_bytes(graph, moments);
  return plan_tables_of(lower_for_gpu(graph, options, {}, false, plan), graph, machine, moments);
}

}  // namespace

int run_plan(const Args& args) {
  Arguments a("plan", "horizon plan MODEL --batch B --seq S [options]  |  horizon plan FILE --model MODEL",
              "Plans one training step of MODEL: host and GPU memory by kind, the largest micro-batch that fits,\n"
              "and the simulated step time, tokens/s, TFLOPS and bottleneck on a machine description. A step\n"
              "that does not fit is refused (exit 1) with what would make it fit. Given a schedule text dump\n"
              "(horizon compile --emit=schedule, edited or not) instead, it verifies it and reports the same\n"
              "figures of that schedule's buffers and instructions.");
  a.positional("MODEL",
               "models/*.json, a Hugging Face model directory or config.json, a .hir dump; or a schedule dump");
  add_streaming_options(a);
  a.option("trace", "FILE", "write the simulated step as a Chrome trace (open it in ui.perfetto.dev)");
  a.flag(
      "largest",
      "plan the deepest model of MODEL's width (or --width) that fits the machine: MODEL with as many blocks as fit");
  a.option("width", "H", "with --largest: hidden size of the searched models (heads and MLP scale with it)", "0");
  add_parallel_options(a);
  a.option("model", "MODEL", "with a schedule dump as MODEL: the model it was compiled from");
  if (!a.parse(args)) return 0;
  if (is_schedule_file(a.get("MODEL"))) return plan_schedule_file(a);
  if (a.has("model"))
    throw UserError("horizon plan: --model goes with a schedule dump (horizon plan FILE --model MODEL); " +
                    a.get("MODEL") + " is a model itself");
  const plan::ParallelShape shape = parallel_shape(a);

  const plan::Machine machine = machine_option(a);
  const passes::StreamingOptions options = streaming_options(a, "plan", machine);
  const codegen::cpu::MomentType moments = parse_moments("plan", a.get("moments"));
  ir::Module graph;
  if (a.get_flag("largest")) {
    const int64_t width = a.get_int("width");
    if (width < 0) throw UserError("horizon plan: --width must be positive (or 0: MODEL's), got " + a.get("width"));
    auto fits = [&](const ir::Module& candidate) {
      try {
        const PlanTables t = plan_tables(candidate, options, machine, moments);
        return t.host.fits() && t.gpu.fits();
      } catch (const UserError&) {
        return false;  // a candidate the passes refuse (a budget they check themselves) does not fit
      }
    };
    const LargestModel largest = find_largest_model(a.get("MODEL"), width, 4096, fits);
    const ir::Module one = resized_model(a.get("MODEL"), 1, width);
    if (largest.layers == 0)
      throw UserError("horizon plan --largest: not even one block of width " +
                      std::to_string(static_cast<int64_t>(one.config_number("hidden", 0))) + " fits " + machine.name +
                      " at --batch " + a.get("batch") + " --seq " + a.get("seq") +
                      "; try a smaller --width, --seq or --micro-batches more");
    graph = resized_model(a.get("MODEL"), largest.layers, width);
    std::printf("largest model of width %lld that fits %s (--moments %s): %lld layers, %s parameters (%d candidates "
                "planned)\n\n",
                static_cast<long long>(graph.config_number("hidden", 0)), machine.name.c_str(),
                codegen::cpu::moment_type_name(moments), static_cast<long long>(largest.layers),
                format_count(ir::summarize_params(graph).total).c_str(), largest.tried);
  } else {
    if (a.get_int("width") != 0) throw UserError("horizon plan: --width goes with --largest");
    graph = frontend::load_model(a.get("MODEL"));
    passes::lower(graph);
  }
  passes::StepPlan decided;
  const PlanTables tables = plan_tables(graph, options, machine, moments, &decided);
  const ir::Schedule& s = tables.s;
  print_plan_summary(s, graph, machine, decided.checkpoint_place_why);

  // Several GPUs: each GPU's and each host's share (the same tables for one).
  const plan::MemoryTable host = shape.ranks() > 1 ? plan::host_memory_per_host(tables.host, shape) : tables.host;
  const plan::MemoryTable gpu = shape.ranks() > 1 ? plan::gpu_memory_per_gpu(tables.gpu, s, graph, shape) : tables.gpu;
  // Resident layers take what activations leave, so the search streams every layer.
  passes::StreamingOptions streamed = options;
  streamed.resident = 0;
  plan::ExtraGpuBytes stage_scratch;
#ifdef HORIZON_HAVE_CUDA
  stage_scratch = [&](const ir::Schedule& trial) {
    return static_cast<double>(runtime::cuda::planned_stage_scratch(trial, graph));
  };
#endif
  const int64_t fit = plan::largest_micro_batch(graph, streamed, 1 << 16, stage_scratch);
  std::cout << plan::format_memory_table(host) << "\n" << plan::format_memory_table(gpu);
  std::printf("  largest micro-batch that fits: %lld sequences (%s tokens)\n\n", static_cast<long long>(fit),
              format_count(fit * s.config.seq).c_str());

  if (!host.fits() || !gpu.fits()) {
    std::fflush(stdout);
    if (shape.ranks() > 1) throw UserError(parallel_refusal(s.model, shape, host, gpu));
    throw UserError(Refusal(graph, options, s).message(host, gpu, fit));
  }
  const plan::SimResult r = print_step_prediction(s, graph, machine);
  if (const int64_t kept = kept_blocks(s); kept > 0) {
    // What keeping saves: the same step with every block recomputed.
    passes::StreamingOptions recompute = options;
    recompute.keep_activations = 0;
    const plan::SimResult all = plan::simulate(plan_tables(graph, recompute, machine, moments).s, graph, machine);
    std::printf("  %-24s %.4g s with every block recomputed: keeping %lld blocks' activations saves %.1f %%\n",
                "recompute", all.step_seconds, static_cast<long long>(kept),
                100 * (1 - r.step_seconds / all.step_seconds));
  }
  print_parallel_step(s, graph, machine, shape, r, model_flops_per_step(s, graph));
  print_trace(a.get("trace"), s, r);
  return 0;
}

}  // namespace horizon::cli
