// The CUDA schedule executor's memory and its step. Every GPU buffer of the
// schedule is allocated (one cudaMalloc each) and zeroed once, every host
// buffer allocated, touched and registered, and the store's bf16 weight
// planes registered in place — all before the first step
// (cuda_schedule_executor_program.cpp resolves the program onto them). A
// step uploads the batch, lets the issuing threads enqueue the program, and
// waits once, for the loss.
#include "runtime/cuda/cuda_schedule_executor.h"

#include <algorithm>
#include <cstring>

#include "ir/step_pair.h"
#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/cuda_schedule_executor_impl.h"
#include "runtime/trainer.h"
#include "support/error.h"
#include "support/numbers.h"

namespace horizon::runtime::cuda {

CudaScheduleExecutor::Impl::Impl(const ir::Schedule& s, const ir::Module& g, HostStore& st, const AdamWConfig& adamw,
                                 float clip)
    : plan(s, g, st), store(st), issued(s.events, ir::kNumStreams) {
  describe_device();
  check_streams();
  allocate();
  std::vector<char*> host(plan.schedule.buffers.size(), nullptr);
  for (size_t b = 0; b < host.size(); ++b) host[b] = host_buffers[b].get();
  updates = std::make_unique<HostUpdates>(plan, store, adamw, clip, std::move(host));
  prepare_resident();
  if (!plan.casts.empty()) gradient_cast = std::make_unique<GradientCast>();
  resolve_copies();
  resolve_launches();
  create_events();
  epoch = std::chrono::steady_clock::now();
  const size_t n = plan.schedule.instrs.size();
  cpu_start = std::make_unique<std::atomic<double>[]>(n);
  cpu_end = std::make_unique<std::atomic<double>[]>(n);
  for (size_t i = 0; i < n; ++i) cpu_start[i] = cpu_end[i] = -1;
  plan_tail();
  // Zeroing and the stage executors' setup ran on the legacy stream, which
  // our non-blocking streams do not wait for.
  check_cuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize", "preparing the schedule of " + plan.schedule.model);
  workers = std::make_unique<StreamWorkers>(
      ir::kNumStreams, [this](int stream) { run_stream(stream); }, [this] { issued.abort(); });
}

CudaScheduleExecutor::Impl::~Impl() {
  tail.reset();     // the last step's updates finish before the store is left alone
  workers.reset();  // no thread may enqueue while the streams go away
  for (OwnedStream& s : streams)
    if (s.get()) cudaStreamSynchronize(s.get());
}

void CudaScheduleExecutor::Impl::describe_device() {
  check_cuda(cudaGetDevice(&device), "cudaGetDevice", "choosing the device of the schedule of " + plan.schedule.model);
  cudaDeviceProp prop{};
  check_cuda(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties",
             "describing device " + std::to_string(device));
  description = std::string(prop.name) + " (device " + std::to_string(device) + ", sm_" +
                std::to_string(prop.major * 10 + prop.minor) + ", " +
                format_bytes(static_cast<double>(prop.totalGlobalMem)) + ")";
}

void CudaScheduleExecutor::Impl::check_streams() {
  for (int i = 0; i < static_cast<int>(plan.schedule.instrs.size()); ++i) {
    const ir::SchedInstr& in = plan.instr(i);
    const bool on_gpu = is_gpu_stream(static_cast<int>(in.stream));
    const bool gpu_work = is_copy(in.op) || in.op == ir::SchedOp::launch || in.op == ir::SchedOp::recompute ||
                          in.op == ir::SchedOp::bind || in.op == ir::SchedOp::cast;
    const bool optimizer = in.op == ir::SchedOp::grad_norm || in.op == ir::SchedOp::optimizer_step;
    if (gpu_work && !on_gpu)
      throw UserError(plan.where(i) + ": the CUDA executor runs copies and launches on a GPU stream");
    if (optimizer && on_gpu && in.stream != ir::Stream::compute)
      throw UserError(plan.where(i) + ": the CUDA executor runs a resident region's norm and update on compute");
  }
}

void CudaScheduleExecutor::Impl::allocate() {
  const size_t n = plan.schedule.buffers.size();
  device_buffers.resize(n);
  host_buffers.resize(n);
  for (size_t b = 0; b < n; ++b) {
    const ir::Buffer& buf = plan.schedule.buffers[b];
    if (static_cast<int>(b) == plan.store_buffer) continue;
    const std::string what = "schedule buffer %" + buf.name + " of " + plan.schedule.model;
    if (buf.place == ir::Place::gpu) {
      device_buffers[b] = DeviceMemory(buf.bytes, what);
      // Nothing reads a buffer before the schedule writes it; zeroing keeps a
      // bug in that proof from showing up as nondeterminism.
      if (buf.bytes > 0)
        check_cuda(cudaMemset(device_buffers[b].get(), 0, static_cast<size_t>(buf.bytes)), "cudaMemset", what);
      device_allocated += buf.bytes;
    } else {
      host_buffers[b] = PinnedBuffer(buf.bytes, what);
      host_allocated += host_buffers[b].allocated_bytes();
    }
  }
  // Only the w_hi plane of a region is streamed; pinning just it keeps 2 of
  // the store's 8 bytes per parameter page-locked.
  for (size_t r = 0; r < store.regions().size(); ++r) {
    const Region& reg = store.regions()[r];
    store_pins.emplace_back(reg.w_hi, reg.elements * 2,
                            "host store " + reg.stage + "[" + std::to_string(reg.instance) + "] bf16 weights");
  }
  const int64_t batch_bytes = plan.schedule.config.batch * plan.seq * 4;
  // A DPO batch's reference log-probabilities are staged after the positions and segments.
  batch_staging = PinnedBuffer(4 * batch_bytes + 4 + plan.schedule.config.batch * 4,
                               "the batch's tokens, targets, loss count, positions, segments (and reference)");
  loss_host = PinnedBuffer(plan.micro_batches * 4, "the micro-batch losses");
  host_allocated += batch_staging.allocated_bytes() + loss_host.allocated_bytes();
  if (plan.logps_buffer >= 0) {
    logps_host = PinnedBuffer(plan.schedule.config.batch * 4, "the rows' policy log-probabilities");
    host_allocated += logps_host.allocated_bytes();
  }
  loss_count = DeviceMemory(4, "the step's loss count");
}

void CudaScheduleExecutor::Impl::plan_tail() {
  tail = std::make_unique<UpdateTail>(static_cast<int>(store.regions().size()));
  // The tail: the optimizer_steps after the last grad_norm, as the verifier
  // and the planner see it (ir/step_pair.h). Without clipping the updates
  // run as gradients land, interleaved with waits for the GPU, and the
  // embedding's (needed first by the next forward) lands last: nothing is
  // deferred.
  tail_instrs = ir::deferred_updates(plan.schedule);
  // The regions each stream_in reads (its own, and a tied tensor's home).
  const auto& offsets = plan.store_offsets;
  for (int i : plan.programs[static_cast<size_t>(ir::Stream::h2d)]) {
    if (plan.instr(i).op != ir::SchedOp::stream_in) continue;
    std::vector<int>& regions = regions_read[i];
    for (const auto& [src, dst] : copy_pairs(plan.instr(i))) {
      if (src.buffer != plan.store_buffer) continue;
      const int r =
          static_cast<int>(std::upper_bound(offsets.begin(), offsets.end(), src.offset) - offsets.begin()) - 1;
      if (r >= 0 && std::find(regions.begin(), regions.end(), r) == regions.end()) regions.push_back(r);
    }
  }
}

double CudaScheduleExecutor::Impl::host_now() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch).count();
}

