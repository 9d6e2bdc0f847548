// Gradient capture for correctness checks: a streamed step (either schedule
// executor) can hand every stored tensor's gradient to a sink instead of
// updating the store, so one whole compiled step — slots, offloads, tied
// parts and all — is compared with the unstreamed reference or another
// framework (`horizon gradients --device cuda`).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace horizon::runtime {

class GradientSink {
 public:
  virtual ~GradientSink() = default;
  /// Called once per stored tensor and step, in the order of the schedule's
  /// optimizer_steps, from the thread that runs them (the cpu stream's, or
  /// the CUDA executor's deferred-update thread). `gradient`
  /// is that of the step's mean loss — the micro-batches' gradients summed
  /// and divided by their count, a tied tensor's two parts added, never
  /// clipped: what `horizon gradients` writes on the CPU. It is valid only
  /// during the call.
  virtual void gradient(int tensor, const float* gradient, int64_t elements) = 0;
  /// A sink that returns true receives a tensor with two gradient parts
  /// (tied embeddings) through gradient_parts instead, unadded: a
  /// data-parallel rank sums each part over the ranks before adding them,
  /// as one rank adds them after summing its micro-batches — the same bits.
  virtual bool wants_parts() const { return false; }
  /// `own`: the tensor's region's slab; `tied`: the binder's (both [elements]).
  virtual void gradient_parts(int tensor, const float* own, const float* tied, int64_t elements) {
    (void)tensor, (void)own, (void)tied, (void)elements;
  }
};

/// A sink that keeps a copy of each tensor's gradient, indexed like the
/// store's tensors; a tensor no update reached stays empty.
class GradientCapture : public GradientSink {
 public:
  explicit GradientCapture(std::size_t tensors) : gradients(tensors) {}
  void gradient(int tensor, const float* g, int64_t elements) override {
    gradients.at(static_cast<std::size_t>(tensor)).assign(g, g + elements);
  }

  std::vector<std::vector<float>> gradients;
};

}  // namespace horizon::runtime
