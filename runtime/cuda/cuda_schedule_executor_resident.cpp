// The CUDA executor's resident regions (passes/place_resident.h): their
// planes live in %resident from construction on — loaded from the store
// here, copied back by finish_updates (all planes) or finish_weights (the
// bf16 weights validation reads) — and the compute stream measures their
// gradient and updates them with DeviceOptimizer's kernels.
#include <algorithm>

#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/cuda_schedule_executor_impl.h"

namespace horizon::runtime::cuda {

void CudaScheduleExecutor::Impl::prepare_resident() {
  if (plan.device_norms.empty() &&
      std::none_of(plan.updates.begin(), plan.updates.end(), [](const auto& u) { return u.second.on_device; }))
    return;
  size_t most = 1;
  for (const auto& [index, d] : plan.device_norms) {
    std::vector<std::pair<int64_t, int64_t>>& spans = norm_spans[index];
    for (int t : store.regions()[static_cast<size_t>(d.region)].tensors)
      spans.emplace_back(store.tensors()[static_cast<size_t>(t)].offset,
                         store.tensors()[static_cast<size_t>(t)].elements);
    most = std::max(most, spans.size());
  }
  device_optimizer = std::make_unique<DeviceOptimizer>(store.moments(), static_cast<int>(most));
  norm_landing = DeviceMemory(static_cast<int64_t>(most) * 8, "the per-tensor sums of a resident region's gradient");
  int64_t scale_bytes = 0;
  for (const auto& [index, u] : plan.updates)
    if (u.on_device && store.scale_bytes(u.region) > 0 && !resident_scale_offset.count(u.region)) {
      resident_scale_offset[u.region] = scale_bytes;
      scale_bytes += store.scale_bytes(u.region);
    }
  if (scale_bytes > 0) resident_scales = DeviceMemory(scale_bytes, "the resident regions' 8-bit moment scales");
  scratch += device_optimizer->scratch_bytes() + norm_landing.bytes() + resident_scales.bytes();
  copy_resident(true);
}

// The store's planes of every resident region to %resident, or back.
void CudaScheduleExecutor::Impl::copy_resident(bool to_device, bool weights_only) {
  const int mb = store.moment_bytes();
  for (const auto& [index, u] : plan.updates) {
    if (!u.on_device) continue;
    const Region& r = store.regions()[static_cast<size_t>(u.region)];
    const PackedPlanes d = packed_planes(address(u.params), r.elements, mb);
    const std::pair<char*, void*> planes[] = {{d.w_hi, r.w_hi}, {d.w_lo, r.w_lo}, {d.m, r.m}, {d.v, r.v}};
    const int64_t bytes[] = {r.elements * 2, r.elements * 2, r.elements * mb, r.elements * mb};
    if (!weights_only && store.scale_bytes(u.region) > 0) {
      // 8-bit moments: the region's m scales then its v scales, as the store keeps them.
      char* d_scales = resident_scales.at(resident_scale_offset.at(u.region));
      const int64_t half = store.scale_bytes(u.region) / 2;
      for (const auto& [dev, host] : {std::pair<char*, float*>{d_scales, r.m_scale}, {d_scales + half, r.v_scale}})
        check_cuda(to_device ? cudaMemcpy(dev, host, static_cast<size_t>(half), cudaMemcpyHostToDevice)
                             : cudaMemcpy(host, dev, static_cast<size_t>(half), cudaMemcpyDeviceToHost),
                   "cudaMemcpy",
                   std::string(to_device ? "loading " : "saving ") + r.stage + "[" + std::to_string(r.instance) +
                       "]'s 8-bit moment scales");
    }
    for (int k = 0; k < (weights_only ? 1 : 4); ++k)
      check_cuda(
          to_device
              ? cudaMemcpy(planes[k].first, planes[k].second, static_cast<size_t>(bytes[k]), cudaMemcpyHostToDevice)
              : cudaMemcpy(planes[k].second, planes[k].first, static_cast<size_t>(bytes[k]), cudaMemcpyDeviceToHost),
          "cudaMemcpy",
          std::string(to_device ? "loading " : "saving ") + r.stage + "[" + std::to_string(r.instance) +
              "]'s resident planes (" + std::to_string(bytes[k]) + " bytes)");
  }
}

void CudaScheduleExecutor::Impl::save_resident(bool weights_only) {
  tail->wait_idle();
  add_deferred_spans();
  if (!device_optimizer) return;
  // The resident regions' planes home to the store (every step ended with their updates).
  check_cuda(cudaSetDevice(device), "cudaSetDevice", "saving the resident regions");
  check_cuda(cudaStreamSynchronize(streams[0].get()), "cudaStreamSynchronize", "saving the resident regions");
  copy_resident(false, weights_only);
}

// A resident region's share of the norm: one sum per tensor, landed in the
// host memory the cpu stream's collecting grad_norm reads.
void CudaScheduleExecutor::Impl::issue_device_norm(int index, cudaStream_t stream) {
  const DeviceNorm& d = plan.device_norms.at(index);
  auto* sums = reinterpret_cast<double*>(norm_landing.get());
  device_optimizer->sum_squares(reinterpret_cast<const float*>(address(d.grad)), norm_spans.at(index), sums, stream);
  check_cuda(
      cudaMemcpyAsync(address(d.norms), sums, static_cast<size_t>(d.norms.bytes), cudaMemcpyDeviceToHost, stream),
      "cudaMemcpyAsync", "landing a resident region's sums of squares");
}

// A resident region's AdamW, tensor by tensor like the CPU's, with the clip
// factor the cpu stream wrote before this stream was let past its wait.
void CudaScheduleExecutor::Impl::issue_device_update(int index, cudaStream_t stream) {
  const UpdatePlan& u = plan.updates.at(index);
  const Region& r = store.regions()[static_cast<size_t>(u.region)];
  const auto* grad = reinterpret_cast<const float*>(address(u.grad));
  for (int t : r.tensors) {
    const StoredTensor& st = store.tensors()[static_cast<size_t>(t)];
    const PackedPlanes p = packed_planes(address(u.params), r.elements, store.moment_bytes(), st.offset);
    float *m_scale = nullptr, *v_scale = nullptr;
    if (auto it = resident_scale_offset.find(u.region); it != resident_scale_offset.end()) {
      m_scale = reinterpret_cast<float*>(resident_scales.at(it->second)) + store.scale_offset(t);
      v_scale = m_scale + r.scale_blocks;
    }
    device_optimizer->adamw(st.elements, reinterpret_cast<uint16_t*>(p.w_hi), reinterpret_cast<uint16_t*>(p.w_lo), p.m,
                            p.v, grad + st.offset, updates->device_params(index, t, device_lr, device_step), stream,
                            m_scale, v_scale);
  }
}

}  // namespace horizon::runtime::cuda