char* CudaScheduleExecutor::Impl::address(const ir::Range& r) const {
  if (r.buffer == plan.store_buffer) return plan.store_weights(r);
  const size_t b = static_cast<size_t>(r.buffer);
  if (plan.buffer(r.buffer).place == ir::Place::host) return host_buffers[b].get() + r.offset;
  return device_buffers[b].at(r.offset);
}

void CudaScheduleExecutor::Impl::finish_step() {
  // The single host wait of the step: compute joins the copy streams, brings
  // the losses home and records the end; once that completes, every GPU
  // stream is idle and the batch and loss buffers are free for the next step.
  cudaStream_t compute = streams[0].get();
  for (int s : {1, 2}) {
    check_cuda(cudaEventRecord(stream_done[static_cast<size_t>(s)].get(), streams[static_cast<size_t>(s)].get()),
               "cudaEventRecord", "the end of the step on a copy stream");
    check_cuda(cudaStreamWaitEvent(compute, stream_done[static_cast<size_t>(s)].get(), 0), "cudaStreamWaitEvent",
               "joining the copy streams at the end of the step");
  }
  check_cuda(cudaMemcpyAsync(loss_host.get(), device_buffers[static_cast<size_t>(plan.loss_buffer)].get(),
                             static_cast<size_t>(plan.micro_batches * 4), cudaMemcpyDeviceToHost, compute),
             "cudaMemcpyAsync", "copying the micro-batch losses to the host");
  if (plan.logps_buffer >= 0)
    // Each micro-batch's share is padded on the device (ir::row_share_bytes), packed on the host.
    check_cuda(cudaMemcpy2DAsync(logps_host.get(), static_cast<size_t>(plan.mb_batch * 4),
                                 device_buffers[static_cast<size_t>(plan.logps_buffer)].get(),
                                 static_cast<size_t>(ir::row_share_bytes(plan.mb_batch)),
                                 static_cast<size_t>(plan.mb_batch * 4), static_cast<size_t>(plan.micro_batches),
                                 cudaMemcpyDeviceToHost, compute),
               "cudaMemcpyAsync", "copying the rows' policy log-probabilities to the host");
  check_cuda(cudaEventRecord(step_end.get(), compute), "cudaEventRecord", "the end of the step");
  check_cuda(cudaEventSynchronize(step_end.get()), "cudaEventSynchronize", "waiting for the step's losses");
}

