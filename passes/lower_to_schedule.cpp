#include "passes/lower_to_schedule.h"

#include <algorithm>

#include "passes/schedule_buffers.h"

namespace horizon::passes {
namespace {

using ir::Operand;
using ir::Range;
using ir::SchedInstr;
using ir::SchedOp;
using ir::Stream;

class Emitter {
 public:
  explicit Emitter(const StepPlan& p) : p_(p), buf_(p, s_) {}

  ir::Schedule run() {
    s_.model = p_.graph->name;
    s_.config = {p_.options.batch, p_.options.seq, p_.options.micro_batches, p_.checkpoint_every,
                 p_.slots,         p_.prefetch,    p_.host_checkpoints,      p_.clip};
    s_.arena_plans = p_.arena_plans;
    forward();
    backward();
    if (p_.clip) {
      // Forward order (regions are numbered embedding, blocks, head): the
      // executor may run these while the next step begins, whose forward
      // then waits for each layer's update just before it streams it in.
      std::sort(update_order_.begin(), update_order_.end());
      for (int r : update_order_) host_optimizer_step(r);
    }
    return std::move(s_);
  }

 private:
  static Operand read(const char* role, Range r) { return Operand{role, r, false}; }
  static Operand write(const char* role, Range r) { return Operand{role, r, true}; }

  int region(const std::string& stage, int64_t instance) const { return p_.params.region_of(stage, instance); }

  // Binds region r's weights for its next use: its bf16 weights (the w_hi
  // plane) in the store, which place_resident replaces with its GPU planes
  // or insert_buffer_swap with a slot it streams them into.
  Range weights(int r) {
    const auto& region = p_.params.regions[static_cast<size_t>(r)];
    const Range w{buf_.store, buf_.store_offset[static_cast<size_t>(r)], region.elements * 2};
    SchedInstr bind = ir::make_instr(SchedOp::bind, Stream::compute, region.stage, region.instance);
    bind.operands.push_back(read("weights", w));
    emit(bind);
    return w;
  }

  void emit(SchedInstr in) { s_.instrs.push_back(std::move(in)); }

  Operand arena() const { return write("arena", buf_.whole(buf_.arena)); }

  // A block's packed documents (micro-batch mb's rows), when the model has them.
  void add_documents(std::vector<Operand>& operands, int64_t mb) const {
    if (buf_.segments < 0) return;
    operands.push_back(read("positions", buf_.batch(buf_.positions, mb)));
    operands.push_back(read("segments", buf_.batch(buf_.segments, mb)));
  }

  // ---- forward ----
  void forward() {
    const int64_t M = p_.options.micro_batches;
    Range w = weights(region("embed", 0));
    for (int64_t mb = 0; mb < M; ++mb) {
      SchedInstr in = ir::make_instr(SchedOp::launch, Stream::compute, "embed", 0, mb);
      in.operands = {read("weights", w), read("tokens", buf_.batch(buf_.tokens, mb)), write("y", buf_.kept(0, mb)),
                     arena()};
      emit(in);
    }
    for (int64_t l = 0; l < p_.layers; ++l) {
      w = weights(region("block", l));
      for (int64_t mb = 0; mb < M; ++mb) {
        SchedInstr in = ir::make_instr(SchedOp::launch, Stream::compute, "block", l, mb);
        in.operands = {read("weights", w), read("x", buf_.kept(l, mb))};
        add_documents(in.operands, mb);
        in.operands.insert(in.operands.end(), {write("y", buf_.kept(l + 1, mb)), arena()});
        emit(in);
      }
    }
  }

