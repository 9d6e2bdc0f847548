#include "passes/schedule_buffers.h"

#include <string>

namespace horizon::passes {

using ir::BufferKind;
using ir::Place;
using ir::Range;

std::vector<int64_t> store_offsets(const StepPlan& p) {
  std::vector<int64_t> offsets;
  int64_t bytes = 0;
  for (const auto& r : p.params.regions) {
    offsets.push_back(bytes);
    bytes += r.elements * p.bytes_per_param;
  }
  offsets.push_back(bytes);
  return offsets;
}

ScheduleBuffers::ScheduleBuffers(const StepPlan& p, ir::Schedule& s) : p_(p), s_(s) {
  const int64_t M = p.options.micro_batches, act = p.mb_activation_bytes();
  store_offset = store_offsets(p);
  store = s.add_buffer("store", Place::host, BufferKind::store, store_offset.back());
  store_offset.pop_back();
  const int64_t slot_elements = p.streamed_slot_elements();  // 0: every region is resident
  const int64_t token_bytes = p.options.batch * p.options.seq * 4;
  tokens = s.add_buffer("tokens", Place::gpu, BufferKind::batch_data, token_bytes);
  targets = s.add_buffer("targets", Place::gpu, BufferKind::batch_data, token_bytes);
  loss = s.add_buffer("loss", Place::gpu, BufferKind::batch_data, M * 4);
  if (p.packed_documents()) {
    positions = s.add_buffer("positions", Place::gpu, BufferKind::batch_data, token_bytes);
    segments = s.add_buffer("segments", Place::gpu, BufferKind::batch_data, token_bytes);
  }
  if (p.preference()) {
    const int64_t bytes = M * ir::row_share_bytes(p.mb_sequences);
    reference = s.add_buffer("reference", Place::gpu, BufferKind::batch_data, bytes);
    logps = s.add_buffer("logps", Place::gpu, BufferKind::batch_data, bytes);
  }
  acts = s.add_buffer("acts", Place::gpu, BufferKind::activations, (p.layers + 1) * M * act);
  for (int k = 0; k < 2; ++k)
    dx[k] = s.add_buffer("dx" + std::to_string(k), Place::gpu, BufferKind::activations, M * act);
  // Every streamed region's gradient kept on the GPU (insert_offload
  // replaces them with two accumulators in rotation and host slabs).
  kept_grad_offset_ = kept_grad_offsets(p);
  if (slot_elements > 0) grads = s.add_buffer("grads", Place::gpu, BufferKind::gradient, kept_grad_offset_.back());
  if (p.tied_elements > 0) gacc_tied = s.add_buffer("gacc_tied", Place::gpu, BufferKind::gradient, p.tied_elements * 4);
  arena = s.add_buffer("arena", Place::gpu, BufferKind::workspace, p.arena_bytes);
}

// Resident regions: their planes laid out as in the store (w_hi, w_lo, m,
// v), their fp32 gradients, the per-tensor sums of squares the GPU
// measures into host memory, and the clip factor the CPU hands back.
ResidentBuffers::ResidentBuffers(const StepPlan& p, ir::Schedule& s) : p_(p), s_(s) {
  if (p_.resident_regions() == 0) return;
  int64_t planes = 0, grads = 0, sums = 0;
  const size_t n = p_.params.regions.size();
  resident_offset_.assign(n, -1);
  rgrad_offset_.assign(n, -1);
  norms_offset_.assign(n, -1);
  for (size_t r = 0; r < n; ++r) {
    if (!p_.is_resident(static_cast<int>(r))) continue;
    const auto& region = p_.params.regions[r];
    resident_offset_[r] = planes, rgrad_offset_[r] = grads, norms_offset_[r] = sums;
    planes += region.elements * p_.bytes_per_param;
    grads += region.elements * 4;
    sums += static_cast<int64_t>(region.tensors.size()) * 8;
  }
  resident = s.add_buffer("resident", Place::gpu, BufferKind::resident, planes);
  rgrad = s.add_buffer("rgrad", Place::gpu, BufferKind::gradient, grads);
  norms = s.add_buffer("norms", Place::host, BufferKind::batch_data, sums);
  if (p_.clip) clip_scale = s.add_buffer("clip_scale", Place::host, BufferKind::batch_data, 4);
}

Range ScheduleBuffers::whole(int buffer) const {
  return Range{buffer, 0, s_.buffers[static_cast<size_t>(buffer)].bytes};
}

Range ScheduleBuffers::act(int buffer, int64_t mb) const {
  return Range{buffer, mb * p_.mb_activation_bytes(), p_.mb_activation_bytes()};
}

Range ScheduleBuffers::rows(int buffer, int64_t mb) const {
  return Range{buffer, mb * ir::row_share_bytes(p_.mb_sequences), p_.mb_sequences * 4};
}

Range ScheduleBuffers::batch(int buffer, int64_t mb) const {
  const int64_t bytes = p_.mb_sequences * p_.options.seq * 4;
  return Range{buffer, mb * bytes, bytes};
}

std::vector<int64_t> kept_grad_offsets(const StepPlan& p) {
  std::vector<int64_t> offsets;
  int64_t bytes = 0;
  for (size_t r = 0; r < p.params.regions.size(); ++r) {
    offsets.push_back(p.is_resident(static_cast<int>(r)) ? -1 : bytes);
    if (!p.is_resident(static_cast<int>(r))) bytes += p.params.regions[r].elements * 4;
  }
  offsets.push_back(bytes);
  return offsets;
}

Range ScheduleBuffers::kept_grad(int r) const {
  return Range{grads, kept_grad_offset_[static_cast<size_t>(r)],
               p_.params.regions[static_cast<size_t>(r)].elements * 4};
}

Range ScheduleBuffers::kept(int64_t l, int64_t mb) const {
  return Range{acts, (l * p_.options.micro_batches + mb) * p_.mb_activation_bytes(), p_.mb_activation_bytes()};
}

Range ResidentBuffers::whole(int buffer) const {
  return Range{buffer, 0, s_.buffers[static_cast<size_t>(buffer)].bytes};
}

Range ResidentBuffers::planes(int r) const {
  return Range{resident, resident_offset_[static_cast<size_t>(r)],
               p_.params.regions[static_cast<size_t>(r)].elements * p_.bytes_per_param};
}

Range ResidentBuffers::grad(int r) const {
  return Range{rgrad, rgrad_offset_[static_cast<size_t>(r)], p_.params.regions[static_cast<size_t>(r)].elements * 4};
}

Range ResidentBuffers::norm_shares(int r) const {
  return Range{norms, norms_offset_[static_cast<size_t>(r)],
               static_cast<int64_t>(p_.params.regions[static_cast<size_t>(r)].tensors.size()) * 8};
}

}  // namespace horizon::passes