CudaScheduleExecutor::CudaScheduleExecutor(const ir::Schedule& schedule, const ir::Module& lowered, HostStore& store,
                                           const AdamWConfig& adamw, float clip)
    : impl_(std::make_unique<Impl>(schedule, lowered, store, adamw, clip)) {}

CudaScheduleExecutor::~CudaScheduleExecutor() = default;

void CudaScheduleExecutor::set_learning_rate(float lr) { impl_->step_lr = lr; }
void CudaScheduleExecutor::set_overlap_updates(bool on) {
  impl_->tail->wait_idle();
  impl_->overlap_updates = on;
}
void CudaScheduleExecutor::finish_updates() { impl_->save_resident(false); }
void CudaScheduleExecutor::finish_weights() { impl_->save_resident(true); }
void CudaScheduleExecutor::set_gradient_sink(GradientSink* sink) {
  if (sink && impl_->device_optimizer)
    throw UserError("schedule of " + impl_->plan.schedule.model +
                    ": gradient capture reads every layer's gradient from host slabs; lower it with no resident "
                    "layers (--resident 0)");
  impl_->tail->wait_idle();  // a deferred update still running belongs to the step before
  impl_->updates->set_gradient_sink(sink);
}
void CudaScheduleExecutor::set_timing(bool on) { impl_->timing = on; }
const CudaStepMeasurements& CudaScheduleExecutor::last_step() const { return impl_->last; }
int64_t CudaScheduleExecutor::device_bytes() const {
  return impl_->device_allocated + impl_->scratch + impl_->scalar_landing.bytes();
}
int64_t CudaScheduleExecutor::scratch_bytes() const { return impl_->scratch + impl_->scalar_landing.bytes(); }
int64_t CudaScheduleExecutor::host_bytes() const { return impl_->host_allocated + impl_->store.bytes(); }
const ir::Schedule& CudaScheduleExecutor::schedule() const { return impl_->plan.schedule; }
const std::string& CudaScheduleExecutor::device_description() const { return impl_->description; }

std::vector<float> CudaScheduleExecutor::last_logprobs() const {
  if (impl_->plan.logps_buffer < 0) return {};
  const float* v = reinterpret_cast<const float*>(impl_->logps_host.get());
  return std::vector<float>(v, v + impl_->plan.schedule.config.batch);
}

