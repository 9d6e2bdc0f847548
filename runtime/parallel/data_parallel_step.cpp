#include "runtime/parallel/data_parallel_step.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "runtime/gradient_sink.h"
#include "support/error.h"

namespace horizon::runtime {

// This rank's gradients of the step (its micro-batches summed), each tied
// tensor's two parts apart.
class DataParallelRank::Capture : public GradientSink {
 public:
  explicit Capture(const HostStore& store) : own(store.tensors().size()), tied(store.tensors().size()) {}
  bool wants_parts() const override { return true; }
  void gradient(int t, const float* g, int64_t n) override {
    own[static_cast<size_t>(t)].assign(g, g + n);
    tied[static_cast<size_t>(t)].clear();
  }
  void gradient_parts(int t, const float* g, const float* tied_part, int64_t n) override {
    own[static_cast<size_t>(t)].assign(g, g + n);
    tied[static_cast<size_t>(t)].assign(tied_part, tied_part + n);
  }
  std::vector<std::vector<float>> own, tied;
};

namespace {

std::vector<int64_t> tensor_sizes(const HostStore& store) {
  std::vector<int64_t> sizes;
  for (const StoredTensor& t : store.tensors()) sizes.push_back(t.elements);
  return sizes;
}

}  // namespace

DataParallelRank::DataParallelRank(const ir::Schedule& schedule, const ir::Module& lowered, HostStore& store,
                                   const TrainConfig& config, Communicator& comm)
    : store_(store),
      config_(config),
      comm_(comm),
      executor_(schedule, lowered, store, config.adamw, config.clip),
      capture_(std::make_unique<Capture>(store)),
      optimizer_(store, config.adamw),
      // Shards start on the norm's block boundaries, so a rank's block sums
      // are the single rank's; a block (32K elements) is also whole 8-bit
      // moment blocks. Imbalance: under one block per tensor.
      shards_(tensor_sizes(store), comm.size(), kSquaresBlock) {
  for (const ir::Buffer& b : schedule.buffers)
    if (b.kind == ir::BufferKind::resident && b.bytes > 0)
      throw UserError("data parallel: the schedule keeps layers resident on the GPU, whose sharding (gathered per "
                      "layer when used) is not emulated yet; lower it with --resident 0");
  if (!schedule.config.clip)
    throw UserError("data parallel: the schedule updates each layer as its gradient lands (--early-updates), before "
                    "the gradient is reduced over the ranks; lower it without --early-updates");
  executor_.set_gradient_sink(capture_.get());
  int64_t offset = 0, block = 0, largest = 0;
  for (int t = 0; t < shards_.tensors(); ++t) {
    const int64_t n = shards_.shard(t, comm.rank()).elements();
    shard_offset_.push_back(offset);
    first_block_.push_back(block);
    offset += n;
    block += (store.tensors()[static_cast<size_t>(t)].elements + kSquaresBlock - 1) / kSquaresBlock;
    largest = std::max(largest, n);
  }
  first_block_.push_back(block);
  shard_gradient_.resize(static_cast<size_t>(offset));
  tied_shard_.resize(static_cast<size_t>(largest));
  for (const ir::Buffer& b : schedule.buffers)
    if (b.place == ir::Place::gpu && (b.kind == ir::BufferKind::activations || b.kind == ir::BufferKind::checkpoint))
      activation_bytes_ += b.bytes;
}

DataParallelRank::~DataParallelRank() = default;

StepResult DataParallelRank::step(const TokenBatch& batch, float lr) {
  const ir::ScheduleConfig& c = executor_.schedule().config;
  const int rank = comm_.rank(), ranks = comm_.size();
  if (batch.batch != c.batch * ranks || batch.seq != c.seq)
    throw UserError("data parallel: each of the " + std::to_string(ranks) + " ranks runs a schedule of batch " +
                    std::to_string(c.batch) + " x seq " + std::to_string(c.seq) + ", so a step takes batch " +
                    std::to_string(c.batch * ranks) + " x " + std::to_string(c.seq) + ", got " +
                    std::to_string(batch.batch) + " x " + std::to_string(batch.seq));
  // This rank's rows, each micro-batch's loss over the whole step's count.
  const int64_t first = rank * c.batch * c.seq;
  auto rows = [&](const std::vector<int32_t>& v) { return v.empty() ? nullptr : v.data() + first; };
  executor_.set_loss_count(loss_count(batch));
  executor_.step(batch.tokens.data() + first, batch.targets.data() + first, rows(batch.positions), rows(batch.segments),
                 batch.reference.empty() ? nullptr : batch.reference.data() + rank * c.batch);

  // Reduce-scatter, tensor by tensor in store order on every rank; the norm's
  // block sums of this rank's shards, zero elsewhere (adding zeros is exact).
  std::vector<double> sums(static_cast<size_t>(first_block_.back()) + 1, 0.0);
  for (int t = 0; t < shards_.tensors(); ++t) {
    const ShardRange s = shards_.shard(t, rank);
    const std::vector<int64_t> offsets = shards_.offsets(t);
    float* g = shard_gradient_.data() + shard_offset_[static_cast<size_t>(t)];
    comm_.reduce_scatter_sum(capture_->own[static_cast<size_t>(t)].data(), g, offsets);
    if (!capture_->tied[static_cast<size_t>(t)].empty()) {
      // The tied part summed over the ranks, then added: one rank's order.
      comm_.reduce_scatter_sum(capture_->tied[static_cast<size_t>(t)].data(), tied_shard_.data(), offsets);
      for (int64_t i = 0; i < s.elements(); ++i) g[i] += tied_shard_[static_cast<size_t>(i)];
    }
    for (int64_t b = s.begin; b < s.end; b += kSquaresBlock)
      sums[static_cast<size_t>(first_block_[static_cast<size_t>(t)] + b / kSquaresBlock)] =
          block_sum_of_squares(g + (b - s.begin), std::min(kSquaresBlock, s.end - b));
  }
  sums.back() = executor_.last_step().loss;
  comm_.all_reduce_sum(sums.data(), static_cast<int64_t>(sums.size()));
  // Blocks in order within a tensor, tensors in store order: sum_of_squares
  // and HostUpdates::norm's order.
  double squares = 0;
  for (size_t t = 0; t + 1 < first_block_.size(); ++t) {
    double tensor = 0;
    for (int64_t b = first_block_[t]; b < first_block_[t + 1]; ++b) tensor += sums[static_cast<size_t>(b)];
    squares += tensor;
  }
  StepResult result;
  result.loss = sums.back();
  result.grad_norm = std::sqrt(squares);
  result.activation_peak_bytes = activation_bytes_ + executor_.last_step().arena_high_water;

  // Each rank updates its shards, then sends them to the others: the master
  // weights' two halves, bit for bit.
  const float scale = gradient_scale(result.grad_norm, config_.clip);
  optimizer_.begin_step();
  for (int t = 0; t < shards_.tensors(); ++t) {
    const ShardRange s = shards_.shard(t, rank);
    if (s.elements() > 0)
      optimizer_.update_range(t, s.begin, s.end, shard_gradient_.data() + shard_offset_[static_cast<size_t>(t)], lr,
                              scale);
  }
  for (int t = 0; t < shards_.tensors(); ++t) {
    const std::vector<int64_t> bytes = shards_.offsets(t, 2);
    const ShardRange s = shards_.byte_range(t, rank, 2);
    for (uint16_t* plane : {store_.w_hi(t), store_.w_lo(t)}) {
      char* base = reinterpret_cast<char*>(plane);
      comm_.all_gather_bytes(base + s.begin, base, bytes);
    }
  }
  return result;
}

}  // namespace horizon::runtime
