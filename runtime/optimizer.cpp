#include "runtime/optimizer.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "runtime/thread_pool.h"
#include "runtime/trainer.h"
#include "support/moment_quantization.h"

namespace horizon::runtime {

AdamWOptimizer::AdamWOptimizer(HostStore& store, const AdamWConfig& config) : store_(store), config_(config) {
  if (store.moments() == codegen::cpu::MomentType::q8)
    blockwise_kernel_ = codegen::cpu::CpuJit::get().adamw_blockwise();
  else
    kernel_ = codegen::cpu::CpuJit::get().adamw(store.moments());
}

void AdamWOptimizer::begin_step() { store_.set_step(store_.step() + 1); }

codegen::cpu::AdamWParams AdamWOptimizer::params(int tensor, float lr, float grad_scale, int64_t count) const {
  const StoredTensor& t = store_.tensors()[static_cast<size_t>(tensor)];
  const double step = static_cast<double>(count);
  codegen::cpu::AdamWParams p;
  p.lr = lr;
  p.beta1 = config_.beta1;
  p.beta2 = config_.beta2;
  p.eps = config_.eps;
  p.weight_decay = t.decay ? config_.weight_decay : 0.0f;
  p.bias_correction1 = static_cast<float>(1.0 - std::pow(config_.beta1, step));
  p.bias_correction2 = static_cast<float>(1.0 - std::pow(config_.beta2, step));
  p.grad_scale = grad_scale;
  return p;
}

void AdamWOptimizer::update(int tensor, const float* grad, float lr, float grad_scale) {
  update(tensor, grad, lr, grad_scale,
         PackedPlanes{reinterpret_cast<char*>(store_.w_hi(tensor)), reinterpret_cast<char*>(store_.w_lo(tensor)),
                      static_cast<char*>(store_.m(tensor)), static_cast<char*>(store_.v(tensor))});
}

void AdamWOptimizer::update(int tensor, const float* grad, float lr, float grad_scale, const PackedPlanes& planes) {
  update_chunks(
      tensor, [grad](int64_t first, int64_t, float*) { return grad + first; }, lr, grad_scale, planes);
}

void AdamWOptimizer::update(int tensor, const GradientChunks& grad, float lr, float grad_scale) {
  update_chunks(tensor, grad, lr, grad_scale,
                PackedPlanes{reinterpret_cast<char*>(store_.w_hi(tensor)), reinterpret_cast<char*>(store_.w_lo(tensor)),
                             static_cast<char*>(store_.m(tensor)), static_cast<char*>(store_.v(tensor))});
}

// Each thread's range in chunks of kGradientChunk (whole quantization blocks:
// a multiple of kMomentBlock), each fetched from `grad` just before it is
// updated: the same bits as one call over the range, as every element (and
// every 8-bit block) updates alone.
void AdamWOptimizer::update_chunks(int tensor, const GradientChunks& grad, float lr, float grad_scale,
                                   const PackedPlanes& planes) {
  static_assert(kGradientChunk % kMomentBlock == 0);
  if (skips_update(grad_scale)) return;  // a skipped step: no decay of moments or weights either
  const StoredTensor& t = store_.tensors()[static_cast<size_t>(tensor)];
  const codegen::cpu::AdamWParams p = params(tensor, lr, grad_scale, store_.step());
  const int mb = store_.moment_bytes();
  auto* hi = reinterpret_cast<uint16_t*>(planes.w_hi);
  auto* lo = reinterpret_cast<uint16_t*>(planes.w_lo);
  char* m = planes.m;
  char* v = planes.v;
  if (blockwise_kernel_) {
    // Whole quantization blocks per chunk (256 blocks: 64K parameters).
    float* m_scale = store_.m_scale(tensor);
    float* v_scale = store_.v_scale(tensor);
    auto kernel = blockwise_kernel_;
    parallel_for(moment_blocks(t.elements), kGradientChunk / kMomentBlock, [&](int64_t b, int64_t e) {
      thread_local std::vector<float> scratch;  // touched only by sources that widen or add
      const int64_t end = std::min(t.elements, e * kMomentBlock);
      for (int64_t first = b * kMomentBlock; first < end; first += kGradientChunk) {
        const int64_t n = std::min(kGradientChunk, end - first);
        if (scratch.empty()) scratch.resize(static_cast<size_t>(kGradientChunk));
        kernel(n, hi + first, lo + first, reinterpret_cast<uint8_t*>(m) + first, reinterpret_cast<uint8_t*>(v) + first,
               m_scale + first / kMomentBlock, v_scale + first / kMomentBlock, grad(first, n, scratch.data()), &p);
      }
    });
    return;
  }
  auto kernel = kernel_;
  // Chunks of 64K parameters keep each thread streaming through memory.
  parallel_for(t.elements, kGradientChunk, [&](int64_t b, int64_t e) {
    thread_local std::vector<float> scratch;
    for (int64_t first = b; first < e; first += kGradientChunk) {
      const int64_t n = std::min(kGradientChunk, e - first);
      if (scratch.empty()) scratch.resize(static_cast<size_t>(kGradientChunk));
      kernel(n, hi + first, lo + first, m + first * mb, v + first * mb, grad(first, n, scratch.data()), &p);
    }
  });
}

}  // namespace horizon::runtime
