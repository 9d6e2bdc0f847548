#include "passes/insert_offload.h"

#include <set>
#include <string>

namespace horizon::passes {
namespace {

using ir::Operand;
using ir::Range;
using ir::SchedInstr;
using ir::SchedOp;
using ir::Stream;

class Offload {
 public:
  Offload(const StepPlan& p, ir::Schedule& s)
      : p_(p), s_(s), K_(p.checkpoint_every), M_(p.options.micro_batches), act_(p.mb_activation_bytes()) {}

  bool run() {
    ckpt_ = s_.find_buffer("ckpt");
    if (!p_.host_checkpoints || ckpt_ < 0 || s_.buffers[static_cast<size_t>(ckpt_)].place == ir::Place::host)
      return false;
    s_.buffers[static_cast<size_t>(ckpt_)].place = ir::Place::host;
    const int64_t seg_bytes = 2 * K_ * M_ * act_;
    seg_ = s_.find_buffer("seg");
    if (seg_ < 0)
      seg_ = s_.insert_buffer(ckpt_ + 1, "seg", ir::Place::gpu, ir::BufferKind::activations, seg_bytes);
    else
      s_.buffers[static_cast<size_t>(seg_)].bytes = seg_bytes;

    std::vector<SchedInstr> program = std::move(s_.instrs);
    s_.instrs.clear();
    std::set<int64_t> restored;
    for (size_t i = 0; i < program.size(); ++i) {
      SchedInstr& in = program[i];
      if (in.op == SchedOp::save) in.stream = Stream::d2h;
      if (in.op == SchedOp::bind && in.stage == "block" && opens_backward(program, i)) {
        const int64_t a = in.instance / K_ * K_;
        if (restored.insert(a).second) restore(a);
      }
      if (in.op == SchedOp::recompute || (in.op == SchedOp::launch && in.stage == "block.bwd"))
        for (Operand& op : in.operands) op.range = host_layout(op.range, in.instance / K_ * K_);
      s_.instrs.push_back(std::move(in));
    }
    return true;
  }

 private:
  // The bind at `i` is followed by the recompute or the backward of its block.
  static bool opens_backward(const std::vector<SchedInstr>& program, size_t i) {
    for (size_t k = i + 1; k < program.size(); ++k) {
      const SchedInstr& next = program[k];
      if (next.op == SchedOp::recompute) return next.instance == program[i].instance;
      if (next.op == SchedOp::launch) return next.stage == "block.bwd" && next.instance == program[i].instance;
    }
    return false;
  }

  Range segment(int64_t j, int64_t mb) const { return Range{seg_, (j * M_ + mb) * act_, act_}; }
  int64_t segment_base(int64_t a) const { return (a / K_) % 2 * K_; }

  // insert_recompute's layout (block a's input in its checkpoint, block j's
  // after it in %seg slot j - a - 1) -> all K in a half of %seg.
  Range host_layout(const Range& r, int64_t a) const {
    if (r.buffer != ckpt_ && r.buffer != seg_) return r;
    const int64_t slot = r.offset / act_ / M_, mb = r.offset / act_ % M_;
    const int64_t j = r.buffer == ckpt_ ? a : a + slot + 1;
    return segment(segment_base(a) + j - a, mb);
  }

  void restore(int64_t a) {
    for (int64_t mb = 0; mb < M_; ++mb) {
      SchedInstr in;
      in.op = SchedOp::restore;
      in.stream = Stream::h2d;
      in.stage = "block";
      in.instance = a;
      in.micro_batch = mb;
      in.operands = {{"src", Range{ckpt_, (a / K_ * M_ + mb) * act_, act_}, false}, {"dst", segment(segment_base(a), mb), true}};
      s_.instrs.push_back(std::move(in));
    }
  }

  const StepPlan& p_;
  ir::Schedule& s_;
  const int64_t K_, M_, act_;
  int ckpt_ = -1, seg_ = -1;
};

}  // namespace

bool insert_offload(const StepPlan& plan, ir::Schedule& schedule) { return Offload(plan, schedule).run(); }

}  // namespace horizon::passes
