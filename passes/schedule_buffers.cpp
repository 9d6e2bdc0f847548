#include "passes/schedule_buffers.h"

#include <string>

namespace horizon::passes {

using ir::BufferKind;
using ir::Place;
using ir::Range;

ScheduleBuffers::ScheduleBuffers(const StepPlan& p, ir::Schedule& s) : p_(p), s_(s) {
  const int64_t M = p.options.micro_batches, act = p.mb_activation_bytes();
  int64_t bytes = 0;
  for (const auto& r : p.params.regions) {
    store_offset.push_back(bytes);
    bytes += r.elements * p.bytes_per_param;
  }
  store = s.add_buffer("store", Place::host, BufferKind::store, bytes);
  const int64_t slot_elements = p.streamed_slot_elements();  // 0: every region is resident
  for (int64_t j = 0; j < p.slots && slot_elements > 0; ++j)
    slots.push_back(s.add_buffer("slot" + std::to_string(j), Place::gpu, BufferKind::weight_slot, slot_elements * 2));
  const int64_t token_bytes = p.options.batch * p.options.seq * 4;
  tokens = s.add_buffer("tokens", Place::gpu, BufferKind::batch_data, token_bytes);
  targets = s.add_buffer("targets", Place::gpu, BufferKind::batch_data, token_bytes);
  loss = s.add_buffer("loss", Place::gpu, BufferKind::batch_data, M * 4);
  if (p.packed_documents()) {
    positions = s.add_buffer("positions", Place::gpu, BufferKind::batch_data, token_bytes);
    segments = s.add_buffer("segments", Place::gpu, BufferKind::batch_data, token_bytes);
  }
  if (p.preference()) {
    reference = s.add_buffer("reference", Place::gpu, BufferKind::batch_data, p.options.batch * 4);
    logps = s.add_buffer("logps", Place::gpu, BufferKind::batch_data, p.options.batch * 4);
  }
  for (int k = 0; k < 2; ++k) x[k] = s.add_buffer("x" + std::to_string(k), Place::gpu, BufferKind::activations, M * act);
  for (int k = 0; k < 2; ++k) dx[k] = s.add_buffer("dx" + std::to_string(k), Place::gpu, BufferKind::activations, M * act);
  ckpt = s.add_buffer("ckpt", p.host_checkpoints ? Place::host : Place::gpu, BufferKind::checkpoint,
                      p.checkpoints() * M * act);
  if (p.segment_slots() > 0)
    seg = s.add_buffer("seg", Place::gpu, BufferKind::activations, p.segment_slots() * M * act);
  for (int k = 0; k < 2 && slot_elements > 0; ++k)
    gacc[k] = s.add_buffer("gacc" + std::to_string(k), Place::gpu, BufferKind::gradient, slot_elements * 4);
  if (p.tied_elements > 0) {
    gacc_tied = s.add_buffer("gacc_tied", Place::gpu, BufferKind::gradient, p.tied_elements * 4);
    tied_slab = s.add_buffer("slab_tied", Place::host, BufferKind::grad_slab, p.tied_elements * 4);
  }
  if (p.clip) {
    for (size_t r = 0; r < p.params.regions.size(); ++r)
      slabs.push_back(p.is_resident(static_cast<int>(r))
                          ? -1
                          : s.add_buffer("slab" + std::to_string(r), Place::host, BufferKind::grad_slab,
                                         p.params.regions[r].elements * 4));
  } else {
    for (int k = 0; k < 2 && slot_elements > 0; ++k)
      slabs.push_back(s.add_buffer("slab" + std::to_string(k), Place::host, BufferKind::grad_slab, slot_elements * 4));
  }
  arena = s.add_buffer("arena", Place::gpu, BufferKind::workspace, p.arena_bytes);
  add_resident(s);
}

// Resident regions: their planes laid out as in the store (w_hi, w_lo, m,
// v), their fp32 gradients, the per-tensor sums of squares the GPU
// measures into host memory, and the clip factor the CPU hands back.
void ScheduleBuffers::add_resident(ir::Schedule& s) {
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

Range ScheduleBuffers::whole(int buffer) const { return Range{buffer, 0, s_.buffers[static_cast<size_t>(buffer)].bytes}; }

Range ScheduleBuffers::act(int buffer, int64_t mb) const {
  return Range{buffer, mb * p_.mb_activation_bytes(), p_.mb_activation_bytes()};
}

Range ScheduleBuffers::batch(int buffer, int64_t mb) const {
  const int64_t bytes = p_.mb_sequences * p_.options.seq * 4;
  return Range{buffer, mb * bytes, bytes};
}

Range ScheduleBuffers::rows(int buffer, int64_t mb) const {
  return Range{buffer, mb * p_.mb_sequences * 4, p_.mb_sequences * 4};
}

Range ScheduleBuffers::checkpoint(int64_t c, int64_t mb) const {
  return Range{ckpt, (c * p_.options.micro_batches + mb) * p_.mb_activation_bytes(), p_.mb_activation_bytes()};
}

Range ScheduleBuffers::segment(int64_t j, int64_t mb) const {
  return Range{seg, (j * p_.options.micro_batches + mb) * p_.mb_activation_bytes(), p_.mb_activation_bytes()};
}

Range ScheduleBuffers::region_elements(int buffer, int region, int64_t bytes_per_element) const {
  return Range{buffer, 0, p_.params.regions[static_cast<size_t>(region)].elements * bytes_per_element};
}

Range ScheduleBuffers::resident_planes(int r) const {
  return Range{resident, resident_offset_[static_cast<size_t>(r)],
               p_.params.regions[static_cast<size_t>(r)].elements * p_.bytes_per_param};
}

Range ScheduleBuffers::resident_grad(int r) const {
  return Range{rgrad, rgrad_offset_[static_cast<size_t>(r)], p_.params.regions[static_cast<size_t>(r)].elements * 4};
}

Range ScheduleBuffers::norm_shares(int r) const {
  return Range{norms, norms_offset_[static_cast<size_t>(r)],
               static_cast<int64_t>(p_.params.regions[static_cast<size_t>(r)].tensors.size()) * 8};
}

}  // namespace horizon::passes
