// The norm sums each tensor with sum_of_squares and AdamW takes one tensor
// at a time from its slab: the same arithmetic, in the same order, as the
// unstreamed reference step.
#include "runtime/host_updates.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "runtime/thread_pool.h"
#include "runtime/trainer.h"
#include "support/bf16_gradient.h"
#include "support/error.h"

namespace horizon::runtime {

HostUpdates::HostUpdates(const ResolvedSchedule& plan, HostStore& store, const AdamWConfig& adamw, float clip,
                         std::vector<char*> host_buffers)
    : plan_(plan),
      store_(store),
      optimizer_(store, adamw),
      clip_(clip),
      host_buffers_(std::move(host_buffers)),
      tied_sum_(static_cast<size_t>(plan.max_tied_elements)),
      tensor_squares_(store.tensors().size(), 0.0) {
  if (plan.schedule.config.bf16_gradients) {
    int64_t largest = 0;  // the widened gradient of one tensor at a time
    for (const StoredTensor& t : store.tensors()) largest = std::max(largest, t.elements);
    widened_.resize(static_cast<size_t>(largest));
  }
  for (const auto& [index, u] : plan.updates)
    for (const ir::Range& r : {u.grad, u.grad_tied})
      if (!u.on_device && r.buffer >= 0 && !host_buffers_.at(static_cast<size_t>(r.buffer)))
        throw UserError(plan.where(index) + ": the CPU optimizer reads its gradient from host memory");
}

char* HostUpdates::host(const ir::Range& r, int index) const {
  char* base = host_buffers_.at(static_cast<size_t>(r.buffer));
  if (!base) throw std::logic_error(plan_.where(index) + ": runs on the GPU here (its executor handles it)");
  return base + r.offset;
}

float HostUpdates::update_scale(const UpdatePlan& u) const {
  if (u.scale.buffer < 0) return gradient_scale(0.0, 0.0f);
  float scale = 0;
  std::memcpy(&scale, host_buffers_.at(static_cast<size_t>(u.scale.buffer)) + u.scale.offset, 4);
  return scale;
}

codegen::cpu::AdamWParams HostUpdates::device_params(int index, int tensor, float lr, int64_t step) const {
  return optimizer_.params(tensor, lr, update_scale(plan_.updates.at(index)), step);
}

void HostUpdates::begin_step() {
  std::fill(tensor_squares_.begin(), tensor_squares_.end(), 0.0);
  grad_scale_ = gradient_scale(0.0, 0.0f);  // replaced by grad_norm when the schedule clips
  if (!sink_) optimizer_.begin_step();
}

const float* HostUpdates::slab(const ir::Range& r) const {
  return reinterpret_cast<const float*>(host_buffers_[static_cast<size_t>(r.buffer)] + r.offset);
}

// A bf16 slab (config.bf16_gradients) widened to fp32: elements [first,
// first + n) of the pair layout the slab's size implies.
void HostUpdates::widen(const ir::Range& r, int64_t first, int64_t n, float* out) const {
  const auto* slab16 = reinterpret_cast<const uint16_t*>(host_buffers_[static_cast<size_t>(r.buffer)] + r.offset);
  const int64_t half = r.bytes / 4;
  parallel_for(n, 1 << 16, [&](int64_t b, int64_t e) { widen_bf16_pairs(slab16, half, first + b, e - b, out + b); });
}

const float* HostUpdates::tensor_gradient(int tensor, const UpdatePlan& u, float* sum) const {
  const StoredTensor& t = store_.tensors()[static_cast<size_t>(tensor)];
  if (plan_.schedule.config.bf16_gradients) {
    float* own = widened_.data();
    widen(u.grad, t.offset, t.elements, own);
    const int64_t tied = plan_.tied_offset[static_cast<size_t>(tensor)];
    if (tied < 0) return own;
    widen(u.grad_tied, tied, t.elements, sum);
    for (int64_t i = 0; i < t.elements; ++i) own[i] += sum[i];  // own + other, as the fp32 path adds
    return own;
  }
  const float* own = slab(u.grad) + t.offset;
  const int64_t tied = plan_.tied_offset[static_cast<size_t>(tensor)];
  if (tied < 0) return own;
  const float* other = slab(u.grad_tied) + tied;
  for (int64_t i = 0; i < t.elements; ++i) sum[i] = own[i] + other[i];
  return sum;
}

void HostUpdates::grad_norm(int index) {
  const auto& tensors_of = [&](int region) -> const std::vector<int>& {
    return store_.regions()[static_cast<size_t>(region)].tensors;
  };
  if (auto d = plan_.device_norms.find(index); d != plan_.device_norms.end()) {
    // The GPU's share, emulated: the per-tensor sums into host memory.
    const float* grad = reinterpret_cast<const float*>(host(d->second.grad, index));
    auto* out = reinterpret_cast<double*>(host(d->second.norms, index));
    for (int t : tensors_of(d->second.region)) {
      const StoredTensor& st = store_.tensors()[static_cast<size_t>(t)];
      *out++ = sum_of_squares(grad + st.offset, st.elements);
    }
    return;
  }
  for (int gpu : plan_.collected.at(index)) {
    const DeviceNorm& d = plan_.device_norms.at(gpu);
    const char* sums = host_buffers_.at(static_cast<size_t>(d.norms.buffer)) + d.norms.offset;
    for (int t : tensors_of(d.region)) {
      std::memcpy(&tensor_squares_[static_cast<size_t>(t)], sums, 8);
      sums += 8;
    }
  }
  // Tensor by tensor, each summed in parallel blocks of fixed size: the
  // same bits as the reference, and norm() adds them in tensor order.
  for (int region : plan_.norm_regions.at(index)) {
    const UpdatePlan& u = *plan_.update_of_region[static_cast<size_t>(region)];
    for (int t : store_.regions()[static_cast<size_t>(region)].tensors)
      tensor_squares_[static_cast<size_t>(t)] = sum_of_squares(tensor_gradient(t, u, tied_sum_.data()),
                                                               store_.tensors()[static_cast<size_t>(t)].elements);
  }
  if (!plan_.schedule.config.clip) return;  // the collection of a norm only reported
  grad_scale_ = gradient_scale(norm(), clip_);
  for (const ir::Operand& op : plan_.instr(index).operands)
    if (op.write && op.role == "scale") std::memcpy(host(op.range, index), &grad_scale_, 4);
}

void HostUpdates::optimizer_step(int index) {
  const UpdatePlan& u = plan_.updates.at(index);
  const Region& region = store_.regions()[static_cast<size_t>(u.region)];
  for (int t : region.tensors) {
    const StoredTensor& st = store_.tensors()[static_cast<size_t>(t)];
    if (u.on_device) {
      // A resident region's GPU update, emulated on its planes in (emulated) GPU memory.
      const float* g = reinterpret_cast<const float*>(host(u.grad, index)) + st.offset;
      if (sink_) {
        give_to_sink(t, g, st.elements);
        continue;
      }
      optimizer_.update(t, g, lr_, update_scale(u),
                        packed_planes(host(u.params, index), region.elements, store_.moment_bytes(), st.offset));
      continue;
    }
    const float* g = tensor_gradient(t, u, tied_sum_.data());
    // Without clipping nothing else reads the slab: measure the norm on the way.
    if (!plan_.measured[static_cast<size_t>(u.region)]) tensor_squares_[static_cast<size_t>(t)] = sum_of_squares(g, st.elements);
    // Without clipping a region updates before the global norm is known: a
    // tensor whose own gradient is not finite is skipped (with clipping the
    // scale of 0 skips every tensor of the step).
    if (!sink_ && !std::isfinite(tensor_squares_[static_cast<size_t>(t)])) continue;
    if (sink_)
      give_to_sink(t, g, st.elements);
    else
      optimizer_.update(t, g, lr_, grad_scale_);
  }
}

void HostUpdates::give_to_sink(int tensor, const float* g, int64_t n) {
  // Each micro-batch divided by the step's loss count: the sum is the mean.
  sink_->gradient(tensor, g, n);
}

double HostUpdates::norm() const {
  double sq = 0;
  for (double s : tensor_squares_) sq += s;
  return std::sqrt(sq);
}

}  // namespace horizon::runtime
