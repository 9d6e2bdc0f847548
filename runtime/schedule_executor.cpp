// The schedule executor's memory and streams: every buffer of the schedule
// allocated once (%store maps onto the HostStore's regions), one thread per
// stream running that stream's instructions in program order — copies,
// launches, the norm and the optimizer — and a step is every stream running
// its program once. Also the Trainer backend that runs its steps through the
// executor.
#include "runtime/schedule_executor.h"

#include <algorithm>
#include <cstring>
#include <optional>

#include "runtime/schedule_executor_impl.h"
#include "support/bf16_gradient.h"
#include "support/error.h"

namespace horizon::runtime {
namespace {

// Emulated device memory is aligned like a device allocation (the arena's
// offsets assume 256-byte alignment).
constexpr int64_t kAlignment = 256;

int64_t aligned(int64_t bytes) {
  return std::max<int64_t>(kAlignment, (bytes + kAlignment - 1) / kAlignment * kAlignment);
}

MemoryBlock allocate_block(int64_t bytes) {
  char* p = static_cast<char*>(std::aligned_alloc(kAlignment, static_cast<size_t>(aligned(bytes))));
  if (!p) throw std::bad_alloc();
  std::memset(p, 0, static_cast<size_t>(aligned(bytes)));
  return MemoryBlock(p);
}

}  // namespace

ScheduleExecutor::Impl::Impl(const ir::Schedule& s, const ir::Module& g, HostStore& st, const AdamWConfig& adamw,
                             float clip)
    : plan(s, g, st), store(st), events(s.events, ir::kNumStreams), stream_stats(ir::kNumStreams) {
  allocate();
  std::vector<char*> host_buffers(blocks.size(), nullptr);
  for (size_t b = 0; b < blocks.size(); ++b) host_buffers[b] = blocks[b].get();  // every buffer is host memory here
  updates = std::make_unique<HostUpdates>(plan, store, adamw, clip, std::move(host_buffers));
  for (const auto& [index, p] : plan.launches) {
    auto& executor = executors[p.stage->name];
    if (!executor) executor = std::make_unique<CpuStageExecutor>(*p.stage);
  }
  weights_fp32.resize(static_cast<size_t>(plan.max_slot_elements));
  grad_partial.resize(static_cast<size_t>(plan.max_slot_elements));
  workers = std::make_unique<StreamWorkers>(
      ir::kNumStreams, [this](int stream) { run_stream(stream); }, [this] { events.abort(); });
}

void ScheduleExecutor::Impl::allocate() {
  for (size_t b = 0; b < plan.schedule.buffers.size(); ++b) {
    const ir::Buffer& buf = plan.schedule.buffers[b];
    if (static_cast<int>(b) == plan.store_buffer) {
      blocks.emplace_back();
      continue;
    }
    blocks.push_back(allocate_block(buf.bytes));
    (buf.place == ir::Place::host ? host_allocated : device_allocated) += aligned(buf.bytes);
  }
}

char* ScheduleExecutor::Impl::at(const ir::Range& r) const {
  if (r.buffer == plan.store_buffer) return plan.store_weights(r);
  return blocks[static_cast<size_t>(r.buffer)].get() + r.offset;
}

void ScheduleExecutor::Impl::copy(int index, StreamStats& stats) {
  for (const auto& [src, dst] : copy_pairs(plan.instr(index))) {
    std::memcpy(at(dst), at(src), static_cast<size_t>(src.bytes));
    const bool from_host = plan.buffer(src.buffer).place == ir::Place::host;
    const bool to_host = plan.buffer(dst.buffer).place == ir::Place::host;
    if (from_host && !to_host) stats.h2d += src.bytes;
    if (!from_host && to_host) stats.d2h += src.bytes;
    if (!from_host && !to_host) stats.d2d += src.bytes;
  }
}

void ScheduleExecutor::Impl::run_stream(int stream) {
  StreamStats& stats = stream_stats[static_cast<size_t>(stream)];
  stats = StreamStats{};
  for (int i : plan.programs[static_cast<size_t>(stream)]) {
    const ir::SchedInstr& in = plan.instr(i);
    if (in.op == ir::SchedOp::wait) {
      events.wait(in.event, stream, plan.wait_names.at(static_cast<size_t>(i)));
      continue;
    }
    const auto start = std::chrono::steady_clock::now();
    try {
      switch (in.op) {
        case ir::SchedOp::record:
          events.record(in.event);
          break;
        case ir::SchedOp::launch:
        case ir::SchedOp::recompute: {
          std::lock_guard<std::mutex> lock(pool_mu);
          launch(i, stats);
          break;
        }
        case ir::SchedOp::cast: {  // the GPU kernel's result, on the emulated device's memory
          const CastPlan& c = plan.casts.at(i);
          pack_bf16_pairs(reinterpret_cast<float*>(at(c.src)), c.elements);
          break;
        }
        case ir::SchedOp::grad_norm: {
          std::lock_guard<std::mutex> lock(pool_mu);
          updates->grad_norm(i);
          break;
        }
        case ir::SchedOp::optimizer_step: {
          std::lock_guard<std::mutex> lock(pool_mu);
          updates->optimizer_step(i);
          break;
        }
        case ir::SchedOp::bind:
        case ir::SchedOp::free:
        case ir::SchedOp::wait:
          break;
        default:
          copy(i, stats);
      }
    } catch (const UserError&) {
      throw;
    } catch (const std::exception& e) {
      throw std::runtime_error(plan.where(i) + ": " + e.what());
    }
    stats.busy += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  events.finish(stream);
}

ScheduleExecutor::ScheduleExecutor(const ir::Schedule& schedule, const ir::Module& lowered, HostStore& store,
                                   const AdamWConfig& adamw, float clip)
    : impl_(std::make_unique<Impl>(schedule, lowered, store, adamw, clip)) {}

ScheduleExecutor::~ScheduleExecutor() = default;

void ScheduleExecutor::finish_updates() {
  Impl& m = *impl_;
  if (!m.resident_loaded) return;
  for (const auto& [index, u] : m.plan.updates)
    if (u.on_device) m.store.unpack_region(u.region, m.at(u.params));
}

void ScheduleExecutor::set_learning_rate(float lr) { impl_->updates->set_learning_rate(lr); }
void ScheduleExecutor::set_gradient_sink(GradientSink* sink) { impl_->updates->set_gradient_sink(sink); }
void ScheduleExecutor::set_loss_count(int64_t count) { impl_->given_loss_count = count; }
void ScheduleExecutor::set_wait_timeout(std::chrono::milliseconds timeout) { impl_->events.set_timeout(timeout); }
const ExecutorMeasurements& ScheduleExecutor::last_step() const { return impl_->last; }
int64_t ScheduleExecutor::host_bytes() const { return impl_->host_allocated + impl_->store.bytes(); }
int64_t ScheduleExecutor::device_bytes() const { return impl_->device_allocated; }
const ir::Schedule& ScheduleExecutor::schedule() const { return impl_->plan.schedule; }

std::vector<float> ScheduleExecutor::last_logprobs() const {
  const ResolvedSchedule& p = impl_->plan;
  if (p.logps_buffer < 0) return {};
  const char* v = impl_->blocks[static_cast<size_t>(p.logps_buffer)].get();
  std::vector<float> out(static_cast<size_t>(p.schedule.config.batch));
  for (int64_t mb = 0; mb < p.micro_batches; ++mb)  // each micro-batch's share is padded (ir::row_share_bytes)
    std::memcpy(out.data() + mb * p.mb_batch, v + mb * ir::row_share_bytes(p.mb_batch),
                static_cast<size_t>(p.mb_batch * 4));
  return out;
}

float ScheduleExecutor::step(const int32_t* tokens, const int32_t* targets, const int32_t* positions,
                             const int32_t* segments, const float* reference) {
  Impl& m = *impl_;
  const ResolvedSchedule& p = m.plan;
  const size_t batch_bytes = static_cast<size_t>(p.schedule.config.batch * p.seq * 4);
  // The batch is on the device when the step starts (the schedule reads it, never loads it).
  std::memcpy(m.blocks[static_cast<size_t>(p.tokens_buffer)].get(), tokens, batch_bytes);
  std::memcpy(m.blocks[static_cast<size_t>(p.targets_buffer)].get(), targets, batch_bytes);
  m.loss_count = loss_count(targets, p.schedule.config.batch * p.seq);
  if (p.reference_buffer >= 0) {
    if (!reference) throw UserError("a DPO step needs the reference log-probability of each row");
    if (p.mb_batch % 2)
      throw UserError("a DPO micro-batch holds whole chosen/rejected pairs: batch / micro-batches must be even");
    for (int64_t mb = 0; mb < p.micro_batches; ++mb)  // each micro-batch's share is padded (ir::row_share_bytes)
      std::memcpy(m.blocks[static_cast<size_t>(p.reference_buffer)].get() + mb * ir::row_share_bytes(p.mb_batch),
                  reference + mb * p.mb_batch, static_cast<size_t>(p.mb_batch * 4));
    m.loss_count = p.schedule.config.batch / 2;  // the loss is the mean over the step's pairs
  }
  if (p.segments_buffer >= 0) {
    auto* pos = reinterpret_cast<int32_t*>(m.blocks[static_cast<size_t>(p.positions_buffer)].get());
    auto* seg = reinterpret_cast<int32_t*>(m.blocks[static_cast<size_t>(p.segments_buffer)].get());
    whole_row_documents(pos, seg, p.schedule.config.batch, p.seq);
    if (positions) std::memcpy(pos, positions, batch_bytes);
    if (segments) std::memcpy(seg, segments, batch_bytes);
  } else if (packs_documents(positions, segments, p.schedule.config.batch, p.seq)) {
    throw UserError("the batch packs several documents per row, but the schedule's model was compiled for whole rows; "
                    "lower it with packed_documents (passes::LowerOptions)");
  }
  if (!m.resident_loaded) {
    for (const auto& [index, u] : p.updates)
      if (u.on_device) m.store.pack_region(u.region, m.at(u.params));
    m.resident_loaded = true;
  }
  if (m.given_loss_count > 0) m.loss_count = m.given_loss_count;
  m.events.reset();
  m.updates->begin_step();
  m.workers->run();

  ExecutorMeasurements& out = m.last;
  out = ExecutorMeasurements{};
  for (int s = 0; s < ir::kNumStreams; ++s) {
    const Impl::StreamStats& st = m.stream_stats[static_cast<size_t>(s)];
    out.busy_seconds[static_cast<size_t>(s)] = st.busy;
    out.h2d_bytes += st.h2d;
    out.d2h_bytes += st.d2h;
    out.d2d_bytes += st.d2d;
    out.arena_high_water = std::max(out.arena_high_water, st.arena_high_water);
  }
  const float* losses = reinterpret_cast<const float*>(m.blocks[static_cast<size_t>(p.loss_buffer)].get());
  double loss = 0;
  for (int64_t i = 0; i < p.micro_batches; ++i) loss += losses[i];  // each over the step's count: the sum is the mean
  out.loss = loss;
  out.grad_norm = m.updates->norm();
  return static_cast<float>(out.loss);
}

namespace {

class StreamedStep : public StepBackend {
 public:
  StreamedStep(const ir::Schedule& schedule, const ir::Module& lowered, HostStore& store, const TrainConfig& config)
      : executor_(schedule, lowered, store, config.adamw, config.clip), beta_(preference_beta(lowered)) {
    for (const ir::Buffer& b : schedule.buffers)
      if (b.place == ir::Place::gpu && (b.kind == ir::BufferKind::activations || b.kind == ir::BufferKind::checkpoint ||
                                        b.kind == ir::BufferKind::kept))
        activation_bytes_ += b.bytes;
  }

  void finish_updates() override { executor_.finish_updates(); }

  StepResult step(const TokenBatch& batch, float lr) override {
    const ir::ScheduleConfig& c = executor_.schedule().config;
    if (batch.batch != c.batch || batch.seq != c.seq)
      throw UserError("the schedule was compiled for batch " + std::to_string(c.batch) + " x seq " +
                      std::to_string(c.seq) + ", got " + std::to_string(batch.batch) + " x " +
                      std::to_string(batch.seq));
    executor_.set_learning_rate(lr);
    auto channel = [](const std::vector<int32_t>& v) { return v.empty() ? nullptr : v.data(); };
    if (beta_ && static_cast<int64_t>(batch.reference.size()) != batch.batch)
      throw UserError("a DPO step needs the reference log-probability of each of its " + std::to_string(batch.batch) +
                      " rows");
    executor_.step(batch.tokens.data(), batch.targets.data(), channel(batch.positions), channel(batch.segments),
                   beta_ ? batch.reference.data() : nullptr);
    const ExecutorMeasurements& m = executor_.last_step();
    StepResult r{m.loss, m.grad_norm, activation_bytes_ + m.arena_high_water};
    if (beta_) {
      PreferenceRewards rewards(*beta_);
      rewards.add(executor_.last_logprobs().data(), batch.reference.data(), batch.batch);
      r.extra = rewards.metrics();
    }
    return r;
  }

 private:
  ScheduleExecutor executor_;
  std::optional<double> beta_;    // a DPO head's beta: the step reports TRL's rewards
  int64_t activation_bytes_ = 0;  // residual streams and GPU checkpoints; the arena comes on top
};

}  // namespace

std::unique_ptr<StepBackend> make_streamed_step(const ir::Schedule& schedule, const ir::Module& lowered,
                                                HostStore& store, const TrainConfig& config) {
  return std::make_unique<StreamedStep>(schedule, lowered, store, config);
}

}  // namespace horizon::runtime
