#include "passes/insert_offload.h"

#include <map>
#include <set>
#include <stdexcept>
#include <string>

#include "passes/schedule_buffers.h"

namespace horizon::passes {
namespace {

// block.bwd, or block.kept.bwd for a block that kept its activations.
bool block_backward(const std::string& stage) {
  return ir::is_backward_stage(stage) && ir::base_stage_name(stage) == "block";
}

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
    const bool checkpoints = move_checkpoints();
    return offload_gradients() || checkpoints;
  }

 private:
  bool move_checkpoints() {
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
      if (in.op == SchedOp::recompute || (in.op == SchedOp::launch && block_backward(in.stage)))
        for (Operand& op : in.operands) op.range = host_layout(op.range, in.instance / K_ * K_);
      s_.instrs.push_back(std::move(in));
    }
    return true;
  }

  // ---- gradients ----
  int region_of(const std::string& stage, int64_t instance) const {
    return p_.params.region_of(ir::base_stage_name(stage), instance);
  }
  int64_t grad_elements(int r) const { return p_.params.regions[static_cast<size_t>(r)].elements; }
  ir::Range whole(int buffer) const { return Range{buffer, 0, s_.buffers[static_cast<size_t>(buffer)].bytes}; }

  // %grads (every streamed region's gradient) becomes %gacc0 and %gacc1,
  // used in turn by the backward stages, and %slab_tied and the slabs join
  // before %arena: with clipping one per streamed region, else two in turn.
  void add_gradient_buffers() {
    const int64_t slot = p_.streamed_slot_elements() * 4;
    ir::Buffer& gacc0 = s_.buffers[static_cast<size_t>(grads_)];
    gacc0.name = "gacc0";
    gacc0.bytes = slot;
    gacc_[0] = grads_;
    gacc_[1] = s_.insert_buffer(grads_ + 1, "gacc1", ir::Place::gpu, ir::BufferKind::gradient, slot);
    gacc_tied_ = s_.find_buffer("gacc_tied");
    if (gacc_tied_ >= 0)
      slab_tied_ = s_.insert_buffer(gacc_tied_ + 1, "slab_tied", ir::Place::host, ir::BufferKind::grad_slab,
                                    p_.grad_slab_bytes(s_.buffers[static_cast<size_t>(gacc_tied_)].bytes / 4));
    int at = s_.find_buffer("arena");
    if (at < 0) throw std::logic_error("insert_offload: the schedule has no %arena");
    slab_of_.assign(p_.params.regions.size(), -1);
    if (p_.clip) {
      for (size_t r = 0; r < p_.params.regions.size(); ++r)
        if (!p_.is_resident(static_cast<int>(r)))
          slab_of_[r] = s_.insert_buffer(at++, "slab" + std::to_string(r), ir::Place::host, ir::BufferKind::grad_slab,
                                         p_.grad_slab_bytes(grad_elements(static_cast<int>(r))));
    } else {
      for (int k = 0; k < 2; ++k)
        rotating_[k] = s_.insert_buffer(at++, "slab" + std::to_string(k), ir::Place::host, ir::BufferKind::grad_slab,
                                        p_.grad_slab_bytes(p_.streamed_slot_elements()));
    }
  }

  // Each streamed region's gradient accumulates in the accumulator its
  // backward stage's turn gives it and goes to the host right after the
  // last micro-batch (its share of the tied gradient too), where the CPU's
  // norm and update read it.
  bool offload_gradients() {
    grads_ = s_.find_buffer("grads");
    if (grads_ < 0) return false;
    const std::vector<int64_t> kept = kept_grad_offsets(p_);
    std::map<int64_t, int> region_at;  // %grads offset -> region
    for (size_t r = 0; r < p_.params.regions.size(); ++r)
      if (kept[r] >= 0) region_at[kept[r]] = static_cast<int>(r);
    add_gradient_buffers();
    s_.config.bf16_gradients = p_.options.bf16_gradients;
    std::vector<SchedInstr> program = std::move(s_.instrs);
    s_.instrs.clear();
    int q = 0;  // the accumulator in turn
    int64_t next_slab = 0;
    for (SchedInstr& in : program) {
      const bool backward = in.op == SchedOp::launch && ir::is_backward_stage(in.stage);
      const bool host = in.stream == Stream::cpu && !in.stage.empty() &&
                        (in.op == SchedOp::grad_norm || in.op == SchedOp::optimizer_step);
      int streamed = -1;
      for (Operand& op : in.operands) {
        if (op.range.buffer == grads_) {
          streamed = region_at.at(op.range.offset);
          if (backward) op.range = Range{gacc_[q], 0, op.range.bytes};
          if (host)
            op.range = Range{slab_of_[static_cast<size_t>(streamed)], 0, p_.grad_slab_bytes(grad_elements(streamed))};
        } else if (host && gacc_tied_ >= 0 && op.range.buffer == gacc_tied_) {
          op.range = whole(slab_tied_);
        }
      }
      const bool last = backward && in.micro_batch == p_.options.micro_batches - 1;
      const std::string stage = in.stage;
      const int64_t instance = in.instance;
      s_.instrs.push_back(std::move(in));
      if (!last) continue;
      if (streamed >= 0) {
        if (!p_.clip) slab_of_[static_cast<size_t>(streamed)] = rotating_[next_slab++ % 2];
        const int slab = slab_of_[static_cast<size_t>(streamed)];
        offload(p_.params.regions[static_cast<size_t>(streamed)].stage, instance, gacc_[q], grad_elements(streamed),
                slab);
        if (stage == "head.bwd" && gacc_tied_ >= 0)
          offload("head", 0, gacc_tied_, s_.buffers[static_cast<size_t>(gacc_tied_)].bytes / 4, slab_tied_);
      }
      q ^= 1;
    }
    return true;
  }

  // The first `elements` gradients of accumulator `gacc` into `slab`; in
  // bf16, cast in place on the compute stream first, and half the bytes cross.
  void offload(const std::string& stage, int64_t instance, int gacc, int64_t elements, int slab) {
    const int64_t bytes = p_.grad_slab_bytes(elements);
    if (p_.options.bf16_gradients) {
      SchedInstr cast = ir::make_instr(SchedOp::cast, Stream::compute, stage, instance);
      cast.operands = {{"src", Range{gacc, 0, elements * 4}, false}, {"dst", Range{gacc, 0, bytes}, true}};
      s_.instrs.push_back(std::move(cast));
    }
    SchedInstr in = ir::make_instr(SchedOp::offload, Stream::d2h, stage, instance);
    in.operands = {{"src", Range{gacc, 0, bytes}, false}, {"dst", Range{slab, 0, bytes}, true}};
    s_.instrs.push_back(std::move(in));
  }

  // ---- checkpoints ----
  // The bind at `i` is followed by the recompute or the backward of its block.
  static bool opens_backward(const std::vector<SchedInstr>& program, size_t i) {
    for (size_t k = i + 1; k < program.size(); ++k) {
      const SchedInstr& next = program[k];
      if (next.op == SchedOp::recompute) return next.instance == program[i].instance;
      if (next.op == SchedOp::launch) return block_backward(next.stage) && next.instance == program[i].instance;
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
      in.operands = {{"src", Range{ckpt_, (a / K_ * M_ + mb) * act_, act_}, false},
                     {"dst", segment(segment_base(a), mb), true}};
      s_.instrs.push_back(std::move(in));
    }
  }

  const StepPlan& p_;
  ir::Schedule& s_;
  const int64_t K_, M_, act_;
  int ckpt_ = -1, seg_ = -1;
  int grads_ = -1, gacc_tied_ = -1, slab_tied_ = -1;
  int gacc_[2] = {-1, -1}, rotating_[2] = {-1, -1};
  std::vector<int> slab_of_;  // per streamed region, the slab its gradient lands in
};

}  // namespace

bool insert_offload(const StepPlan& plan, ir::Schedule& schedule) { return Offload(plan, schedule).run(); }

}  // namespace horizon::passes
