// The CUDA executor's program resolved to addresses: each copy's src/dst
// pairs as host and device pointers, each launch's DeviceStageBindings built
// from its operand roles exactly as the emulated executor maps them, and the
// streams and events the issuing threads use — all once, at construction.
#include <cstdint>

#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/cuda_schedule_executor_impl.h"
#include "support/error.h"

namespace horizon::runtime::cuda {
namespace {

// What CudaStageExecutor requires of every operand address (16-byte loads).
constexpr uintptr_t kOperandAlignment = 16;

}  // namespace

OwnedStream::OwnedStream(const std::string& what) {
  // Non-blocking: no implicit ordering with the legacy default stream, which
  // libraries may use behind our back.
  check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreateWithFlags", what);
}

OwnedStream::~OwnedStream() {
  if (stream_) cudaStreamDestroy(stream_);
}

OwnedEvent::OwnedEvent(bool timing, const std::string& what) {
  // Blocking sync: a host thread waiting for the GPU sleeps instead of
  // spinning on a core the CPU optimizer's threads need.
  check_cuda(
      cudaEventCreateWithFlags(&event_, (timing ? cudaEventDefault : cudaEventDisableTiming) | cudaEventBlockingSync),
      "cudaEventCreateWithFlags", what);
}

OwnedEvent::~OwnedEvent() {
  if (event_) cudaEventDestroy(event_);
}

void CudaScheduleExecutor::Impl::resolve_copies() {
  for (int i = 0; i < static_cast<int>(plan.schedule.instrs.size()); ++i) {
    if (!is_copy(plan.instr(i).op)) continue;
    std::vector<CopyPlan>& pairs = copies[i];
    for (const auto& [src, dst] : copy_pairs(plan.instr(i))) {
      pairs.push_back(CopyPlan{address(dst), address(src), static_cast<size_t>(src.bytes)});
      const bool from_host = plan.buffer(src.buffer).place == ir::Place::host;
      const bool to_host = plan.buffer(dst.buffer).place == ir::Place::host;
      copy_bytes[from_host && !to_host ? 0 : !from_host && to_host ? 1 : 2] += src.bytes;
    }
  }
}

void CudaScheduleExecutor::Impl::resolve_launches() {
  for (const auto& [index, p] : plan.launches) {
    const ir::SchedInstr& in = plan.instr(index);
    const ir::Stage& s = *p.stage;
    auto& executor = executors[{s.name, static_cast<int>(in.stream)}];
    if (!executor) {
      // Stage executors keep scratch between the kernels of one launch, so
      // each stream that launches a stage gets its own.
      executor = std::make_unique<CudaStageExecutor>(s, *p.arena_plan, plan.mb_batch, plan.seq);
      scratch += executor->scratch_bytes();
    }
    DeviceLaunch& d = launches[index];
    d.executor = executor.get();
    DeviceStageBindings& b = d.bindings;
    char* weights = address(p.weights);
    for (size_t k = 0; k < s.params.size(); ++k) b.params.push_back(weights + p.slot_offsets[k] * 2);
    for (const ir::Range& r : p.inputs) b.inputs.push_back(address(r));
    for (size_t o = 0; o < p.outputs.size(); ++o) {
      char* home = address(p.outputs[o]);
      const bool scalar = s.values[static_cast<size_t>(s.outputs[o])].type.rank() == 0;
      if (!scalar || reinterpret_cast<uintptr_t>(home) % kOperandAlignment == 0) {
        b.outputs.push_back(home);
        continue;
      }
      if (!scalar_landing.get())
        scalar_landing =
            DeviceMemory(kOperandAlignment, "the landing slot of scalar outputs of " + plan.schedule.model);
      b.outputs.push_back(scalar_landing.get());
      d.after.push_back(CopyPlan{home, scalar_landing.get(), static_cast<size_t>(p.outputs[o].bytes)});
    }
    auto gradient_home = [&](int64_t slot_offset) {
      const auto [range, elements] = p.gradient_home(slot_offset);
      return reinterpret_cast<float*>(address(*range)) + elements;
    };
    std::vector<bool> has_grad(s.params.size(), false);
    for (const ir::ParamGrad& g : s.grads) {
      has_grad[static_cast<size_t>(g.param)] = true;
      b.grads.push_back(gradient_home(p.slot_offsets[static_cast<size_t>(g.param)]));
    }
    b.accumulate = in.accumulate;
    b.arena = address(p.arena);
    b.loss_count = static_cast<const int*>(loss_count.get());
    if (!s.grads.empty() && !in.accumulate)
      for (size_t k = 0; k < s.params.size(); ++k)
        if (!has_grad[k]) {
          const int64_t n = s.values[static_cast<size_t>(s.params[k].value)].type.static_elements();
          d.clears.emplace_back(gradient_home(p.slot_offsets[k]), static_cast<size_t>(n) * 4);
        }
  }
}

void CudaScheduleExecutor::Impl::create_events() {
  const std::string& model = plan.schedule.model;
  for (int s = 0; s < 3; ++s)
    streams[static_cast<size_t>(s)] =
        OwnedStream(std::string(ir::stream_name(static_cast<ir::Stream>(s))) + " stream of " + model);
  recorder.assign(static_cast<size_t>(plan.schedule.events), -1);
  for (int e = 0; e < plan.schedule.events; ++e)
    events.emplace_back(false, "event ^e" + std::to_string(e) + " of " + model);
  span_begin.resize(plan.schedule.instrs.size());
  span_end.resize(plan.schedule.instrs.size());
  span_recorded.assign(plan.schedule.instrs.size(), 0);
  for (int i = 0; i < static_cast<int>(plan.schedule.instrs.size()); ++i) {
    const ir::SchedInstr& in = plan.instr(i);
    if (in.op == ir::SchedOp::record) {
      int& r = recorder[static_cast<size_t>(in.event)];
      if (r >= 0) throw UserError(plan.where(i) + ": event ^e" + std::to_string(in.event) + " is recorded twice");
      r = static_cast<int>(in.stream);
    }
    const bool timed = is_copy(in.op) || in.op == ir::SchedOp::launch || in.op == ir::SchedOp::recompute ||
                       in.op == ir::SchedOp::wait || in.op == ir::SchedOp::grad_norm ||
                       in.op == ir::SchedOp::optimizer_step || in.op == ir::SchedOp::cast;
    if (timed && is_gpu_stream(static_cast<int>(in.stream))) {
      span_begin[static_cast<size_t>(i)] = OwnedEvent(true, plan.where(i));
      span_end[static_cast<size_t>(i)] = OwnedEvent(true, plan.where(i));
    }
  }
  step_begin = OwnedEvent(true, "the start of a step of " + model);
  step_end = OwnedEvent(true, "the end of a step of " + model);
  for (OwnedEvent& e : stream_done) e = OwnedEvent(false, "a stream's end of a step of " + model);
}

}  // namespace horizon::runtime::cuda
