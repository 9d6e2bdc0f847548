// The host side of a streamed step: the global gradient norm over the slabs
// and AdamW from a region's slab into the store. A tensor the head binds
// from another region (tied embeddings) has two gradient parts — its own
// region's slab and the binder's tied slab — added here, in the order the
// unstreamed reference adds them, so both give the same bits.
#include <cmath>

#include "runtime/schedule_executor_impl.h"
#include "runtime/thread_pool.h"
#include "support/error.h"

namespace horizon::runtime {
namespace {

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

UpdatePlan ScheduleExecutor::Impl::prepare_update(int index) {
  const ir::SchedInstr& in = schedule.instrs[static_cast<size_t>(index)];
  auto fail = [&](const std::string& problem) { return UserError(where(index) + ": " + problem); };
  UpdatePlan u;
  u.region = store.layout().region_of(in.stage, in.instance);
  if (u.region < 0) throw fail("no parameter region for " + in.stage + "[" + std::to_string(in.instance) + "]");
  const Region& r = store.regions()[static_cast<size_t>(u.region)];
  const ir::Operand* grad = find_operand(in, "grad", false);
  if (!grad || grad->range.bytes != r.elements * 4) throw fail("needs a 'grad' slab of the region's fp32 gradient");
  if (schedule.buffers[static_cast<size_t>(grad->range.buffer)].place != ir::Place::host)
    throw fail("the CPU optimizer reads its gradient from host memory");
  u.grad = grad->range;
  if (const ir::Operand* tied = find_operand(in, "grad_tied", false)) u.grad_tied = tied->range;
  const ir::Operand* params = find_operand(in, "params", true);
  const ir::Range region_range{store_buffer, store_offsets[static_cast<size_t>(u.region)],
                               r.elements * store_bytes_per_param};
  if (!params || !(params->range == region_range)) throw fail("'params' must be the region's whole store range");
  return u;
}

void ScheduleExecutor::Impl::prepare_tied() {
  const ir::ParamLayout& layout = store.layout();
  tied_offset.assign(layout.tensors.size(), -1);
  int64_t largest = 0;
  for (size_t h = 0; h < layout.regions.size(); ++h) {
    std::vector<int64_t> offsets = ir::slot_offsets(layout, static_cast<int>(h));
    for (size_t k = 0; k < layout.regions[h].bound.size(); ++k) {
      const int t = layout.regions[h].bound[k];
      if (layout.tensors[static_cast<size_t>(t)].region == static_cast<int>(h)) continue;
      if (tied_offset[static_cast<size_t>(t)] >= 0)
        throw UserError(layout.tensors[static_cast<size_t>(t)].name +
                        " is bound by two other stages; the streamed executor supports one");
      tied_offset[static_cast<size_t>(t)] = offsets[k] - layout.regions[h].elements;
      largest = std::max(largest, layout.tensors[static_cast<size_t>(t)].elements);
    }
  }
  tied_sum.resize(static_cast<size_t>(largest));

  std::vector<int> updated(layout.regions.size(), 0);
  update_of_region.assign(layout.regions.size(), nullptr);
  for (const auto& [index, u] : updates) {
    ++updated[static_cast<size_t>(u.region)];
    update_of_region[static_cast<size_t>(u.region)] = &u;
    for (int t : layout.regions[static_cast<size_t>(u.region)].tensors) {
      const int64_t off = tied_offset[static_cast<size_t>(t)];
      if (off < 0) continue;
      if (u.grad_tied.buffer < 0 || (off + layout.tensors[static_cast<size_t>(t)].elements) * 4 > u.grad_tied.bytes)
        throw UserError(where(index) + ": " + layout.tensors[static_cast<size_t>(t)].name +
                        " is tied; its update needs the binder's gradient as a 'grad_tied' slab");
    }
  }
  for (size_t r = 0; r < updated.size(); ++r)
    if (updated[r] != 1)
      throw UserError("schedule of " + schedule.model + ": " + layout.regions[r].stage + "[" +
                      std::to_string(layout.regions[r].instance) + "] is updated " + std::to_string(updated[r]) +
                      " times; every stage instance needs exactly one optimizer_step");
  // The norm must see every slab an update reads.
  for (size_t i = 0; i < schedule.instrs.size(); ++i) {
    const ir::SchedInstr& in = schedule.instrs[i];
    if (in.op != ir::SchedOp::grad_norm) continue;
    for (const auto& [index, u] : updates)
      for (const ir::Range& r : {u.grad, u.grad_tied}) {
        if (r.buffer < 0) continue;
        bool covered = false;
        for (const ir::Operand& op : in.operands) covered = covered || (!op.write && contains(op.range, r));
        if (!covered) throw UserError(where(static_cast<int>(i)) + ": does not read the slab of " + where(index));
      }
  }
}

const float* ScheduleExecutor::Impl::tensor_gradient(int tensor, const UpdatePlan& u, float* sum) {
  const StoredTensor& t = store.tensors()[static_cast<size_t>(tensor)];
  const float* own = reinterpret_cast<const float*>(at(u.grad)) + t.offset;
  const int64_t tied = tied_offset[static_cast<size_t>(tensor)];
  if (tied < 0) return own;
  const float* other = reinterpret_cast<const float*>(at(u.grad_tied)) + tied;
  for (int64_t i = 0; i < t.elements; ++i) sum[i] = own[i] + other[i];
  return sum;
}

void ScheduleExecutor::Impl::grad_norm(int) {
  const auto& of_region = update_of_region;
  const auto& tensors = store.tensors();
  // Untied tensors in parallel, each summed serially: the same bits as the reference.
  parallel_for(static_cast<int64_t>(tensors.size()), 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t)
      if (tied_offset[static_cast<size_t>(t)] < 0)
        tensor_squares[static_cast<size_t>(t)] = sum_of_squares(
            tensor_gradient(static_cast<int>(t),
                            *of_region[static_cast<size_t>(tensors[static_cast<size_t>(t)].region)], nullptr),
            tensors[static_cast<size_t>(t)].elements);
  });
  for (size_t t = 0; t < tensors.size(); ++t)
    if (tied_offset[t] >= 0)
      tensor_squares[t] = sum_of_squares(
          tensor_gradient(static_cast<int>(t), *of_region[static_cast<size_t>(tensors[t].region)], tied_sum.data()),
          tensors[t].elements);
  grad_scale = gradient_scale(norm_of_last_step(), clip, micro_batches);
}

void ScheduleExecutor::Impl::optimizer_step(int index) {
  const UpdatePlan& u = updates.at(index);
  for (int t : store.regions()[static_cast<size_t>(u.region)].tensors) {
    const float* g = tensor_gradient(t, u, tied_sum.data());
    const int64_t n = store.tensors()[static_cast<size_t>(t)].elements;
    // Without clipping nothing else reads the slab: measure the norm on the way.
    if (!has_grad_norm) tensor_squares[static_cast<size_t>(t)] = sum_of_squares(g, n);
    optimizer.update(t, g, lr, grad_scale);
  }
}

double ScheduleExecutor::Impl::norm_of_last_step() const {
  double sq = 0;
  for (double s : tensor_squares) sq += s;
  return std::sqrt(sq) / static_cast<double>(micro_batches);
}

}  // namespace horizon::runtime
