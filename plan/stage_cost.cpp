// The cost of one launch of a graph-IR stage: the kernel-level half of the
// cost model. GEMMs and attention are timed as a roofline (the slower of
// FLOPs at the GEMM rate, or the machine's attention rates, and bytes at
// memory bandwidth); every other op is
// memory bound. A fused elementwise group (ops sharing a `group` attribute)
// is one kernel that reads its inputs and writes only what leaves the group.
#include <algorithm>
#include <set>

#include "ir/fusion_groups.h"
#include "plan/cost_model.h"

namespace horizon::plan {
namespace {

int64_t last_dim(const ir::Stage& st, int v) { return st.values[v].type.shape.back().value; }
int64_t first_dim(const ir::Stage& st, int v) { return st.values[v].type.shape.front().value; }

// Average keys a query attends to, times S: causal attention sees half the
// S x S score matrix, a sliding window of W keys about W per query.
double attended_pairs(int64_t seq, const ir::Attrs& attrs) {
  double s = static_cast<double>(seq);
  double w = ir::attr_number_or(attrs, "window", 0);
  if (w > 0 && w < s) return s * w - w * w / 2;
  return s * s / 2;
}

}  // namespace

StageCost stage_cost(const ir::Stage& st, int64_t sequences, int64_t seq, const Machine& m) {
  auto elements = [&](int v) { return static_cast<double>(st.values[v].type.elements(sequences, seq)); };
  auto bytes = [&](int v) { return elements(v) * ir::dtype_size(st.values[v].type.dtype); };
  const double gemm_rate = m.gemm_tflops * 1e12, bandwidth = m.elementwise_gbps * 1e9;

  // Which instructions read each value, and which values leave the stage.
  std::vector<std::vector<int>> users(st.values.size());
  for (size_t i = 0; i < st.instrs.size(); ++i)
    for (int v : st.instrs[i].operands) users[v].push_back(static_cast<int>(i));
  std::vector<bool> escapes(st.values.size(), false);
  for (int v : st.outputs) escapes[v] = true;
  for (const ir::ParamGrad& g : st.grads) escapes[g.value] = true;

  StageCost c;
  std::vector<ir::InstrGroup> groups;
  std::vector<char> grouped(st.instrs.size(), 0);
  for (const ir::InstrGroup& g : ir::instruction_groups(st))
    if (g.fused) {
      groups.push_back(g);
      for (int k = g.first; k <= g.last; ++k) grouped[static_cast<size_t>(k)] = 1;
    }
  for (size_t i = 0; i < st.instrs.size(); ++i) {
    const ir::Instr& in = st.instrs[i];
    double flops = 0;
    switch (in.op) {
      case ir::Op::linear:  // x[..., K] w[N, K] -> [..., N]
        flops = 2 * elements(in.results[0]) * static_cast<double>(last_dim(st, in.operands[0]));
        break;
      case ir::Op::linear_grad_x:  // dy[..., N] w[N, K] -> dx[..., K]
        flops = 2 * elements(in.results[0]) * static_cast<double>(first_dim(st, in.operands[1]));
        break;
      case ir::Op::linear_grad_w:  // dy[..., N] x[..., K] -> dw[N, K]
        flops = 2 * elements(in.operands[0]) * static_cast<double>(last_dim(st, in.operands[1]));
        break;
      case ir::Op::linear_cross_entropy:
      case ir::Op::linear_cross_entropy_grad: {
        // The lm head GEMM (for the gradient also the dh and dw GEMMs, which
        // read the bf16 d_logits chunk), then the loss kernel between them:
        // it reads the fp32 logits chunk and writes the bf16 d_logits.
        const double logits = elements(in.operands[2]) * static_cast<double>(first_dim(st, in.operands[1]));
        const double C = static_cast<double>(last_dim(st, in.operands[0]));
        const bool grad = in.op == ir::Op::linear_cross_entropy_grad;
        flops = 2 * logits * C * (grad ? 3 : 1);
        double moved = logits * (grad ? 4 + 2 * 2 : 4);
        for (int v : in.operands) moved += bytes(v);
        for (int v : in.results) moved += bytes(v);
        c.gemm_flops += flops;
        c.gemm_seconds += std::max(flops / gemm_rate, moved / bandwidth);
        c.memory_bytes += logits * (grad ? 4 + 2 : 4);
        // Per chunk: the GEMMs and the loss kernel; then the count and the mean.
        const int64_t rows = static_cast<int64_t>(elements(in.operands[2]));
        const int64_t chunk = std::max<int64_t>(1, ir::attr_int(in.attrs, "chunk"));
        c.kernels += (rows + chunk - 1) / chunk * (grad ? 4 : 2) + 2;
        continue;
      }
      case ir::Op::attention:
      case ir::Op::attention_grad: {
        // QK^T and PV: 2 FLOPs per multiply-add, two products, per attended pair.
        double heads = ir::attr_number(in.attrs, "heads"), head_dim = ir::attr_number(in.attrs, "head_dim");
        flops = 4 * static_cast<double>(sequences) * heads * head_dim * attended_pairs(seq, in.attrs);
        if (in.op == ir::Op::attention_grad) flops *= 2.5;  // dV, dP, dS -> dQ, dK, plus the recomputed scores
        break;
      }
      default:
        break;
    }
    if (flops > 0) {
      double moved = 0;
      for (int v : in.operands) moved += bytes(v);
      for (int v : in.results) moved += bytes(v);
      // Attention runs its own kernels, at the rate the machine file measured.
      double rate = gemm_rate;
      if (in.op == ir::Op::attention && m.attention_tflops > 0) rate = m.attention_tflops * 1e12;
      if (in.op == ir::Op::attention_grad && m.attention_grad_tflops > 0) rate = m.attention_grad_tflops * 1e12;
      c.gemm_flops += flops;
      c.gemm_seconds += std::max(flops / rate, moved / bandwidth);
      ++c.kernels;
      continue;
    }
    if (grouped[i]) continue;  // counted with its group below
    double moved = 0;
    for (size_t k = 0; k < in.operands.size(); ++k) {
      int v = in.operands[k];
      // A gather reads only the rows it looks up, not the whole table.
      if (in.op == ir::Op::embedding && k == 1)
        moved += elements(in.results[0]) * ir::dtype_size(st.values[v].type.dtype);
      else
        moved += bytes(v);
    }
    for (int v : in.results) moved += bytes(v);
    c.memory_bytes += moved;
    ++c.kernels;
  }
  for (const ir::InstrGroup& g : groups) {
    std::set<int> members;
    for (int i = g.first; i <= g.last; ++i) members.insert(i);
    std::set<int> reads, writes;
    for (int i : members) {
      const ir::Instr& in = st.instrs[i];
      for (int v : in.operands) reads.insert(v);
      for (int v : in.results) {
        bool leaves = escapes[v];
        for (int u : users[v]) leaves |= members.count(u) == 0;
        if (leaves) writes.insert(v);
      }
    }
    for (int i : members)  // values made inside the group are not read from memory
      for (int v : st.instrs[i].results) reads.erase(v);
    for (int v : reads) c.memory_bytes += bytes(v);
    for (int v : writes) c.memory_bytes += bytes(v);
    ++c.kernels;
  }
  c.memory_seconds = c.memory_bytes / bandwidth;
  c.overhead_seconds = static_cast<double>(c.kernels) * m.launch_overhead_us * 1e-6;
  return c;
}

}  // namespace horizon::plan
