#include "passes/place_resident.h"

#include <map>
#include <stdexcept>

#include "passes/schedule_buffers.h"

namespace horizon::passes {
namespace {

using ir::Operand;
using ir::Range;
using ir::SchedInstr;
using ir::SchedOp;
using ir::Stream;

class PlaceResident {
 public:
  PlaceResident(const StepPlan& p, ir::Schedule& s) : p_(p), s_(s) {}

  bool run() {
    if (p_.resident_regions() == 0) return false;
    const int store = s_.find_buffer("store");
    grads_ = s_.find_buffer("grads");
    const std::vector<int64_t> store_offset = store_offsets(p_);
    std::map<int64_t, int> region_at_store, region_at_grads;
    int64_t all = 0;  // the plain schedule's %grads holds every region in turn
    for (size_t r = 0; r < p_.params.regions.size(); ++r) {
      region_at_store[store_offset[r]] = static_cast<int>(r);
      region_at_grads[all] = static_cast<int>(r);
      all += p_.params.regions[r].elements * 4;
    }
    const std::vector<int64_t> kept = kept_grad_offsets(p_);
    ResidentBuffers rb(p_, s_);
    rb_ = &rb;

    std::vector<SchedInstr> program = std::move(s_.instrs);
    s_.instrs.clear();
    bool clip_steps_seen = false;
    for (SchedInstr& in : program) {
      // Weights bound from the store, and gradients in %grads.
      int resident = -1;
      for (Operand& op : in.operands) {
        if (op.range.buffer == store && op.role == "weights") {
          const int r = region_at_store.at(op.range.offset);
          if (p_.is_resident(r)) op.range = Range{rb.resident, rb.planes(r).offset, op.range.bytes};
        } else if (op.range.buffer == store && op.role == "params") {
          const int r = region_at_store.at(op.range.offset);
          if (p_.is_resident(r)) resident = r;
        } else if (op.range.buffer == grads_) {
          const int r = region_at_grads.at(op.range.offset);
          if (p_.is_resident(r)) {
            op.range = rb.grad(r);
            resident = r;
          } else {
            op.range.offset = kept[static_cast<size_t>(r)];
          }
        }
      }
      const bool cpu_norm = in.op == SchedOp::grad_norm && in.stream == Stream::cpu;
      const bool cpu_update = in.op == SchedOp::optimizer_step && in.stream == Stream::cpu;
      if (p_.clip && cpu_update && !clip_steps_seen) {
        // The deferred updates follow the backward: the GPU's shares are all in.
        collect_norms();
        clip_steps_seen = true;
      }
      if (resident >= 0 && cpu_norm) {
        device_grad_norm(resident);
      } else if (resident >= 0 && cpu_update) {
        if (!p_.clip) device_grad_norm(resident);
        device_update(resident);
      } else {
        s_.instrs.push_back(std::move(in));
      }
    }
    if (!p_.clip) collect_norms();
    // %grads keeps the streamed regions only.
    if (grads_ >= 0) {
      if (kept.back() > 0)
        s_.buffers[static_cast<size_t>(grads_)].bytes = kept.back();
      else
        s_.remove_buffer(grads_);
    }
    return true;
  }

 private:
  // A resident region's per-tensor sums of squares, measured by the GPU
  // into host memory, where the CPU collects them into the global norm.
  void device_grad_norm(int r) {
    SchedInstr in = instr(SchedOp::grad_norm, Stream::compute, r);
    in.operands = {{"grad", rb_->grad(r), false}, {"norms", rb_->norm_shares(r), true}};
    s_.instrs.push_back(std::move(in));
  }

  void device_update(int r) {
    SchedInstr in = instr(SchedOp::optimizer_step, Stream::compute, r);
    in.operands.push_back({"grad", rb_->grad(r), false});
    if (rb_->clip_scale >= 0) in.operands.push_back({"scale", rb_->whole(rb_->clip_scale), false});
    in.operands.push_back({"params", rb_->planes(r), true});
    s_.instrs.push_back(std::move(in));
  }

  // The CPU's share of the norm from what the GPU measured; with clipping it
  // is the last grad_norm and hands the clip factor to the GPU's updates.
  void collect_norms() {
    SchedInstr in;
    in.op = SchedOp::grad_norm;
    in.stream = Stream::cpu;
    in.operands.push_back({"norms", rb_->whole(rb_->norms), false});
    if (rb_->clip_scale >= 0) in.operands.push_back({"scale", rb_->whole(rb_->clip_scale), true});
    s_.instrs.push_back(std::move(in));
  }

  SchedInstr instr(SchedOp op, Stream stream, int r) const {
    const auto& region = p_.params.regions[static_cast<size_t>(r)];
    SchedInstr in;
    in.op = op;
    in.stream = stream;
    in.stage = region.stage;
    in.instance = region.instance;
    return in;
  }

  const StepPlan& p_;
  ir::Schedule& s_;
  int grads_ = -1;
  const ResidentBuffers* rb_ = nullptr;
};

}  // namespace

bool place_resident(const StepPlan& plan, ir::Schedule& schedule) { return PlaceResident(plan, schedule).run(); }

}  // namespace horizon::passes
