// The host side of a streamed step, shared by both schedule executors: the
// global gradient norm over the slabs and AdamW from a region's slab into
// the store. A tensor the head binds from another region (tied embeddings)
// has two gradient parts — its own region's slab and the binder's tied
// slab — added here, in the order the unstreamed reference adds them, so
// every backend gives the same bits from the same gradients. Gradients are
// read from the slabs a chunk at a time (GradientChunks), bf16 slabs
// (config.bf16_gradients) widened to fp32 on the way: the norm and AdamW see
// the values that crossed, and no tensor-sized scratch is needed.
//
// Resident regions (updated on the GPU) take part through host memory: a
// GPU grad_norm writes one sum of squares per tensor there and a cpu
// grad_norm collects them; with clipping that last grad_norm writes the
// clip factor where the GPU updates read it. Where GPU buffers are host
// memory (the emulated executor) this class also runs those two GPU
// instructions, with the same arithmetic the CPU path uses.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/gradient_sink.h"
#include "runtime/optimizer.h"
#include "runtime/resolved_schedule.h"

namespace horizon::runtime {

class HostUpdates {
 public:
  /// `host_buffers` holds, per schedule buffer, the host address of its
  /// first byte (null for GPU buffers and %store); every slab an update or
  /// the norm reads must have one. `clip` is the global-norm threshold used
  /// when the schedule clips; 0 measures the norm without clipping.
  HostUpdates(const ResolvedSchedule& plan, HostStore& store, const AdamWConfig& adamw, float clip,
              std::vector<char*> host_buffers);

  void set_learning_rate(float lr) { lr_ = lr; }
  /// Starts a step: the store's step count goes up, the norm is forgotten and
  /// updates scale by 1 until grad_norm() sets the clip factor.
  void begin_step();
  /// The schedule's grad_norm at instruction `index`: the sums of squares of
  /// its regions' tensors (or those a GPU grad_norm measured), then, with
  /// clipping, the clip factor of the norm so far (final after the last
  /// grad_norm, which every update follows) into its 'scale' operand.
  void grad_norm(int index);
  /// The schedule's optimizer_step at instruction `index`.
  void optimizer_step(int index);
  /// AdamW's scalars for a GPU update of `tensor` at step `step` with
  /// learning rate `lr`; the gradient scale is the schedule's: the clip
  /// factor in the update's 'scale' operand, or 1 without one.
  codegen::cpu::AdamWParams device_params(int index, int tensor, float lr, int64_t step) const;
  /// Global norm of the step's gradient so far, before clipping.
  double norm() const;
  /// With a sink, each optimizer_step hands its tensors' gradients to it
  /// instead of updating them, and begin_step leaves the step count alone:
  /// the store is not touched. Null (the default) trains.
  void set_gradient_sink(GradientSink* sink) { sink_ = sink; }

 private:
  char* host(const ir::Range& r, int index) const;  // throws unless the range is addressable here
  float update_scale(const UpdatePlan& u) const;
  GradientChunks gradient_chunks(int tensor, const UpdatePlan& u) const;
  std::vector<float> slab_part(const ir::Range& slab, int64_t offset, int64_t n) const;
  void give_to_sink(int tensor, const UpdatePlan& u, const GradientChunks& g);

  const ResolvedSchedule& plan_;
  HostStore& store_;
  AdamWOptimizer optimizer_;
  float clip_ = 0, lr_ = 0, grad_scale_ = 1;
  std::vector<char*> host_buffers_;

  std::vector<double> tensor_squares_;
  GradientSink* sink_ = nullptr;
};

}  // namespace horizon::runtime
