#include "passes/insert_buffer_swap.h"

#include <limits>
#include <map>
#include <stdexcept>
#include <string>

#include "passes/schedule_buffers.h"

namespace horizon::passes {
namespace {

using ir::Operand;
using ir::Range;
using ir::SchedInstr;
using ir::SchedOp;

class BufferSwap {
 public:
  BufferSwap(const StepPlan& p, ir::Schedule& s) : p_(p), s_(s), store_offset_(store_offsets(p)) {}

  bool run() {
    store_ = s_.find_buffer("store");
    if (store_ < 0) return false;
    std::map<int64_t, int> region_at;
    for (size_t r = 0; r < p_.params.regions.size(); ++r) region_at[store_offset_[r]] = static_cast<int>(r);
    for (const SchedInstr& in : s_.instrs)
      if (is_store_bind(in)) uses_.push_back(region_at.at(in.operands[0].range.offset));
    if (uses_.empty()) return false;
    const int64_t slot_elements = p_.streamed_slot_elements();
    for (int64_t j = 0; j < p_.slots; ++j)
      slots_.push_back(s_.insert_buffer(store_ + 1 + static_cast<int>(j), "slot" + std::to_string(j), ir::Place::gpu,
                                        ir::BufferKind::weight_slot, slot_elements * 2));
    slot_of_use_.assign(uses_.size(), -1);
    slot_region_.assign(static_cast<size_t>(p_.slots), -1);
    slot_last_use_.assign(static_cast<size_t>(p_.slots), -1);

    std::map<int64_t, Range> bound;  // store offset of a region's weights -> the slot range they are bound in
    size_t use = 0;
    for (SchedInstr& in : s_.instrs) {
      if (is_store_bind(in)) {
        const Range w = acquire(use++);
        bound[in.operands[0].range.offset] = w;
        in.operands[0].range = w;
      } else {
        for (Operand& op : in.operands)
          if (op.role == "weights" && op.range.buffer == store_) op.range = bound.at(op.range.offset);
      }
      out_.push_back(std::move(in));
    }
    s_.instrs = std::move(out_);
    return true;
  }

 private:
  bool is_store_bind(const SchedInstr& in) const {
    return in.op == SchedOp::bind && in.operands.size() == 1 && in.operands[0].range.buffer == store_;
  }

  size_t next_use(int region, size_t from) const {
    for (size_t i = from; i < uses_.size(); ++i)
      if (uses_[i] == region) return i;
    return std::numeric_limits<size_t>::max();
  }

  // Issues stream_in for uses up to `current + prefetch` whose weights are not in a slot.
  void load_ahead(size_t current) {
    for (; next_load_ < uses_.size() && next_load_ <= current + static_cast<size_t>(p_.prefetch); ++next_load_) {
      const int r = uses_[next_load_];
      int slot = -1;
      for (int j = 0; j < p_.slots; ++j)
        if (slot_region_[static_cast<size_t>(j)] == r) slot = j;
      if (slot < 0) {
        for (int j = 0; j < p_.slots; ++j) {
          const int held = slot_region_[static_cast<size_t>(j)];
          if (held >= 0 && next_use(held, current) <= next_load_) continue;
          if (slot < 0 || slot_last_use_[static_cast<size_t>(j)] < slot_last_use_[static_cast<size_t>(slot)]) slot = j;
        }
        if (slot < 0) return;  // every slot is still needed: load later
        stream_in(r, slot);
        slot_region_[static_cast<size_t>(slot)] = r;
      }
      slot_of_use_[next_load_] = slot;
      slot_last_use_[static_cast<size_t>(slot)] = static_cast<int64_t>(next_load_);
    }
  }

  void stream_in(int r, int slot) {
    const auto& region = p_.params.regions[static_cast<size_t>(r)];
    SchedInstr in;
    in.op = SchedOp::stream_in;
    in.stream = ir::Stream::h2d;
    in.stage = region.stage;
    in.instance = region.instance;
    const int dst = slots_[static_cast<size_t>(slot)];
    in.operands.push_back({"src", Range{store_, store_offset_[static_cast<size_t>(r)], region.elements * 2}, false});
    in.operands.push_back({"dst", Range{dst, 0, region.elements * 2}, true});
    // Tied tensors of other regions follow the region's own weights in the slot.
    std::vector<int64_t> offsets = ir::slot_offsets(p_.params, r);
    for (size_t k = 0; k < region.bound.size(); ++k) {
      const auto& t = p_.params.tensors[static_cast<size_t>(region.bound[k])];
      if (t.region == r) continue;
      in.operands.push_back(
          {"src", Range{store_, store_offset_[static_cast<size_t>(t.region)] + t.offset * 2, t.elements * 2}, false});
      in.operands.push_back({"dst", Range{dst, offsets[k] * 2, t.elements * 2}, true});
    }
    out_.push_back(std::move(in));
  }

  // Makes use `u`'s weights present in a slot; returns the range they are bound in.
  Range acquire(size_t u) {
    load_ahead(u);
    if (slot_of_use_[u] < 0) throw std::logic_error("insert_buffer_swap: no weight slot for use " + std::to_string(u));
    int64_t n = 0;
    ir::slot_offsets(p_.params, uses_[u], &n);
    return Range{slots_[static_cast<size_t>(slot_of_use_[u])], 0, n * 2};
  }

  const StepPlan& p_;
  ir::Schedule& s_;
  std::vector<int64_t> store_offset_;
  int store_ = -1;
  std::vector<int> slots_;
  std::vector<int> uses_;  // region of each streamed weight use, in program order
  std::vector<int> slot_of_use_, slot_region_;
  std::vector<int64_t> slot_last_use_;
  size_t next_load_ = 0;
  std::vector<SchedInstr> out_;
};

}  // namespace

bool insert_buffer_swap(const StepPlan& plan, ir::Schedule& schedule) { return BufferSwap(plan, schedule).run(); }

}  // namespace horizon::passes
