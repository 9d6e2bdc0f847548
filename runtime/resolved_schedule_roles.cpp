// Operand roles of a resolved schedule. A launch maps its operands onto the
// graph-IR stage's interface (docs/schedule-ir.md): int32 inputs are
// `tokens` then `targets` (and a block's `positions` and `segments` with
// packed documents), the float input `x` then `dy`, a scalar output
// `loss`, a forward output `y`, a backward output `dx` (and a DPO head's
// per-row policy log-probabilities `logps`), a kept block's saved values
// `saved` (written by block.keep, read by block.kept.bwd, each value at its
// ir/kept_activations.h offset), parameter gradients
// `grad` (and `grad_tied`), transients `arena`. An optimizer_step reads its
// region's slab (and the binder's tied slab) and writes the region's whole
// store range. Sizes are checked against what the stage implies.
#include <algorithm>
#include <optional>

#include "ir/kept_activations.h"
#include "runtime/resolved_schedule.h"
#include "support/bf16_gradient.h"
#include "support/error.h"

namespace horizon::runtime {
namespace {

// The forward stage whose parameters a stage binds ("block.bwd" -> "block").
std::string forward_name(const std::string& stage) { return ir::base_stage_name(stage); }

// Operand roles of a stage's inputs: a backward stage takes its forward's
// inputs, then the gradient of the forward's activation output ("dy").
std::string input_role(const ir::Stage& fwd, const ir::Stage& s, size_t i) {
  if (i >= fwd.inputs.size()) return "dy";
  const ir::Value& v = s.values[static_cast<size_t>(s.inputs[i])];
  if (v.name == "positions" || v.name == "segments") return v.name;  // packed documents
  if (v.name == "reference") return v.name;                          // a DPO head's reference log-probabilities
  if (v.type.dtype == ir::DType::i32) return i == 0 ? "tokens" : "targets";
  return "x";
}

std::string output_role(const ir::Stage& s, size_t o) {
  if (s.values[static_cast<size_t>(s.outputs[o])].type.rank() == 0) return "loss";
  if (s.values[static_cast<size_t>(s.outputs[o])].name == "policy_logps") return "logps";  // a DPO head's
  return s.grads.empty() ? "y" : "dx";
}

const ir::Operand* find_operand(const ir::SchedInstr& in, const std::string& role, bool write) {
  for (const ir::Operand& op : in.operands)
    if (op.role == role && op.write == write) return &op;
  return nullptr;
}

bool contains(const ir::Range& outer, const ir::Range& inner) {
  return outer.buffer == inner.buffer && outer.offset <= inner.offset &&
         inner.offset + inner.bytes <= outer.offset + outer.bytes;
}

}  // namespace

LaunchPlan ResolvedSchedule::prepare_launch(int index) const {
  const ir::SchedInstr& in = instr(index);
  auto fail = [&](const std::string& problem) { return UserError(where(index) + ": " + problem); };
  LaunchPlan p;
  p.stage = graph.find_stage(in.stage);
  if (!p.stage) throw fail("the graph has no stage '" + in.stage + "'");
  const ir::Stage* fwd = graph.find_stage(forward_name(in.stage));
  if (!fwd) throw fail("the graph has no forward stage for '" + in.stage + "'");
  if (in.op == ir::SchedOp::recompute && !p.stage->grads.empty()) throw fail("recompute runs a forward stage");
  const ir::ParamLayout& layout = store.layout();
  p.region = layout.region_of(fwd->name, in.instance);
  if (p.region < 0) throw fail("no parameter region for " + fwd->name + "[" + std::to_string(in.instance) + "]");
  p.slot_offsets = ir::slot_offsets(layout, p.region, &p.slot_elements);
  p.region_elements = layout.regions[static_cast<size_t>(p.region)].elements;
  if (p.slot_offsets.size() != p.stage->params.size()) throw fail("the stage's parameters do not match its region");
  for (const ir::ArenaPlan& a : schedule.arena_plans)
    if (a.stage == in.stage) p.arena_plan = &a;
  if (!p.arena_plan) throw fail("the schedule has no arena plan for stage " + in.stage);
  if (p.arena_plan->offsets.size() != p.stage->values.size() || p.arena_plan->sizes.size() != p.stage->values.size())
    throw fail("the arena plan of " + in.stage + " does not cover the stage's values");

  auto operand = [&](const std::string& role, bool write, int64_t bytes, bool exact) {
    const ir::Operand* op = find_operand(in, role, write);
    if (!op) throw fail(std::string("missing operand '") + role + "' (" + (write ? "w" : "r") + ")");
    if (exact ? op->range.bytes != bytes : op->range.bytes < bytes)
      throw fail("operand '" + role + "' has " + std::to_string(op->range.bytes) + " bytes, the stage needs " +
                 std::to_string(bytes));
    return op->range;
  };
  auto bytes_of = [&](int value) {
    return p.stage->values[static_cast<size_t>(value)].type.elements(mb_batch, seq) * 4;  // f32 and i32 alike
  };
  p.weights = operand("weights", false, p.slot_elements * 2, false);
  // A kept block's saved values: one 'saved' operand, each value at its offset.
  const std::vector<int> kept = ir::kept_values(*p.stage, fwd->inputs.size());
  std::vector<int64_t> kept_at;
  ir::Range saved;
  if (!kept.empty()) {
    kept_at = ir::kept_value_offsets(*p.stage, kept, mb_batch, seq);
    saved = operand("saved", p.stage->grads.empty(), kept_at.back(), true);
  }
  auto kept_range = [&](int value) -> std::optional<ir::Range> {
    const auto it = std::find(kept.begin(), kept.end(), value);
    if (it == kept.end()) return std::nullopt;
    return ir::Range{saved.buffer, saved.offset + kept_at[static_cast<size_t>(it - kept.begin())], bytes_of(value)};
  };
  for (size_t i = 0; i < p.stage->inputs.size(); ++i) {
    const int v = p.stage->inputs[i];
    const std::optional<ir::Range> k = kept_range(v);
    p.inputs.push_back(k ? *k : operand(input_role(*fwd, *p.stage, i), false, bytes_of(v), true));
  }
  for (size_t o = 0; o < p.stage->outputs.size(); ++o) {
    const int v = p.stage->outputs[o];
    const std::optional<ir::Range> k = kept_range(v);
    p.outputs.push_back(k ? *k : operand(output_role(*p.stage, o), true, bytes_of(v), true));
  }
  if (!p.stage->grads.empty()) {
    p.grad = operand("grad", true, p.region_elements * 4, true);
    if (p.slot_elements > p.region_elements)
      p.grad_tied = operand("grad_tied", true, (p.slot_elements - p.region_elements) * 4, true);
  }
  p.arena = operand("arena", true, p.arena_plan->bytes, false);
  if (buffer(p.arena.buffer).kind != ir::BufferKind::workspace)
    throw fail("operand 'arena' is not the workspace buffer");
  return p;
}

UpdatePlan ResolvedSchedule::prepare_update(int index) const {
  const ir::SchedInstr& in = instr(index);
  auto fail = [&](const std::string& problem) { return UserError(where(index) + ": " + problem); };
  UpdatePlan u;
  u.region = store.layout().region_of(in.stage, in.instance);
  if (u.region < 0) throw fail("no parameter region for " + in.stage + "[" + std::to_string(in.instance) + "]");
  const Region& r = store.regions()[static_cast<size_t>(u.region)];
  if (in.stream != ir::Stream::cpu) {
    // A resident region: gradient and planes on the GPU, the clip factor from the CPU.
    u.on_device = true;
    const ir::Operand* grad = find_operand(in, "grad", false);
    if (!grad || grad->range.bytes != r.elements * 4 || buffer(grad->range.buffer).place != ir::Place::gpu)
      throw fail("a GPU update needs its region's fp32 gradient in GPU memory as 'grad'");
    const ir::Operand* params = find_operand(in, "params", true);
    if (!params || params->range.buffer != resident_buffer || params->range.bytes != r.elements * store_bytes_per_param)
      throw fail("a GPU update writes its region's whole range of the resident buffer as 'params' (" +
                 std::to_string(r.elements * store_bytes_per_param) + " bytes)");
    u.grad = grad->range;
    u.params = params->range;
    if (const ir::Operand* scale = find_operand(in, "scale", false)) {
      if (scale->range.bytes != 4 || buffer(scale->range.buffer).place != ir::Place::host)
        throw fail("'scale' is the 4-byte clip factor in host memory");
      u.scale = scale->range;
    } else {
      u.scale.buffer = -1;
    }
    u.grad_tied.buffer = -1;  // prepare_tied refuses a GPU update of a tied region
    return u;
  }
  const ir::Operand* grad = find_operand(in, "grad", false);
  if (!grad || grad->range.bytes != slab_bytes(r.elements))
    throw fail(std::string("needs a 'grad' slab of the region's ") +
               (schedule.config.bf16_gradients ? "bf16 gradient (config.bf16_gradients)" : "fp32 gradient"));
  if (buffer(grad->range.buffer).place != ir::Place::host)
    throw fail("the CPU optimizer reads its gradient from host memory");
  u.grad = grad->range;
  if (const ir::Operand* tied = find_operand(in, "grad_tied", false)) {
    if (buffer(tied->range.buffer).place != ir::Place::host)
      throw fail("the CPU optimizer reads its tied gradient from host memory");
    u.grad_tied = tied->range;
  }
  const ir::Operand* params = find_operand(in, "params", true);
  const ir::Range region_range{store_buffer, store_offsets[static_cast<size_t>(u.region)],
                               r.elements * store_bytes_per_param};
  if (!params || !(params->range == region_range)) throw fail("'params' must be the region's whole store range");
  return u;
}

void ResolvedSchedule::prepare_tied() {
  const ir::ParamLayout& layout = store.layout();
  tied_offset.assign(layout.tensors.size(), -1);
  for (size_t h = 0; h < layout.regions.size(); ++h) {
    std::vector<int64_t> offsets = ir::slot_offsets(layout, static_cast<int>(h));
    for (size_t k = 0; k < layout.regions[h].bound.size(); ++k) {
      const int t = layout.regions[h].bound[k];
      if (layout.tensors[static_cast<size_t>(t)].region == static_cast<int>(h)) continue;
      if (tied_offset[static_cast<size_t>(t)] >= 0)
        throw UserError(layout.tensors[static_cast<size_t>(t)].name +
                        " is bound by two other stages; the streamed executor supports one");
      tied_offset[static_cast<size_t>(t)] = offsets[k] - layout.regions[h].elements;
    }
  }

  std::vector<int> updated(layout.regions.size(), 0);
  update_of_region.assign(layout.regions.size(), nullptr);
  for (const auto& [index, u] : updates) {
    ++updated[static_cast<size_t>(u.region)];
    update_of_region[static_cast<size_t>(u.region)] = &u;
    int64_t slot = 0;
    ir::slot_offsets(layout, u.region, &slot);
    bool tied = slot > layout.regions[static_cast<size_t>(u.region)].elements;
    for (int t : layout.regions[static_cast<size_t>(u.region)].tensors)
      tied |= tied_offset[static_cast<size_t>(t)] >= 0;
    if (u.on_device && tied)
      throw UserError(where(index) + ": a region with tied weights streams; it cannot be updated on the GPU");
    for (int t : layout.regions[static_cast<size_t>(u.region)].tensors) {
      const int64_t off = tied_offset[static_cast<size_t>(t)];
      if (off < 0) continue;
      const int64_t need = off + layout.tensors[static_cast<size_t>(t)].elements;
      // In the pair layout the slab's size gives its half, which places each element.
      const int64_t holds = schedule.config.bf16_gradients ? u.grad_tied.bytes / 2 : u.grad_tied.bytes / 4;
      if (u.grad_tied.buffer < 0 || need > holds)
        throw UserError(where(index) + ": " + layout.tensors[static_cast<size_t>(t)].name +
                        " is tied; its update needs the binder's gradient as a 'grad_tied' slab");
    }
  }
  for (size_t r = 0; r < updated.size(); ++r)
    if (updated[r] != 1)
      throw UserError("schedule of " + schedule.model + ": " + layout.regions[r].stage + "[" +
                      std::to_string(layout.regions[r].instance) + "] is updated " + std::to_string(updated[r]) +
                      " times; every stage instance needs exactly one optimizer_step");
}

int64_t ResolvedSchedule::slab_bytes(int64_t elements) const {
  return schedule.config.bf16_gradients ? bf16_pair_bytes(elements) : elements * 4;
}

CastPlan ResolvedSchedule::prepare_cast(int index) const {
  const ir::SchedInstr& in = instr(index);
  auto fail = [&](const std::string& problem) { return UserError(where(index) + ": " + problem); };
  if (!schedule.config.bf16_gradients) throw fail("a cast needs config.bf16_gradients (the slabs hold bf16)");
  if (in.stream != ir::Stream::compute) throw fail("a cast runs on the compute stream");
  const ir::Operand* src = find_operand(in, "src", false);
  const ir::Operand* dst = find_operand(in, "dst", true);
  if (!src || !dst || src->range.bytes % 4 || buffer(src->range.buffer).place != ir::Place::gpu)
    throw fail("a cast reads fp32 gradients in GPU memory as 'src' and writes them as 'dst'");
  const int64_t elements = src->range.bytes / 4;
  if (dst->range.buffer != src->range.buffer || dst->range.offset != src->range.offset ||
      dst->range.bytes != bf16_pair_bytes(elements))
    throw fail("a cast writes in place: 'dst' is the first " + std::to_string(bf16_pair_bytes(elements)) +
               " bytes of 'src' (the bf16 pair layout of " + std::to_string(elements) + " gradients)");
  return CastPlan{src->range, elements};
}

DeviceNorm ResolvedSchedule::prepare_device_norm(int index) const {
  const ir::SchedInstr& in = instr(index);
  auto fail = [&](const std::string& problem) { return UserError(where(index) + ": " + problem); };
  DeviceNorm d;
  d.region = store.layout().region_of(in.stage, in.instance);
  if (d.region < 0) throw fail("no parameter region for " + in.stage + "[" + std::to_string(in.instance) + "]");
  const Region& r = store.regions()[static_cast<size_t>(d.region)];
  const ir::Operand* grad = find_operand(in, "grad", false);
  if (!grad || grad->range.bytes != r.elements * 4 || buffer(grad->range.buffer).place != ir::Place::gpu)
    throw fail("a GPU grad_norm reads its region's fp32 gradient in GPU memory as 'grad'");
  const ir::Operand* norms = find_operand(in, "norms", true);
  const int64_t bytes = static_cast<int64_t>(r.tensors.size()) * 8;
  if (!norms || norms->range.bytes != bytes || buffer(norms->range.buffer).place != ir::Place::host)
    throw fail("a GPU grad_norm writes one double per tensor of its region (" + std::to_string(bytes) +
               " bytes) into host memory as 'norms'");
  d.grad = grad->range;
  d.norms = norms->range;
  return d;
}

// Each cpu grad_norm measures the regions whose slabs it reads (all of an
// update's slabs), or collects what GPU grad_norms measured (it reads their
// sums); together every region is measured at most once — with clipping
// exactly once — and with clipping every update follows the last of them,
// when the clip factor is final.
void ResolvedSchedule::prepare_norms() {
  const ir::ParamLayout& layout = store.layout();
  std::vector<int> count(layout.regions.size(), 0), collections;
  int last_norm = -1;
  for (const auto& [index, d] : device_norms) ++count[static_cast<size_t>(d.region)];
  for (size_t i = 0; i < schedule.instrs.size(); ++i) {
    const ir::SchedInstr& in = schedule.instrs[i];
    if (in.op != ir::SchedOp::grad_norm) continue;
    last_norm = static_cast<int>(i);
    if (in.stream != ir::Stream::cpu) continue;
    std::vector<int>& regions = norm_regions[static_cast<int>(i)];
    auto reads = [&](const ir::Range& r) {
      for (const ir::Operand& op : in.operands)
        if (!op.write && contains(op.range, r)) return true;
      return false;
    };
    for (const auto& [index, u] : updates) {
      if (u.on_device) continue;
      bool covered = true;
      for (const ir::Range& r : {u.grad, u.grad_tied})
        if (r.buffer >= 0) covered = covered && reads(r);
      if (!covered) continue;
      regions.push_back(u.region);
      ++count[static_cast<size_t>(u.region)];
    }
    std::vector<int>& gathered = collected[static_cast<int>(i)];
    for (const auto& [index, d] : device_norms)
      if (reads(d.norms)) gathered.push_back(index), collections.push_back(index);
    if (regions.empty() && gathered.empty())
      throw UserError(where(static_cast<int>(i)) + ": reads no update's whole gradient and no GPU grad_norm's sums");
  }
  for (const auto& [index, d] : device_norms)
    if (std::count(collections.begin(), collections.end(), index) != 1)
      throw UserError(where(index) + ": its sums are read by " +
                      std::to_string(std::count(collections.begin(), collections.end(), index)) +
                      " cpu grad_norms; the norm needs them exactly once");
  measured.assign(layout.regions.size(), 0);
  for (size_t r = 0; r < count.size(); ++r) {
    if (count[r] > 1 || (schedule.config.clip && count[r] != 1))
      throw UserError("schedule of " + schedule.model + ": the gradient of " + layout.regions[r].stage + "[" +
                      std::to_string(layout.regions[r].instance) + "] is measured by " + std::to_string(count[r]) +
                      " grad_norm instructions; the norm needs each gradient exactly once");
    measured[r] = count[r] == 1;
  }
  if (!schedule.config.clip) {
    for (const auto& [index, u] : updates)
      if (!u.on_device && measured[static_cast<size_t>(u.region)])
        throw UserError(where(index) + ": without clipping a slab is measured by its update, not by a grad_norm");
    return;
  }
  for (const auto& [index, u] : updates) {
    if (index < last_norm)
      throw UserError(where(index) + ": comes before " + where(last_norm) +
                      "; with clipping every update follows the last grad_norm");
    if (u.on_device && u.scale.buffer < 0)
      throw UserError(where(index) + ": with clipping a GPU update reads the clip factor as 'scale'");
  }
}

}  // namespace horizon::runtime
