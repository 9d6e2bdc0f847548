#include "passes/insert_recompute.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "ir/kept_activations.h"

namespace horizon::passes {
namespace {

using ir::Operand;
using ir::Range;
using ir::SchedInstr;
using ir::SchedOp;
using ir::Stream;

class Recompute {
 public:
  Recompute(const StepPlan& p, ir::Schedule& s)
      : p_(p), s_(s), K_(p.checkpoint_every), M_(p.options.micro_batches), act_(p.mb_activation_bytes()) {}

  bool run() {
    acts_ = s_.find_buffer("acts");
    if (acts_ < 0) return false;
    add_buffers();
    // Each block's mb-0 forward launch: what its recompute reads and writes.
    forward_launch_.assign(static_cast<size_t>(p_.layers), SchedInstr{});
    for (const SchedInstr& in : s_.instrs)
      if (in.op == SchedOp::launch && in.stage == "block" && in.micro_batch == 0)
        forward_launch_[static_cast<size_t>(in.instance)] = in;
    std::vector<SchedInstr> program = std::move(s_.instrs);
    s_.instrs.clear();
    for (size_t i = 0; i < program.size(); ++i) {
      SchedInstr& in = program[i];
      if (in.op == SchedOp::launch && in.stage == "block" && in.instance % K_ == 0) save(in.instance, in.micro_batch);
      if (in.op == SchedOp::bind && in.stage == "block" && starts_backward(program, i)) {
        const int64_t b = in.instance, a = b / K_ * K_;
        if (b == std::min(a + K_ - 1, p_.layers - 1)) recompute_segment(a, b);
      }
      const bool backward = in.stage == "block.bwd";
      for (Operand& op : in.operands)
        if (op.range.buffer == acts_) op.range = backward ? block_input(op.range) : forward_input(op.range);
      if (in.op == SchedOp::launch && (in.stage == "block" || backward) && in.instance < p_.kept_blocks) keep(in);
      s_.instrs.push_back(std::move(in));
    }
    // %acts becomes %x0: every operand of it now names %x0's bytes.
    ir::Buffer& x0 = s_.buffers[static_cast<size_t>(acts_)];
    x0.name = "x0";
    x0.bytes = M_ * act_;
    return true;
  }

 private:
  // %x1 after %x0 (the former %acts); %ckpt and %seg after %dx1.
  void add_buffers() {
    x_[0] = acts_;
    x_[1] = s_.insert_buffer(acts_ + 1, "x1", ir::Place::gpu, ir::BufferKind::activations, M_ * act_);
    const int dx1 = s_.find_buffer("dx1");
    if (dx1 < 0) throw std::logic_error("insert_recompute: the schedule has no %dx1");
    ckpt_ = s_.insert_buffer(dx1 + 1, "ckpt", ir::Place::gpu, ir::BufferKind::checkpoint, p_.checkpoints() * M_ * act_);
    if (K_ > 1)
      seg_ = s_.insert_buffer(ckpt_ + 1, "seg", ir::Place::gpu, ir::BufferKind::activations, (K_ - 1) * M_ * act_);
    if (p_.kept_blocks > 0)
      kept_ = s_.insert_buffer(std::max(ckpt_, seg_) + 1, "kept", ir::Place::gpu, ir::BufferKind::kept,
                               p_.kept_blocks * M_ * p_.kept_mb_bytes());
  }

  // A kept block's forward also writes its saved values to its share of
  // %kept, and its backward reads them there instead of recomputing them.
  void keep(SchedInstr& in) {
    const int64_t share = p_.kept_mb_bytes();
    const bool backward = in.stage == "block.bwd";
    in.stage = backward ? ir::kKeptBackwardStage : ir::kKeepStage;
    in.operands.push_back({"saved", Range{kept_, (in.instance * M_ + in.micro_batch) * share, share}, !backward});
  }

  // The bind at `i` is followed by a block.bwd launch (not a forward one).
  static bool starts_backward(const std::vector<SchedInstr>& program, size_t i) {
    for (size_t k = i + 1; k < program.size(); ++k)
      if (program[k].op == SchedOp::launch) return program[k].stage == "block.bwd";
    return false;
  }

  // %acts holds block l's input for micro-batch mb at (l * M + mb) * act.
  int64_t layer_of(const Range& r) const { return r.offset / act_ / M_; }
  int64_t mb_of(const Range& r) const { return r.offset / act_ % M_; }
  Range x(int64_t l, int64_t mb) const { return Range{x_[l % 2], mb * act_, act_}; }
  Range checkpoint(int64_t c, int64_t mb) const { return Range{ckpt_, (c * M_ + mb) * act_, act_}; }
  Range segment(int64_t j, int64_t mb) const { return Range{seg_, (j * M_ + mb) * act_, act_}; }
  Range forward_input(const Range& r) const { return x(layer_of(r), mb_of(r)); }

  // Where block j's input lives during the backward of its segment [a, ...]:
  // the checkpoint itself for the first block, %seg for the others.
  Range block_input(int64_t j, int64_t a, int64_t mb) const {
    return j == a ? checkpoint(a / K_, mb) : segment(j - a - 1, mb);
  }
  Range block_input(const Range& r) const {
    const int64_t j = layer_of(r);
    return block_input(j, j / K_ * K_, mb_of(r));
  }

  void save(int64_t l, int64_t mb) {
    SchedInstr in = ir::make_instr(SchedOp::save, Stream::compute, "block", l, mb);
    in.operands = {{"src", x(l, mb), false}, {"dst", checkpoint(l / K_, mb), true}};
    s_.instrs.push_back(std::move(in));
  }

  // Before the backward of segment [a, b] (at the bind of block b): the
  // forward of blocks a .. b-1 again.
  void recompute_segment(int64_t a, int64_t b) {
    for (int64_t j = a; j < b; ++j) {
      const SchedInstr& launch = forward_launch_[static_cast<size_t>(j)];
      SchedInstr bind = ir::make_instr(SchedOp::bind, Stream::compute, "block", j);
      for (const Operand& op : launch.operands)
        if (op.role == "weights") bind.operands.push_back(op);
      s_.instrs.push_back(std::move(bind));
      for (int64_t mb = 0; mb < M_; ++mb) {
        SchedInstr in = ir::make_instr(SchedOp::recompute, Stream::compute, "block", j, mb);
        // The forward launch's operands, reading and writing the segment instead.
        for (const Operand& op : launch.operands) {
          Operand o = op;
          if (o.role == "x") o.range = block_input(j, a, mb);
          if (o.role == "y") o.range = block_input(j + 1, a, mb);
          if (o.role == "positions" || o.role == "segments") o.range.offset = mb * o.range.bytes;
          in.operands.push_back(o);
        }
        s_.instrs.push_back(std::move(in));
      }
    }
  }

  const StepPlan& p_;
  ir::Schedule& s_;
  const int64_t K_, M_, act_;
  int acts_ = -1, ckpt_ = -1, seg_ = -1, kept_ = -1;
  int x_[2] = {-1, -1};
  std::vector<SchedInstr> forward_launch_;
};

}  // namespace

bool insert_recompute(const StepPlan& plan, ir::Schedule& schedule) { return Recompute(plan, schedule).run(); }

}  // namespace horizon::passes
