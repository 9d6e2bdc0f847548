// The CUDA executor's threads. Each GPU stream has an issuing thread that
// walks the stream's instructions in program order and enqueues them: a
// record is cudaEventRecord; a wait for an event of another GPU stream is
// cudaStreamWaitEvent, issued only after the recording thread has enqueued
// the record (the host handshake, so a wait never sees last step's record);
// a wait for the cpu stream blocks the issuing thread until the CPU did the
// work. The cpu stream is a worker thread that runs the norm and AdamW on
// the pinned slabs, waiting for GPU events with cudaEventSynchronize. No
// thread synchronizes the device; only the step's end waits for the loss.
#include <algorithm>

#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/cuda_schedule_executor_impl.h"
#include "support/error.h"

namespace horizon::runtime::cuda {
namespace {

double seconds_between(cudaEvent_t from, cudaEvent_t to) {
  float ms = 0;
  check_cuda(cudaEventElapsedTime(&ms, from, to), "cudaEventElapsedTime", "timing an instruction of the step");
  return static_cast<double>(ms) * 1e-3;
}

}  // namespace

double CudaStepMeasurements::busy_share(ir::Stream s) const {
  return step_seconds > 0 ? busy_seconds[static_cast<size_t>(s)] / step_seconds : 0;
}

double CudaStepMeasurements::h2d_gbps() const {
  const double busy = busy_seconds[static_cast<size_t>(ir::Stream::h2d)];
  return busy > 0 ? static_cast<double>(h2d_bytes) / busy * 1e-9 : 0;
}

double CudaStepMeasurements::d2h_gbps() const {
  const double busy = busy_seconds[static_cast<size_t>(ir::Stream::d2h)];
  return busy > 0 ? static_cast<double>(d2h_bytes) / busy * 1e-9 : 0;
}

void CudaScheduleExecutor::Impl::run_stream(int stream) {
  check_cuda(cudaSetDevice(device), "cudaSetDevice",
             std::string("the ") + ir::stream_name(static_cast<ir::Stream>(stream)) + " stream's issuing thread");
  if (!is_gpu_stream(stream)) return run_cpu_program();
  for (int i : plan.programs[static_cast<size_t>(stream)]) {
    const ir::SchedInstr& in = plan.instr(i);
    // Deadlocks (a wait for an event no stream will record) fail here, naming the waits.
    if (in.op == ir::SchedOp::wait) issued.wait(in.event, stream, plan.wait_names[static_cast<size_t>(i)]);
    try {
      issue_gpu(i, streams[static_cast<size_t>(stream)].get());
    } catch (const UserError&) {
      throw;
    } catch (const std::exception& e) {
      throw std::runtime_error(plan.where(i) + ": " + e.what());
    }
  }
  issued.finish(stream);
}

void CudaScheduleExecutor::Impl::run_cpu_program() {
  const int cpu = static_cast<int>(ir::Stream::cpu);
  auto run = [&](int i) {
    try {
      run_cpu(i);
    } catch (const UserError&) {
      throw;
    } catch (const std::exception& e) {
      throw std::runtime_error(plan.where(i) + ": " + e.what());
    }
  };
  // The previous step's tail first: AdamW's step count, the learning rate
  // and the clip factor belong to one step at a time.
  tail->wait_idle();
  updates->set_learning_rate(step_lr);
  updates->begin_step();
  const bool defer = overlap_updates && !tail_instrs.empty();
  const size_t in_step = plan.programs[static_cast<size_t>(cpu)].size() - (defer ? tail_instrs.size() : 0);
  for (size_t k = 0; k < in_step; ++k) {
    const int i = plan.programs[static_cast<size_t>(cpu)][k];
    if (plan.instr(i).op == ir::SchedOp::wait) {
      cpu_start[static_cast<size_t>(i)] = host_now();
      issued.wait(plan.instr(i).event, cpu, plan.wait_names[static_cast<size_t>(i)]);
    }
    run(i);
  }
  issued.finish(cpu);
  if (!defer) return;
  tail->start(step_index, [this, run](const UpdateTail::RegionDone& done) {
    for (int i : tail_instrs) {
      run(i);
      done(plan.updates.at(i).region);
    }
  });
}

void CudaScheduleExecutor::Impl::issue_gpu(int index, cudaStream_t stream) {
  const ir::SchedInstr& in = plan.instr(index);
  const size_t i = static_cast<size_t>(index);
  const bool timed = timing && span_begin[i].get();
  span_recorded[i] = timed;
  auto begin = [&] {
    if (timed) check_cuda(cudaEventRecord(span_begin[i].get(), stream), "cudaEventRecord", "timing the instruction");
  };
  auto end = [&] {
    if (timed) check_cuda(cudaEventRecord(span_end[i].get(), stream), "cudaEventRecord", "timing the instruction");
  };
  switch (in.op) {
    case ir::SchedOp::record:
      check_cuda(cudaEventRecord(events[static_cast<size_t>(in.event)].get(), stream), "cudaEventRecord",
                 "recording ^e" + std::to_string(in.event));
      issued.record(in.event);
      return;
    case ir::SchedOp::wait: {
      const int by = recorder[static_cast<size_t>(in.event)];
      // The handshake already ordered this stream after work of its own or
      // of the CPU; only another GPU stream's event needs a device-side wait.
      if (by < 0 || by == static_cast<int>(in.stream) || !is_gpu_stream(by)) {
        span_recorded[i] = false;
        return;
      }
      begin();
      check_cuda(cudaStreamWaitEvent(stream, events[static_cast<size_t>(in.event)].get(), 0), "cudaStreamWaitEvent",
                 "waiting for ^e" + std::to_string(in.event));
      end();
      return;
    }
    case ir::SchedOp::launch:
    case ir::SchedOp::recompute: {
      const DeviceLaunch& l = launches.at(index);
      begin();
      for (const auto& [ptr, bytes] : l.clears)
        check_cuda(cudaMemsetAsync(ptr, 0, bytes, stream), "cudaMemsetAsync",
                   "clearing the gradient of a parameter without one");
      l.executor->launch(l.bindings, stream);
      for (const CopyPlan& c : l.after)
        check_cuda(cudaMemcpyAsync(c.dst, c.src, c.bytes, cudaMemcpyDeviceToDevice, stream), "cudaMemcpyAsync",
                   "moving a scalar output home");
      end();
      return;
    }
    case ir::SchedOp::cast: {
      const CastPlan& c = plan.casts.at(index);
      begin();
      gradient_cast->cast(reinterpret_cast<float*>(address(c.src)), c.elements, stream);
      end();
      return;
    }
    case ir::SchedOp::grad_norm:
      begin();
      issue_device_norm(index, stream);
      end();
      return;
    case ir::SchedOp::optimizer_step:
      begin();
      issue_device_update(index, stream);
      end();
      return;
    case ir::SchedOp::stream_in:
      // The previous step's update of every region this copy reads, if deferred.
      tail->wait_regions(regions_read.at(index), step_index - 1);
      [[fallthrough]];
    case ir::SchedOp::save:
    case ir::SchedOp::restore:
    case ir::SchedOp::offload:
      begin();
      for (const CopyPlan& c : copies.at(index))
        check_cuda(cudaMemcpyAsync(c.dst, c.src, c.bytes, cudaMemcpyDefault, stream), "cudaMemcpyAsync",
                   "copying " + std::to_string(c.bytes) + " bytes");
      end();
      return;
    default:  // bind and free move nothing
      span_recorded[i] = false;
      return;
  }
}

void CudaScheduleExecutor::Impl::run_cpu(int index) {
  const ir::SchedInstr& in = plan.instr(index);
  const size_t i = static_cast<size_t>(index);
  switch (in.op) {
    case ir::SchedOp::record:
      issued.record(in.event);
      return;
    case ir::SchedOp::wait: {
      const int by = recorder[static_cast<size_t>(in.event)];
      if (by >= 0 && is_gpu_stream(by))
        check_cuda(cudaEventSynchronize(events[static_cast<size_t>(in.event)].get()), "cudaEventSynchronize",
                   "the CPU waiting for ^e" + std::to_string(in.event));
      cpu_end[i] = host_now();
      return;
    }
    case ir::SchedOp::grad_norm:
      cpu_start[i] = host_now();
      updates->grad_norm(index);
      cpu_end[i] = host_now();
      return;
    case ir::SchedOp::optimizer_step:
      cpu_start[i] = host_now();
      updates->optimizer_step(index);
      cpu_end[i] = host_now();
      return;
    default:
      return;
  }
}

void CudaScheduleExecutor::Impl::measure() {
  CudaStepMeasurements& out = last;
  out.step_seconds = seconds_between(step_begin.get(), step_end.get());
  const float* losses = reinterpret_cast<const float*>(loss_host.get());
  double loss = 0;
  for (int64_t m = 0; m < plan.micro_batches; ++m)
    loss += losses[m];  // each over the step's count: the sum is the mean
  out.loss = loss;
  out.grad_norm = updates->norm();
  out.h2d_bytes = copy_bytes[0];
  out.d2h_bytes = copy_bytes[1];
  out.d2d_bytes = copy_bytes[2];
  out.busy_seconds.fill(0);
  out.spans.assign(plan.schedule.instrs.size(), InstrSpan{});
  // The step's window on the host clock: a CPU instruction's latest run
  // counts where it overlaps it — the previous step's deferred updates in,
  // this step's out until the next window.
  const double window_end = std::min(host_now(), host_begin + out.step_seconds);
  for (size_t i = 0; i < plan.schedule.instrs.size(); ++i) {
    const ir::SchedInstr& in = plan.schedule.instrs[i];
    InstrSpan& span = out.spans[i];
    if (!is_gpu_stream(static_cast<int>(in.stream))) {
      const double start = cpu_start[i], end = cpu_end[i];
      if (start < 0) continue;
      const double finish = end < start ? window_end : end;       // still running
      if (finish <= host_begin || start >= window_end) continue;  // before or after this step's window
      span.start = std::max(start, host_begin) - host_begin;
      span.end = std::min(finish, window_end) - host_begin;
    } else {
      if (!span_recorded[i]) continue;
      span.start = seconds_between(step_begin.get(), span_begin[i].get());
      span.end = seconds_between(step_begin.get(), span_end[i].get());
    }
    if (in.op != ir::SchedOp::wait) out.busy_seconds[static_cast<size_t>(in.stream)] += span.end - span.start;
  }
}

// Once the last step's deferred updates are done, its timeline (the trace
// written at the end of training) shows them after its GPU work; its busy
// times stay those of its window.
void CudaScheduleExecutor::Impl::add_deferred_spans() {
  if (step_index == 0) return;
  for (int i : tail_instrs) {
    InstrSpan& span = last.spans[static_cast<size_t>(i)];
    const double start = cpu_start[static_cast<size_t>(i)], end = cpu_end[static_cast<size_t>(i)];
    if (span.start >= 0 || start < host_begin || end < start) continue;
    span = {start - host_begin, end - host_begin};
  }
}

}  // namespace horizon::runtime::cuda
