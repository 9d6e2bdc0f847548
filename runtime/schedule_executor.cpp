// The schedule executor's streams: one thread per stream runs that stream's
// instructions in program order — copies, launches, the norm and the
// optimizer — and a step is every stream running its program once. Also the
// Trainer backend that runs its steps through the executor.
#include "runtime/schedule_executor.h"

#include <algorithm>
#include <cstring>

#include "runtime/schedule_executor_impl.h"
#include "support/error.h"

namespace horizon::runtime {

ScheduleExecutor::Impl::Impl(const ir::Schedule& s, const ir::Module& g, HostStore& st, const AdamWConfig& adamw,
                             float clip_threshold)
    : schedule(s),
      graph(g),
      store(st),
      optimizer(st, adamw),
      clip(clip_threshold),
      events(s.events, ir::kNumStreams),
      stream_stats(ir::kNumStreams) {
  const ir::ScheduleConfig& c = s.config;
  if (c.batch <= 0 || c.seq <= 0 || c.micro_batches <= 0 || c.batch % c.micro_batches)
    throw UserError("schedule of " + s.model + ": batch " + std::to_string(c.batch) +
                    " must be a positive multiple of " + std::to_string(c.micro_batches) + " micro-batches");
  micro_batches = c.micro_batches;
  mb_batch = c.batch / c.micro_batches;
  seq = c.seq;
  allocate();
  validate();
  workers = std::make_unique<StreamWorkers>(
      ir::kNumStreams, [this](int stream) { run_stream(stream); }, [this] { events.abort(); });
}

void ScheduleExecutor::Impl::copy(int index, StreamStats& stats) {
  const auto& ops = schedule.instrs[static_cast<size_t>(index)].operands;
  size_t s = 0, d = 0;
  for (;;) {
    while (s < ops.size() && ops[s].role != "src") ++s;
    while (d < ops.size() && ops[d].role != "dst") ++d;
    if (s == ops.size() || d == ops.size()) return;
    std::memcpy(at(ops[d].range), at(ops[s].range), static_cast<size_t>(ops[s].range.bytes));
    const bool from_host = schedule.buffers[static_cast<size_t>(ops[s].range.buffer)].place == ir::Place::host;
    const bool to_host = schedule.buffers[static_cast<size_t>(ops[d].range.buffer)].place == ir::Place::host;
    if (from_host && !to_host) stats.h2d += ops[s].range.bytes;
    if (!from_host && to_host) stats.d2h += ops[s].range.bytes;
    if (!from_host && !to_host) stats.d2d += ops[s].range.bytes;
    ++s, ++d;
  }
}

void ScheduleExecutor::Impl::run_stream(int stream) {
  StreamStats& stats = stream_stats[static_cast<size_t>(stream)];
  stats = StreamStats{};
  for (int i : programs[static_cast<size_t>(stream)]) {
    const ir::SchedInstr& in = schedule.instrs[static_cast<size_t>(i)];
    if (in.op == ir::SchedOp::wait) {
      events.wait(in.event, stream, wait_names.at(static_cast<size_t>(i)));
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
        case ir::SchedOp::grad_norm: {
          std::lock_guard<std::mutex> lock(pool_mu);
          grad_norm(i);
          break;
        }
        case ir::SchedOp::optimizer_step: {
          std::lock_guard<std::mutex> lock(pool_mu);
          optimizer_step(i);
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
      throw std::runtime_error(where(i) + ": " + e.what());
    }
    stats.busy += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  events.finish(stream);
}

ScheduleExecutor::ScheduleExecutor(const ir::Schedule& schedule, const ir::Module& lowered, HostStore& store,
                                   const AdamWConfig& adamw, float clip)
    : impl_(std::make_unique<Impl>(schedule, lowered, store, adamw, clip)) {}

ScheduleExecutor::~ScheduleExecutor() = default;

void ScheduleExecutor::set_learning_rate(float lr) { impl_->lr = lr; }
void ScheduleExecutor::set_wait_timeout(std::chrono::milliseconds timeout) { impl_->events.set_timeout(timeout); }
const ExecutorMeasurements& ScheduleExecutor::last_step() const { return impl_->last; }
int64_t ScheduleExecutor::host_bytes() const { return impl_->host_allocated + impl_->store.bytes(); }
int64_t ScheduleExecutor::device_bytes() const { return impl_->device_allocated; }
const ir::Schedule& ScheduleExecutor::schedule() const { return impl_->schedule; }

float ScheduleExecutor::step(const int32_t* tokens, const int32_t* targets) {
  Impl& m = *impl_;
  const size_t batch_bytes = static_cast<size_t>(m.schedule.config.batch * m.seq * 4);
  // The batch is on the device when the step starts (the schedule reads it, never loads it).
  std::memcpy(m.blocks[static_cast<size_t>(m.tokens_buffer)].get(), tokens, batch_bytes);
  std::memcpy(m.blocks[static_cast<size_t>(m.targets_buffer)].get(), targets, batch_bytes);
  m.events.reset();
  std::fill(m.tensor_squares.begin(), m.tensor_squares.end(), 0.0);
  m.grad_scale = gradient_scale(0.0, 0.0f, m.micro_batches);  // replaced by grad_norm when the schedule clips
  m.optimizer.begin_step();
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
  const float* losses = reinterpret_cast<const float*>(m.blocks[static_cast<size_t>(m.loss_buffer)].get());
  double loss = 0;
  for (int64_t i = 0; i < m.micro_batches; ++i) loss += losses[i];
  out.loss = loss / static_cast<double>(m.micro_batches);
  out.grad_norm = m.norm_of_last_step();
  return static_cast<float>(out.loss);
}

namespace {

class StreamedStep : public StepBackend {
 public:
  StreamedStep(const ir::Schedule& schedule, const ir::Module& lowered, HostStore& store, const TrainConfig& config)
      : executor_(schedule, lowered, store, config.adamw, config.clip) {
    for (const ir::Buffer& b : schedule.buffers)
      if (b.place == ir::Place::gpu && (b.kind == ir::BufferKind::activations || b.kind == ir::BufferKind::checkpoint))
        activation_bytes_ += b.bytes;
  }

  StepResult step(const TokenBatch& batch, float lr) override {
    const ir::ScheduleConfig& c = executor_.schedule().config;
    if (batch.batch != c.batch || batch.seq != c.seq)
      throw UserError("the schedule was compiled for batch " + std::to_string(c.batch) + " x seq " +
                      std::to_string(c.seq) + ", got " + std::to_string(batch.batch) + " x " +
                      std::to_string(batch.seq));
    executor_.set_learning_rate(lr);
    executor_.step(batch.tokens.data(), batch.targets.data());
    const ExecutorMeasurements& m = executor_.last_step();
    return StepResult{m.loss, m.grad_norm, activation_bytes_ + m.arena_high_water};
  }

 private:
  ScheduleExecutor executor_;
  int64_t activation_bytes_ = 0;  // residual streams and GPU checkpoints; the arena comes on top
};

}  // namespace

std::unique_ptr<StepBackend> make_streamed_step(const ir::Schedule& schedule, const ir::Module& lowered,
                                                HostStore& store, const TrainConfig& config) {
  return std::make_unique<StreamedStep>(schedule, lowered, store, config);
}

}  // namespace horizon::runtime