float CudaScheduleExecutor::step(const int32_t* tokens, const int32_t* targets, const int32_t* positions,
                                 const int32_t* segments, const float* reference) {
  Impl& m = *impl_;
  check_cuda(cudaSetDevice(m.device), "cudaSetDevice", "starting a step of " + m.plan.schedule.model);
  const size_t batch_bytes = static_cast<size_t>(m.plan.schedule.config.batch * m.plan.seq * 4);
  std::memcpy(m.batch_staging.get(), tokens, batch_bytes);
  std::memcpy(m.batch_staging.get() + batch_bytes, targets, batch_bytes);
  auto count = static_cast<int32_t>(loss_count(targets, m.plan.schedule.config.batch * m.plan.seq));
  char* staged_reference = m.batch_staging.get() + 4 * batch_bytes + 4;
  if (m.plan.reference_buffer >= 0) {
    if (!reference) throw UserError("a DPO step needs the reference log-probability of each row");
    if (m.plan.mb_batch % 2)
      throw UserError("a DPO micro-batch holds whole chosen/rejected pairs: batch / micro-batches must be even");
    std::memcpy(staged_reference, reference, static_cast<size_t>(m.plan.schedule.config.batch * 4));
    count = static_cast<int32_t>(m.plan.schedule.config.batch / 2);  // the loss is the mean over the step's pairs
  }
  std::memcpy(m.batch_staging.get() + 2 * batch_bytes, &count, 4);
  // Staged after the count: positions at 2 * batch_bytes + 4, segments after them.
  char* documents = m.batch_staging.get() + 2 * batch_bytes + 4;
  const int64_t rows = m.plan.schedule.config.batch;
  if (m.plan.segments_buffer >= 0) {
    auto* pos = reinterpret_cast<int32_t*>(documents);
    auto* seg = reinterpret_cast<int32_t*>(documents + batch_bytes);
    whole_row_documents(pos, seg, rows, m.plan.seq);
    if (positions) std::memcpy(pos, positions, batch_bytes);
    if (segments) std::memcpy(seg, segments, batch_bytes);
  } else if (packs_documents(positions, segments, rows, m.plan.seq)) {
    throw UserError("the batch packs several documents per row, but the schedule's model was compiled for whole rows; "
                    "lower it with packed_documents (passes::LowerOptions)");
  }
  m.issued.reset();
  m.device_lr = m.step_lr;
  m.device_step = m.store.step() + 1;  // begin_step's count, before the cpu stream takes it there

  cudaStream_t compute = m.streams[0].get();
  try {
    // The batch goes in on compute, the only stream that reads it; the copy
    // streams start with the step's first event so spans share its origin.
    m.host_begin = m.host_now();
    check_cuda(cudaEventRecord(m.step_begin.get(), compute), "cudaEventRecord", "the start of the step");
    for (int b : {m.plan.tokens_buffer, m.plan.targets_buffer})
      check_cuda(cudaMemcpyAsync(m.device_buffers[static_cast<size_t>(b)].get(),
                                 m.batch_staging.get() + (b == m.plan.tokens_buffer ? 0 : batch_bytes), batch_bytes,
                                 cudaMemcpyHostToDevice, compute),
                 "cudaMemcpyAsync", "uploading the batch's tokens and targets");
    check_cuda(cudaMemcpyAsync(m.loss_count.get(), m.batch_staging.get() + 2 * batch_bytes, 4, cudaMemcpyHostToDevice,
                               compute),
               "cudaMemcpyAsync", "uploading the batch's loss count");
    if (m.plan.reference_buffer >= 0)
      check_cuda(cudaMemcpy2DAsync(m.device_buffers[static_cast<size_t>(m.plan.reference_buffer)].get(),
                                   static_cast<size_t>(ir::row_share_bytes(m.plan.mb_batch)), staged_reference,
                                   static_cast<size_t>(m.plan.mb_batch * 4), static_cast<size_t>(m.plan.mb_batch * 4),
                                   static_cast<size_t>(m.plan.micro_batches), cudaMemcpyHostToDevice, compute),
                 "cudaMemcpyAsync", "uploading the batch's reference log-probabilities");
    if (m.plan.segments_buffer >= 0)
      for (int b : {m.plan.positions_buffer, m.plan.segments_buffer})
        check_cuda(cudaMemcpyAsync(m.device_buffers[static_cast<size_t>(b)].get(),
                                   documents + (b == m.plan.positions_buffer ? 0 : batch_bytes), batch_bytes,
                                   cudaMemcpyHostToDevice, compute),
                   "cudaMemcpyAsync", "uploading the batch's positions and segments");
    for (int s : {1, 2})
      check_cuda(cudaStreamWaitEvent(m.streams[static_cast<size_t>(s)].get(), m.step_begin.get(), 0),
                 "cudaStreamWaitEvent", "starting a copy stream with the step");
    m.workers->run();
    m.finish_step();
  } catch (...) {
    // Nothing enqueued may outlive the step it belongs to.
    for (OwnedStream& s : m.streams) cudaStreamSynchronize(s.get());
    try {
      m.tail->wait_idle();
    } catch (...) {  // the first failure is the one to report
    }
    ++m.step_index;
    throw;
  }
  m.measure();
  ++m.step_index;
  return static_cast<float>(m.last.loss);
}

}  // namespace horizon::runtime::cuda
