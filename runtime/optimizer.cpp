#include "runtime/optimizer.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

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
  run(tensor, 0, store_.tensors()[static_cast<size_t>(tensor)].elements, grad, lr, grad_scale, planes);
}

void AdamWOptimizer::update_range(int tensor, int64_t begin, int64_t end, const float* grad, float lr,
                                  float grad_scale) {
  const StoredTensor& t = store_.tensors()[static_cast<size_t>(tensor)];
  if (begin < 0 || end < begin || end > t.elements || (blockwise_kernel_ && begin % kMomentBlock != 0))
    throw std::invalid_argument("AdamW: elements [" + std::to_string(begin) + ", " + std::to_string(end) + ") of " +
                                t.name + " are not a shard it can update");
  run(tensor, begin, end, grad, lr, grad_scale,
      PackedPlanes{reinterpret_cast<char*>(store_.w_hi(tensor)), reinterpret_cast<char*>(store_.w_lo(tensor)),
                   static_cast<char*>(store_.m(tensor)), static_cast<char*>(store_.v(tensor))});
}

// Elements [begin, end) of the tensor whose planes are `planes`; grad[i - begin] is element i's.
void AdamWOptimizer::run(int tensor, int64_t begin, int64_t end, const float* grad, float lr, float grad_scale,
                         const PackedPlanes& planes) {
  if (skips_update(grad_scale)) return;  // a skipped step: no decay of moments or weights either
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
    const int64_t first_block = begin / kMomentBlock;
    parallel_for(moment_blocks(end - begin), 256, [&](int64_t b, int64_t e) {
      const int64_t first = begin + b * kMomentBlock, last = std::min(end, begin + e * kMomentBlock);
      kernel(last - first, hi + first, lo + first, reinterpret_cast<uint8_t*>(m) + first,
             reinterpret_cast<uint8_t*>(v) + first, m_scale + first_block + b, v_scale + first_block + b,
             grad + (first - begin), &p);
    });
    return;
  }
  auto kernel = kernel_;
  // Chunks of 64K parameters keep each thread streaming through memory.
  parallel_for(end - begin, 1 << 16, [&](int64_t b, int64_t e) {
    kernel(e - b, hi + begin + b, lo + begin + b, m + (begin + b) * mb, v + (begin + b) * mb, grad + b, &p);
  });
}

}  // namespace horizon::runtime
