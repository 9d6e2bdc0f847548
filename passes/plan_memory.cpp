#include "passes/plan_memory.h"

#include <algorithm>

#include "ir/fusion_groups.h"
#include "ir/kept_activations.h"

namespace horizon::passes {
namespace {

struct Live {
  int value;  // -1: the scratch of instruction `begin`
  int64_t bytes;
  int begin, end;  // instruction indices, inclusive
};

int64_t align(int64_t n) { return (n + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment; }

}  // namespace

LossChunkScratch loss_chunk_scratch(const ir::Stage& s, const ir::Instr& in, int64_t batch, int64_t seq) {
  LossChunkScratch c;
  if (in.op != ir::Op::linear_cross_entropy && in.op != ir::Op::linear_cross_entropy_grad) return c;
  const ir::TensorType& h = s.values[in.operands[0]].type;
  const int64_t C = h.shape.back().value, N = h.elements(batch, seq) / C;
  const int64_t V = s.values[in.operands[1]].type.shape[0].value;
  c.rows = std::min(ir::attr_int(in.attrs, "chunk"), N);
  c.bytes = align(c.rows * V * 4);
  if (in.op == ir::Op::linear_cross_entropy_grad) {
    c.d_logits = c.bytes;
    c.bytes += align(c.rows * V * 2);
  }
  return c;
}

ir::ArenaPlan plan_stage_arena(const ir::Stage& s, int64_t batch, int64_t seq) {
  const int n = static_cast<int>(s.instrs.size());
  // Fused groups execute as one step: map each instruction to its group's span.
  std::vector<int> first(n), last(n);
  for (const ir::InstrGroup& g : ir::instruction_groups(s))
    for (int k = g.first; k <= g.last; ++k) first[k] = g.first, last[k] = g.last;
  std::vector<bool> external(s.values.size(), false);
  for (int v : s.outputs) external[v] = true;
  for (const ir::ParamGrad& g : s.grads) external[g.value] = true;
  std::vector<int> def(s.values.size(), -1), use(s.values.size(), -1);
  for (int i = 0; i < n; ++i) {
    for (int v : s.instrs[i].results) def[v] = i;
    for (int v : s.instrs[i].operands) use[v] = i;
  }

  std::vector<Live> lives;
  for (size_t v = 0; v < s.values.size(); ++v) {
    if (def[v] < 0 || external[v]) continue;
    const int d = def[v];
    const bool grouped = last[d] > first[d];
    // A group-internal value that nothing outside its group reads is never materialized.
    if (grouped && (use[v] < 0 || use[v] <= last[d])) continue;
    const int end = use[v] < 0 ? last[d] : last[use[v]];
    lives.push_back({static_cast<int>(v), align(s.values[v].type.elements(batch, seq) * 4), first[d], end});
  }
  bool any_scratch = false;
  for (int i = 0; i < n; ++i)
    if (const int64_t bytes = loss_chunk_scratch(s, s.instrs[i], batch, seq).bytes; bytes > 0) {
      lives.push_back({-1, bytes, i, i});
      any_scratch = true;
    }
  std::sort(lives.begin(), lives.end(), [](const Live& a, const Live& b) {
    return a.bytes != b.bytes ? a.bytes > b.bytes : a.begin != b.begin ? a.begin < b.begin : a.value < b.value;
  });

  ir::ArenaPlan plan;
  plan.stage = s.name;
  plan.offsets.assign(s.values.size(), -1);
  plan.sizes.assign(s.values.size(), 0);
  if (any_scratch) {
    plan.scratch_offsets.assign(s.instrs.size(), -1);
    plan.scratch_sizes.assign(s.instrs.size(), 0);
  }
  std::vector<int64_t> offset_of(lives.size());
  for (size_t k = 0; k < lives.size(); ++k) {
    const Live& l = lives[k];
    // Lowest offset that clears every placed value whose live range overlaps.
    std::vector<std::pair<int64_t, int64_t>> busy;
    for (size_t p = 0; p < k; ++p)
      if (lives[p].begin <= l.end && l.begin <= lives[p].end)
        busy.push_back({offset_of[p], offset_of[p] + lives[p].bytes});
    std::sort(busy.begin(), busy.end());
    int64_t offset = 0;
    for (const auto& [b, e] : busy) {
      if (offset + l.bytes <= b) break;
      offset = std::max(offset, e);
    }
    offset_of[k] = offset;
    if (l.value >= 0) {
      plan.offsets[l.value] = offset;
      plan.sizes[l.value] = l.bytes;
    } else {
      plan.scratch_offsets[l.begin] = offset;
      plan.scratch_sizes[l.begin] = l.bytes;
    }
    plan.bytes = std::max(plan.bytes, offset + l.bytes);
  }
  return plan;
}

bool plan_memory(StepPlan& plan) {
  std::vector<ir::ArenaPlan> plans;
  int64_t bytes = 0;
  for (const char* name :
       {"embed", "block", "head.bwd", "block.bwd", "embed.bwd", ir::kKeepStage, ir::kKeptBackwardStage}) {
    const ir::Stage* stage = plan.graph->find_stage(name);
    // The kept stages only when blocks may keep their activations (plan_kept_activations).
    const bool kept = std::string(name) == ir::kKeepStage || std::string(name) == ir::kKeptBackwardStage;
    if (!stage || (kept && plan.options.keep_activations == 0)) continue;
    plans.push_back(plan_stage_arena(*stage, plan.mb_sequences, plan.options.seq));
    bytes = std::max(bytes, plans.back().bytes);
  }
  bool changed = bytes != plan.arena_bytes || plans.size() != plan.arena_plans.size();
  plan.arena_plans = std::move(plans);
  plan.arena_bytes = bytes;
  return changed;
}

}  // namespace horizon::passes
