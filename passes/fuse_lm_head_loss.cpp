#include "passes/fuse_lm_head_loss.h"

#include <algorithm>
#include <set>

namespace horizon::passes {
namespace {

using ir::Op;

/// The instructions of one lm head loss, by index; -1 where absent.
struct Match {
  int linear = -1, loss = -1, loss_grad = -1, grad_x = -1, grad_w = -1;
};

class Matcher {
 public:
  explicit Matcher(const ir::Stage& s) : s_(s), users_(s.values.size()), escapes_(s.values.size(), false) {
    for (size_t i = 0; i < s.instrs.size(); ++i)
      for (int v : s.instrs[i].operands) users_[v].push_back(static_cast<int>(i));
    for (int v : s.outputs) escapes_[v] = true;
    for (const ir::ParamGrad& g : s.grads) escapes_[g.value] = true;
  }

  /// The lm head loss rooted at linear instruction `i`, or no match (linear < 0).
  Match at(int i) const {
    Match m;
    const ir::Instr& lin = s_.instrs[i];
    const int logits = lin.results[0], h = lin.operands[0], w = lin.operands[1];
    if (escapes_[logits]) return {};
    for (int u : users_[logits]) {
      const ir::Instr& in = s_.instrs[u];
      // Every reader must take the logits as its first operand only.
      if (in.operands[0] != logits || std::count(in.operands.begin(), in.operands.end(), logits) != 1) return {};
      if (in.op == Op::cross_entropy && m.loss < 0)
        m.loss = u;
      else if (in.op == Op::cross_entropy_grad && m.loss_grad < 0)
        m.loss_grad = u;
      else
        return {};  // another reader, or a second loss
    }
    if (m.loss < 0) return {};
    const int targets = s_.instrs[m.loss].operands[1];
    if (m.loss_grad >= 0) {
      if (s_.instrs[m.loss_grad].operands[1] != targets) return {};
      const int d_logits = s_.instrs[m.loss_grad].results[0];
      if (escapes_[d_logits]) return {};
      for (int u : users_[d_logits]) {
        const ir::Instr& in = s_.instrs[u];
        if (in.operands[0] != d_logits) return {};
        if (in.op == Op::linear_grad_x && in.operands[1] == w && m.grad_x < 0)
          m.grad_x = u;
        else if (in.op == Op::linear_grad_w && in.operands[1] == h && m.grad_w < 0)
          m.grad_w = u;
        else
          return {};
      }
      if (m.grad_x < 0 || m.grad_w < 0) return {};
    }
    m.linear = i;
    return m;
  }

 private:
  const ir::Stage& s_;
  std::vector<std::vector<int>> users_;
  std::vector<bool> escapes_;
};

/// Replaces the instructions of `m` by one fused instruction. It goes where
/// the first of its results used to be defined: its operands are defined
/// before the linear, every reader of its results after that point.
void rewrite(ir::Stage& s, const Match& m) {
  const ir::Instr& lin = s.instrs[m.linear];
  const ir::Instr& loss = s.instrs[m.loss];
  const int64_t vocab = s.values[lin.operands[1]].type.shape[0].value;
  ir::Instr fused{Op::linear_cross_entropy,
                  {lin.operands[0], lin.operands[1], loss.operands[1]},
                  {loss.results[0]},
                  {{"chunk", lm_head_chunk_rows(vocab)}}};
  std::set<int> gone = {m.linear, m.loss};
  int at = m.loss;
  if (m.loss_grad >= 0) {
    fused.op = Op::linear_cross_entropy_grad;
    fused.results.push_back(s.instrs[m.grad_x].results[0]);
    fused.results.push_back(s.instrs[m.grad_w].results[0]);
    gone.insert({m.loss_grad, m.grad_x, m.grad_w});
    at = std::min({m.loss, m.grad_x, m.grad_w});
  }
  std::vector<ir::Instr> instrs;
  for (int i = 0; i < static_cast<int>(s.instrs.size()); ++i) {
    if (i == at) instrs.push_back(fused);
    if (!gone.count(i)) instrs.push_back(std::move(s.instrs[i]));
  }
  s.instrs = std::move(instrs);
  s.drop_undefined_results();  // the logits and d_logits
}

bool fuse_in_stage(ir::Stage& s) {
  bool changed = false;
  // Each rewrite renumbers instructions and values: match again from the start.
  for (bool again = true; again;) {
    again = false;
    const Matcher matcher(s);
    for (int i = 0; i < static_cast<int>(s.instrs.size()) && !again; ++i) {
      if (s.instrs[i].op != Op::linear) continue;
      const Match m = matcher.at(i);
      if (m.linear < 0) continue;
      rewrite(s, m);
      changed = again = true;
    }
  }
  return changed;
}

}  // namespace

int64_t lm_head_chunk_rows(int64_t vocab) {
  const int64_t rows = kLossChunkBytes / (6 * std::max<int64_t>(vocab, 1));
  return std::max<int64_t>(16, rows / 16 * 16);
}

bool fuse_lm_head_loss(ir::Module& m) {
  bool changed = false;
  for (ir::Stage& s : m.stages) changed |= fuse_in_stage(s);
  return changed;
}

}  // namespace horizon::passes
