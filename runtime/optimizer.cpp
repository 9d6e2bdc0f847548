#include "runtime/optimizer.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
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
      tensor, 0, store_.tensors()[static_cast<size_t>(tensor)].elements,
      [grad](int64_t first, int64_t, float*) { return grad + first; }, lr, grad_scale, planes);
}

void AdamWOptimizer::update(int tensor, const GradientChunks& grad, float lr, float grad_scale) {
  update_chunks(tensor, 0, store_.tensors()[static_cast<size_t>(tensor)].elements, grad, lr, grad_scale,
                PackedPlanes{reinterpret_cast<char*>(store_.w_hi(tensor)), reinterpret_cast<char*>(store_.w_lo(tensor)),
                             static_cast<char*>(store_.m(tensor)), static_cast<char*>(store_.v(tensor))});
}

void AdamWOptimizer::update_range(int tensor, int64_t begin, int64_t end, const float* grad, float lr,
                                  float grad_scale) {
  const StoredTensor& t = store_.tensors()[static_cast<size_t>(tensor)];
  if (begin < 0 || end < begin || end > t.elements || (blockwise_kernel_ && begin % kMomentBlock != 0))
    throw std::invalid_argument("AdamW: elements [" + std::to_string(begin) + ", " + std::to_string(end) + ") of " +
                                t.name + " are not a shard it can update");
  update_chunks(
      tensor, begin, end, [grad, begin](int64_t first, int64_t, float*) { return grad + (first - begin); }, lr,
      grad_scale,
      PackedPlanes{reinterpret_cast<char*>(store_.w_hi(tensor)), reinterpret_cast<char*>(store_.w_lo(tensor)),
                   static_cast<char*>(store_.m(tensor)), static_cast<char*>(store_.v(tensor))});
}

// Elements [begin, end) of the tensor whose planes are `planes` (with 8-bit
// moments `begin` starts a quantization block), each thread's range in
// chunks of kGradientChunk (whole quantization blocks: a multiple of
// kMomentBlock), each fetched from `grad` just before it is updated: the same
// bits as one call over the range, as every element (and every 8-bit block)
// updates alone.
void AdamWOptimizer::update_chunks(int tensor, int64_t begin, int64_t end, const GradientChunks& grad, float lr,
                                   float grad_scale, const PackedPlanes& planes) {
  static_assert(kGradientChunk % kMomentBlock == 0);
  if (skips_update(grad_scale)) return;  // a skipped step: no decay of moments or weights either
  const codegen::cpu::AdamWParams p = params(tensor, lr, grad_scale, store_.step());
  const int mb = store_.moment_bytes();
  auto* hi = reinterpret_cast<uint16_t*>(planes.w_hi);
  auto* lo = reinterpret_cast<uint16_t*>(planes.w_lo);
  char* m = planes.m;
  char* v = planes.v;
  if (blockwise_kernel_) {
    float* m_scale = store_.m_scale(tensor);
    float* v_scale = store_.v_scale(tensor);
    auto kernel = blockwise_kernel_;
    parallel_for(moment_blocks(end - begin), kGradientChunk / kMomentBlock, [&](int64_t b, int64_t e) {
      thread_local std::vector<float> scratch;  // touched only by sources that widen or add
      const int64_t last = std::min(end, begin + e * kMomentBlock);
      for (int64_t first = begin + b * kMomentBlock; first < last; first += kGradientChunk) {
        const int64_t n = std::min(kGradientChunk, last - first);
        if (scratch.empty()) scratch.resize(static_cast<size_t>(kGradientChunk));
        kernel(n, hi + first, lo + first, reinterpret_cast<uint8_t*>(m) + first, reinterpret_cast<uint8_t*>(v) + first,
               m_scale + first / kMomentBlock, v_scale + first / kMomentBlock, grad(first, n, scratch.data()), &p);
      }
    });
    return;
  }
  auto kernel = kernel_;
  parallel_for(end - begin, kGradientChunk, [&](int64_t b, int64_t e) {
    thread_local std::vector<float> scratch;
    for (int64_t first = begin + b; first < begin + e; first += kGradientChunk) {
      const int64_t n = std::min(kGradientChunk, begin + e - first);
      if (scratch.empty()) scratch.resize(static_cast<size_t>(kGradientChunk));
      kernel(n, hi + first, lo + first, m + first * mb, v + first * mb, grad(first, n, scratch.data()), &p);
    }
  });
}

}  // namespace horizon::runtime
