// AdamW over the host store: bias correction, decoupled weight decay (off
// for tensors marked nodecay) and gradient scaling for clipping, run by the
// JIT-compiled kernel on the thread pool one tensor at a time, so a layer can
// be updated as soon as its gradient is complete.
#pragma once

#include <cstdint>
#include <functional>

#include "runtime/host_store.h"

namespace horizon::runtime {

struct AdamWConfig {
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
};

/// A tensor's gradient a chunk at a time: elements [first, first + n) as
/// fp32 (n <= kGradientChunk), either a pointer into an fp32 slab or written
/// into `scratch` (room for n floats) -- a bf16 slab widened, two parts added.
/// The host never holds more than a chunk per thread of such gradients.
using GradientChunks = std::function<const float*(int64_t first, int64_t n, float* scratch)>;
inline constexpr int64_t kGradientChunk = int64_t{1} << 16;

class AdamWOptimizer {
 public:
  AdamWOptimizer(HostStore& store, const AdamWConfig& config);

  /// Starts the next step (the store's step count goes up by one).
  void begin_step();
  /// Updates `tensor` from its fp32 gradient, which is multiplied by `grad_scale` first.
  void update(int tensor, const float* grad, float lr, float grad_scale);
  /// The same on planes outside the store (a resident region's, PackedPlanes).
  /// 8-bit moments' block scales are the store's in both cases (PackedPlanes).
  void update(int tensor, const float* grad, float lr, float grad_scale, const PackedPlanes& planes);
  /// Elements [begin, end) of `tensor` only, from their gradient `grad`
  /// [end - begin]: a data-parallel rank's shard (runtime/parallel). The same
  /// bits per element as a whole-tensor update; with 8-bit moments `begin`
  /// must start a quantization block (kMomentBlock).
  void update_range(int tensor, int64_t begin, int64_t end, const float* grad, float lr, float grad_scale);
  /// The same from a gradient given in chunks (GradientChunks), into the store.
  void update(int tensor, const GradientChunks& grad, float lr, float grad_scale);
  /// The kernel's scalars for `tensor` at step `step` (bias corrections): what a GPU update uses too.
  codegen::cpu::AdamWParams params(int tensor, float lr, float grad_scale, int64_t step) const;

 private:
  void update_chunks(int tensor, int64_t begin, int64_t end, const GradientChunks& grad, float lr, float grad_scale,
                     const PackedPlanes& planes);
  HostStore& store_;
  AdamWConfig config_;
  codegen::cpu::AdamWFn kernel_ = nullptr;                     // bf16, f32 moments
  codegen::cpu::BlockwiseAdamWFn blockwise_kernel_ = nullptr;  // 8-bit moments
};

}  // namespace horizon::runtime
