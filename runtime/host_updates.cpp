// The norm sums each tensor with sum_of_squares and AdamW takes one tensor
// at a time from its slab: the same arithmetic, in the same order, as the
// unstreamed reference step.
#include "runtime/host_updates.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

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
      tensor_squares_(store.tensors().size(), 0.0) {
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

// A tensor's gradient from its slab(s), a chunk at a time: in place from an
// fp32 slab, widened from a bf16 one (config.bf16_gradients: the pair
// layout, whose half the slab's size gives), a tied tensor's two parts
// added (own + other, as the unstreamed reference adds them).
GradientChunks HostUpdates::gradient_chunks(int tensor, const UpdatePlan& u) const {
  const StoredTensor& t = store_.tensors()[static_cast<size_t>(tensor)];
  const int64_t tied = plan_.tied_offset[static_cast<size_t>(tensor)], own = t.offset;
  const char* own_slab = host_buffers_[static_cast<size_t>(u.grad.buffer)] + u.grad.offset;
  const char* tied_slab =
      tied < 0 ? nullptr : host_buffers_[static_cast<size_t>(u.grad_tied.buffer)] + u.grad_tied.offset;
  if (!plan_.schedule.config.bf16_gradients) {
    const auto* a = reinterpret_cast<const float*>(own_slab) + own;
    if (tied < 0) return [a](int64_t first, int64_t, float*) { return a + first; };
    const auto* b = reinterpret_cast<const float*>(tied_slab) + tied;
    return [a, b](int64_t first, int64_t n, float* out) {
      for (int64_t i = 0; i < n; ++i) out[i] = a[first + i] + b[first + i];
      return static_cast<const float*>(out);
    };
  }
  const auto* a = reinterpret_cast<const uint16_t*>(own_slab);
  const auto* b = reinterpret_cast<const uint16_t*>(tied_slab);
  const int64_t a_half = u.grad.bytes / 4, b_half = tied < 0 ? 0 : u.grad_tied.bytes / 4;
  return [=](int64_t first, int64_t n, float* out) {
    widen_bf16_pairs(a, a_half, own + first, n, out);
    if (b)
      for (int64_t i = 0; i < n; ++i) out[i] += bf16_to_float(b[bf16_pair_index(tied + first + i, b_half)]);
    return static_cast<const float*>(out);
  };
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
      tensor_squares_[static_cast<size_t>(t)] =
          sum_of_squares(store_.tensors()[static_cast<size_t>(t)].elements, gradient_chunks(t, u));
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
        sink_->gradient(t, g, st.elements);  // a resident region has no tied part
        continue;
      }
      optimizer_.update(t, g, lr_, update_scale(u),
                        packed_planes(host(u.params, index), region.elements, store_.moment_bytes(), st.offset));
      continue;
    }
    const GradientChunks g = gradient_chunks(t, u);
    // Without clipping nothing else reads the slab: measure the norm on the way.
    if (!plan_.measured[static_cast<size_t>(u.region)])
      tensor_squares_[static_cast<size_t>(t)] = sum_of_squares(st.elements, g);
    // Without clipping a region updates before the global norm is known: a
    // tensor whose own gradient is not finite is skipped (with clipping the
    // scale of 0 skips every tensor of the step).
    if (!sink_ && !std::isfinite(tensor_squares_[static_cast<size_t>(t)])) continue;
    if (sink_) {
      give_to_sink(t, u, g);
    } else {
      optimizer_.update(t, g, lr_, grad_scale_);
    }
  }
}

void HostUpdates::give_to_sink(int tensor, const UpdatePlan& u, const GradientChunks& g) {
  // Each micro-batch divided by the step's loss count: the sum is the mean.
  const StoredTensor& t = store_.tensors()[static_cast<size_t>(tensor)];
  const int64_t tied = plan_.tied_offset[static_cast<size_t>(tensor)];
  if (tied >= 0 && sink_->wants_parts()) {
    // The two parts apart: a data-parallel rank adds them after the reduction, as one rank does.
    const std::vector<float> own = slab_part(u.grad, t.offset, t.elements),
                             other = slab_part(u.grad_tied, tied, t.elements);
    sink_->gradient_parts(tensor, own.data(), other.data(), t.elements);
    return;
  }
  std::vector<float> whole(static_cast<size_t>(t.elements));  // the sink keeps a copy anyway
  for (int64_t first = 0; first < t.elements; first += kGradientChunk) {
    const int64_t n = std::min(kGradientChunk, t.elements - first);
    const float* chunk = g(first, n, whole.data() + first);
    if (chunk != whole.data() + first) std::copy(chunk, chunk + n, whole.data() + first);
  }
  sink_->gradient(tensor, whole.data(), t.elements);
}

// Elements [offset, offset + n) of one slab as fp32 (widened from the pair layout of a bf16 slab).
std::vector<float> HostUpdates::slab_part(const ir::Range& slab, int64_t offset, int64_t n) const {
  const char* base = host_buffers_.at(static_cast<size_t>(slab.buffer)) + slab.offset;
  std::vector<float> out(static_cast<size_t>(n));
  if (!plan_.schedule.config.bf16_gradients) {
    const auto* f = reinterpret_cast<const float*>(base) + offset;
    std::copy(f, f + n, out.begin());
  } else {
    widen_bf16_pairs(reinterpret_cast<const uint16_t*>(base), slab.bytes / 4, offset, n, out.data());
  }
  return out;
}

double HostUpdates::norm() const {
  double sq = 0;
  for (double s : tensor_squares_) sq += s;
  return std::sqrt(sq);
}

}  // namespace horizon::runtime