  // ---- backward ----
  void backward_launch(const std::string& stage, int64_t instance, Range w, std::vector<Operand> data) {
    const int64_t M = p_.options.micro_batches;
    const int r = region(stage == "head.bwd" ? "head" : stage == "embed.bwd" ? "embed" : "block", instance);
    for (int64_t mb = 0; mb < M; ++mb) {
      SchedInstr in = ir::make_instr(SchedOp::launch, Stream::compute, stage, instance, mb);
      in.accumulate = mb > 0;
      in.operands = {read("weights", w)};
      for (Operand& o : data) {
        Operand op = o;
        // Data operands are given for micro-batch 0; a per-row buffer's shares are padded.
        if (op.role == "reference" || op.role == "logps")
          op.range = buf_.rows(o.range.buffer, mb);
        else if (op.role == "x" || op.role == "dy" || op.role == "dx" || op.role == "tokens" || op.role == "targets" ||
                 op.role == "loss" || op.role == "positions" || op.role == "segments")
          op.range.offset = o.range.offset + mb * o.range.bytes;
        in.operands.push_back(op);
      }
      const Range grad = buf_.kept_grad(r);
      if (in.accumulate) in.operands.push_back(read("grad", grad));
      in.operands.push_back(write("grad", grad));
      if (stage == "head.bwd" && p_.tied_elements > 0) {
        if (in.accumulate) in.operands.push_back(read("grad_tied", buf_.whole(buf_.gacc_tied)));
        in.operands.push_back(write("grad_tied", buf_.whole(buf_.gacc_tied)));
      }
      in.operands.push_back(arena());
      emit(in);
    }
    update_order_.push_back(r);
    // insert_offload moves the gradient to the host when its last micro-batch is done.
    if (p_.clip)
      grad_norm(r);
    else
      host_optimizer_step(r);
  }

  // The region's share of the global norm, measured as soon as its slab
  // lands (the CPU is idle in the backward when clipping): only the last
  // share is left between the backward's end and the first update.
  void grad_norm(int r) {
    const auto& region = p_.params.regions[static_cast<size_t>(r)];
    SchedInstr in = ir::make_instr(SchedOp::grad_norm, Stream::cpu, region.stage, region.instance);
    in.operands.push_back(read("grad", buf_.kept_grad(r)));
    if (buf_.gacc_tied >= 0 && r == region_of_tied())
      in.operands.push_back(read("grad_tied", buf_.whole(buf_.gacc_tied)));
    emit(in);
  }

  void host_optimizer_step(int r) {
    const auto& region = p_.params.regions[static_cast<size_t>(r)];
    SchedInstr in = ir::make_instr(SchedOp::optimizer_step, Stream::cpu, region.stage, region.instance);
    in.operands.push_back(read("grad", buf_.kept_grad(r)));
    if (buf_.gacc_tied >= 0 && r == region_of_tied())
      in.operands.push_back(read("grad_tied", buf_.whole(buf_.gacc_tied)));
    in.operands.push_back(write(
        "params", Range{buf_.store, buf_.store_offset[static_cast<size_t>(r)], region.elements * p_.bytes_per_param}));
    emit(in);
  }

  int region_of_tied() const {
    const auto& head = p_.params.regions[static_cast<size_t>(region("head", 0))];
    for (int t : head.bound)
      if (p_.params.tensors[static_cast<size_t>(t)].region != region("head", 0))
        return p_.params.tensors[static_cast<size_t>(t)].region;
    return -1;
  }

  void backward() {
    const int64_t L = p_.layers;
    int d = 0;  // dx buffer in rotation
    Range w = weights(region("head", 0));
    std::vector<Operand> head{read("x", buf_.kept(L, 0)), read("targets", buf_.batch(buf_.targets, 0))};
    if (buf_.reference >= 0) head.push_back(read("reference", buf_.rows(buf_.reference, 0)));
    head.insert(head.end(), {write("loss", Range{buf_.loss, 0, 4}), write("dx", buf_.act(buf_.dx[d], 0))});
    if (buf_.logps >= 0) head.push_back(write("logps", buf_.rows(buf_.logps, 0)));
    backward_launch("head.bwd", 0, w, head);
    for (int64_t j = L - 1; j >= 0; --j) {
      w = weights(region("block", j));
      std::vector<Operand> data = {read("x", buf_.kept(j, 0))};
      add_documents(data, 0);
      data.insert(data.end(), {read("dy", buf_.act(buf_.dx[d], 0)), write("dx", buf_.act(buf_.dx[d ^ 1], 0))});
      backward_launch("block.bwd", j, w, data);
      d ^= 1;
    }
    w = weights(region("embed", 0));
    backward_launch("embed.bwd", 0, w,
                    {read("tokens", buf_.batch(buf_.tokens, 0)), read("dy", buf_.act(buf_.dx[d], 0))});
  }

  const StepPlan& p_;
  ir::Schedule s_;
  ScheduleBuffers buf_;
  std::vector<int> update_order_;
};

}  // namespace

ir::Schedule emit_schedule(const StepPlan& plan) {
  // The plain schedule streams every region; place_resident keeps some.
  StepPlan streamed = plan;
  streamed.resident.clear();
  return Emitter(streamed).run();
}

}  // namespace horizon::passes
