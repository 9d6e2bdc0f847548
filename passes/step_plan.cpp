#include "passes/step_plan.h"

#include <algorithm>
#include <sstream>
#include <stdexcept>

#include "ir/kept_activations.h"
#include "support/bf16_gradient.h"
#include "support/error.h"
#include "support/numbers.h"

namespace horizon::passes {

StepPlan make_step_plan(const ir::Module& graph, const StreamingOptions& o) {
  for (const char* stage : {"embed", "block", "head", "head.bwd", "block.bwd", "embed.bwd"})
    if (!graph.find_stage(stage))
      throw UserError(std::string("the model has no stage '") + stage +
                      "'; streaming needs embed, block and head stages (and passes::lower's backward stages)");
  if (o.batch <= 0 || o.seq <= 0) throw UserError("batch and seq must be positive");
  if (o.micro_batches <= 0 || o.batch % o.micro_batches)
    throw UserError("--batch " + std::to_string(o.batch) + " is not divisible by --micro-batches " +
                    std::to_string(o.micro_batches) + "; pick a batch that is a multiple of it");
  StepPlan p;
  p.graph = &graph;
  p.options = o;
  p.params = ir::layout_params(graph);
  p.layers = graph.find_stage("block")->instances;
  const ir::Stage& block = *graph.find_stage("block");
  p.hidden = block.values[block.inputs[0]].type.shape.back().value;
  p.mb_sequences = o.batch / o.micro_batches;
  for (size_t r = 0; r < p.params.regions.size(); ++r) {
    int64_t n = 0;
    ir::slot_offsets(p.params, static_cast<int>(r), &n);
    p.slot_elements = std::max(p.slot_elements, n);
  }
  // Tied tensors: only the head may bind another region's tensors (the
  // lm_head tied to the embedding); their gradient has its own accumulator.
  for (size_t r = 0; r < p.params.regions.size(); ++r)
    for (int t : p.params.regions[r].bound) {
      if (p.params.tensors[static_cast<size_t>(t)].region == static_cast<int>(r)) continue;
      if (p.params.regions[r].stage != "head")
        throw UserError("stage " + p.params.regions[r].stage + " binds " +
                        p.params.tensors[static_cast<size_t>(t)].name +
                        " from another stage; the streaming compiler supports tied weights only in the head");
      p.tied_elements += p.params.tensors[static_cast<size_t>(t)].elements;
    }
  p.clip = o.clip;
  p.bytes_per_param = o.bytes_per_param;
  return p;
}

void verify_step_plan(const StepPlan& p) {
  auto fail = [](const std::string& what) { throw std::logic_error("step plan: " + what); };
  if (p.checkpoint_every < 1 || p.checkpoint_every > std::max<int64_t>(p.layers, 1))
    fail("checkpoint_every " + std::to_string(p.checkpoint_every) + " outside [1, " + std::to_string(p.layers) + "]");
  if (p.slots < 2) fail("slots " + std::to_string(p.slots) + " < 2");
  if (p.prefetch < 1 || p.prefetch >= p.slots)
    fail("prefetch " + std::to_string(p.prefetch) + " outside [1, slots - 1 = " + std::to_string(p.slots - 1) + "]");
  if (!p.arena_plans.empty()) {
    // Five stages, and the two kept ones while blocks may keep their activations.
    const size_t n = p.arena_plans.size();
    if (n != 5 && n != 7) fail(std::to_string(n) + " arena plans, not one per launched stage");
    if (p.kept_blocks > 0 && n != 7) fail("kept blocks without the kept stages' arena plans");
    for (const ir::ArenaPlan& a : p.arena_plans)
      if (a.bytes > p.arena_bytes) fail("arena plan of " + a.stage + " exceeds the arena");
  }
  if (p.kept_blocks < 0 || p.kept_blocks > p.layers) fail("kept_blocks " + std::to_string(p.kept_blocks));
  if (p.kept_blocks > 0 && (p.checkpoint_every != 1 || p.kept_mb_bytes() == 0))
    fail("kept blocks need checkpoint_every 1 and the graph's kept stages");
  if (!p.resident.empty() && p.resident.size() != p.params.regions.size())
    fail(std::to_string(p.resident.size()) + " residency flags for " + std::to_string(p.params.regions.size()) +
         " regions");
}

int64_t StepPlan::kept_mb_bytes() const {
  const ir::Stage* keep = graph ? graph->find_stage(ir::kKeepStage) : nullptr;
  if (!keep) return 0;
  return ir::kept_value_offsets(*keep, ir::kept_values(*keep, 0), mb_sequences, options.seq).back();
}

int64_t StepPlan::resident_regions() const {
  int64_t n = 0;
  for (char r : resident) n += r ? 1 : 0;
  return n;
}

int64_t StepPlan::streamed_slot_elements() const {
  int64_t most = 0;
  for (size_t r = 0; r < params.regions.size(); ++r) {
    if (is_resident(static_cast<int>(r))) continue;
    int64_t n = 0;
    ir::slot_offsets(params, static_cast<int>(r), &n);
    most = std::max(most, n);
  }
  return most;
}

int64_t StepPlan::resident_bytes(int region) const {
  return params.regions[static_cast<size_t>(region)].elements * (bytes_per_param + 4);
}

int64_t StepPlan::gpu_bytes_without_arena() const {
  const int64_t M = options.micro_batches, act = mb_activation_bytes();
  const int64_t slot_elements = streamed_slot_elements();
  int64_t bytes = slots * slot_elements * 2;  // weight slots (bf16)
  bytes += 4 * M * act;                       // x0, x1, dx0, dx1
  if (!host_checkpoints) bytes += checkpoints() * M * act;
  bytes += segment_slots() * M * act;  // recompute segments
  bytes += 2 * slot_elements * 4;      // gradient accumulators (fp32)
  bytes += tied_elements * 4;          // the head's gradient of tied weights
  bytes += (packed_documents() ? 4 : 2) * options.batch * options.seq * 4 +
           M * 4;  // tokens, targets, losses (positions, segments)
  if (preference()) bytes += 2 * M * ir::row_share_bytes(mb_sequences);  // reference and policy log-probabilities
  for (size_t r = 0; r < resident.size(); ++r)
    if (resident[r]) bytes += resident_bytes(static_cast<int>(r));  // planes and gradient of resident regions
  bytes += kept_blocks * M * kept_mb_bytes();                       // kept blocks' activations
  return bytes;
}

int64_t StepPlan::grad_slab_bytes(int64_t elements) const {
  return options.bf16_gradients ? bf16_pair_bytes(elements) : elements * 4;
}

int64_t StepPlan::host_bytes() const {
  int64_t params_total = 0, slabs = 0;  // slabs: one per streamed region when clipping, else two of a slot
  for (size_t r = 0; r < params.regions.size(); ++r) {
    params_total += params.regions[r].elements;
    if (clip && !is_resident(static_cast<int>(r))) slabs += grad_slab_bytes(params.regions[r].elements);
  }
  if (!clip) slabs = 2 * grad_slab_bytes(streamed_slot_elements());
  int64_t bytes = params_total * bytes_per_param;   // the store keeps every region, resident ones too
  bytes += slabs + grad_slab_bytes(tied_elements);  // gradient slabs
  if (host_checkpoints) bytes += checkpoints() * options.micro_batches * mb_activation_bytes();
  return bytes;
}

std::string StepPlan::str() const {
  std::ostringstream o;
  o << "// step plan: batch " << options.batch << " x seq " << options.seq << ", " << options.micro_batches
    << " micro-batch(es) of " << mb_sequences << "\n"
    << "// checkpoint_every " << checkpoint_every << " (" << checkpoints() << " checkpoints per micro-batch, "
    << (host_checkpoints ? "host" : "gpu") << ")\n"
    << (checkpoint_place_why.empty() ? "" : "// checkpoints' place (auto): " + checkpoint_place_why + "\n")
    << "// slots " << slots << " of " << format_bytes(static_cast<double>(slot_elements * 2)) << ", prefetch "
    << prefetch << "\n"
    << "// gradients: "
    << (clip ? "one host slab per region (global-norm clipping defers updates)"
             : "two host slabs, each layer updated as its gradient lands")
    << (options.bf16_gradients ? ", offloaded in bf16" : "") << "\n"
    << "// arena " << format_bytes(static_cast<double>(arena_bytes)) << "\n";
  if (resident_regions() > 0) {
    int64_t bytes = 0;
    for (size_t r = 0; r < resident.size(); ++r)
      if (resident[r]) bytes += resident_bytes(static_cast<int>(r));
    o << "// resident on the GPU: " << resident_regions() << " of " << params.regions.size() << " regions ("
      << format_bytes(static_cast<double>(bytes)) << " of planes and gradients), updated there\n";
  }
  if (kept_blocks > 0)
    o << "// activations kept on the GPU: " << kept_blocks << " of " << layers << " blocks ("
      << format_bytes(static_cast<double>(kept_blocks * options.micro_batches * kept_mb_bytes()))
      << "); their backward does not recompute the forward's matmuls and attention\n";
  o << "// gpu " << format_bytes(static_cast<double>(gpu_bytes_without_arena() + arena_bytes)) << ", host "
    << format_bytes(static_cast<double>(host_bytes())) << "\n";
  return o.str();
}

}  // namespace horizon::passes
