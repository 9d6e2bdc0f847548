#include "runtime/cpu/cpu_model.h"

#include <stdexcept>

#include "ir/lm_head_loss.h"
#include "passes/add_preference_loss.h"
#include "runtime/cpu/stage_executor.h"
#include "support/error.h"

namespace horizon::runtime {
namespace {

const ir::Stage& stage(const ir::Module& m, const std::string& name) {
  const ir::Stage* s = m.find_stage(name);
  if (!s) throw std::invalid_argument("the lowered module has no stage '" + name + "' (run passes::lower first)");
  return *s;
}

/// The forward head with its logits as a value of their own, for sampling:
/// a lowered head computes its loss fused with the lm head (no logits).
ir::Stage with_logits(const ir::Stage& head) {
  ir::Stage s = head;
  ir::split_lm_head_loss(s);
  if (s.find_value("logits") < 0)
    throw std::invalid_argument("stage head has no value %logits and no linear_cross_entropy to make it from");
  return s;
}

}  // namespace

struct CpuModel::Impl {
  const HostStore& store;
  const ir::Stage &embed, &block, &head, &head_bwd, &block_bwd, &embed_bwd;
  const ir::Stage head_split;
  const bool preference;  // the head reads %reference and computes %policy_logps
  CpuStageExecutor embed_x, block_x, head_x, head_logits, head_bwd_x, block_bwd_x, embed_bwd_x;
  int64_t peak = 0;
  std::vector<float> last_logprobs;

  Impl(const ir::Module& m, const HostStore& s)
      : store(s),
        embed(stage(m, "embed")),
        block(stage(m, "block")),
        head(stage(m, "head")),
        head_bwd(stage(m, "head.bwd")),
        block_bwd(stage(m, "block.bwd")),
        embed_bwd(stage(m, "embed.bwd")),
        head_split(with_logits(head)),
        preference(head.find_value(passes::kReferenceInput) >= 0),
        embed_x(embed),
        block_x(block),
        head_x(head, kept()),
        head_logits(head_split, {"logits"}),
        head_bwd_x(head_bwd),
        block_bwd_x(block_bwd),
        embed_bwd_x(embed_bwd) {
    const size_t documents = block.find_value("segments") >= 0 ? 2 : 0;
    if (embed.inputs.size() != 1 || embed.outputs.size() != 1 || block.inputs.size() != 1 + documents ||
        block.outputs.size() != 1 || head.inputs.size() != (preference ? 3u : 2u) || head.outputs.size() != 1)
      throw std::invalid_argument(
          "the CPU runner expects embed(tokens) -> x, block(x[, positions, segments]) -> x, head(x, targets[, "
          "reference]) -> loss");
  }

  /// Values a forward head run returns after its loss: a preference head's sequence log-probabilities.
  std::vector<std::string> kept() const {
    if (!preference) return {};
    return {passes::kPolicyLogps};
  }

  std::vector<const void*> head_inputs(const float* x, const BatchView& b) const {
    if (!preference) return {x, b.targets};
    if (!b.reference) throw std::invalid_argument("a preference head needs the batch's reference log-probabilities");
    return {x, b.targets, b.reference};
  }

  /// A block stage's inputs by name: x (and d_y), and with packed documents
  /// the batch's positions and segments — or, for a batch of whole rows,
  /// 0..S-1 and zeros.
  std::vector<const void*> block_inputs(const ir::Stage& s, const float* x, const float* dy, const BatchView& b) {
    std::vector<const void*> in;
    for (int v : s.inputs) {
      const std::string& name = s.values[static_cast<size_t>(v)].name;
      if (name == "positions" || name == "segments") {
        const bool pos = name == "positions";
        if (const int32_t* given = pos ? b.positions : b.segments) {
          in.push_back(given);
          continue;
        }
        std::vector<int32_t>& fill = pos ? whole_positions : whole_segments;
        if (static_cast<int64_t>(fill.size()) != b.batch * b.seq) {
          fill.assign(static_cast<size_t>(b.batch * b.seq), 0);
          if (pos)
            for (size_t i = 0; i < fill.size(); ++i) fill[i] = static_cast<int32_t>(static_cast<int64_t>(i) % b.seq);
        }
        in.push_back(fill.data());
      } else {
        in.push_back(name == "d_y" ? static_cast<const void*>(dy) : x);
      }
    }
    return in;
  }

  /// A model compiled for whole rows cannot honour packed documents.
  void check_documents(const BatchView& b) const {
    if (block.find_value("segments") >= 0) return;
    for (int64_t r = 0; r < b.batch; ++r)
      for (int64_t i = 0; i < b.seq; ++i) {
        const int64_t n = r * b.seq + i;
        if ((b.segments && b.segments[n] != b.segments[r * b.seq]) || (b.positions && b.positions[n] != i))
          throw UserError("the batch packs several documents per row, but the model was compiled for whole rows; "
                          "lower it with packed_documents (passes::LowerOptions)");
      }
  }
  std::vector<int32_t> whole_positions, whole_segments;

  // Widens the bf16 weights of one stage instance into `scratch`.
  std::vector<const float*> weights(const ir::Stage& s, const std::string& forward_name, int64_t instance,
                                    std::vector<std::vector<float>>& scratch) {
    scratch.resize(s.params.size());
    std::vector<const float*> ptrs;
    for (size_t p = 0; p < s.params.size(); ++p) {
      int t = store.tensor_of(forward_name, instance, static_cast<int>(p));
      scratch[p].resize(static_cast<size_t>(store.tensors()[t].elements));
      store.get_working(t, scratch[p].data());
      ptrs.push_back(scratch[p].data());
    }
    return ptrs;
  }

  void accumulate(const ir::Stage& s, const std::string& forward_name, int64_t instance, std::vector<StageOutput>& out,
                  size_t first_grad, std::vector<std::vector<float>>& grads, std::vector<std::vector<float>>* tied) {
    const int region = store.layout().region_of(forward_name, instance);
    for (size_t g = 0; g < s.grads.size(); ++g) {
      int t = store.tensor_of(forward_name, instance, s.grads[g].param);
      std::vector<float>& dst = tied && store.tensors()[t].region != region ? (*tied)[t] : grads[t];
      const std::vector<float>& src = out[first_grad + g].data;
      if (dst.size() != src.size())
        throw std::logic_error("gradient buffer of " + store.tensors()[t].name + " has the wrong size");
      for (size_t i = 0; i < src.size(); ++i) dst[i] += src[i];
    }
  }

  // Forward through embed and blocks; returns the block inputs (checkpoints) and the final x.
  std::vector<std::vector<float>> forward_blocks(const BatchView& b) {
    check_documents(b);
    const int64_t B = b.batch, S = b.seq;
    std::vector<std::vector<float>> scratch;
    std::vector<std::vector<float>> xs;
    auto out = embed_x.run(B, S, {b.tokens}, weights(embed, "embed", 0, scratch));
    xs.push_back(std::move(out[0].data));
    for (int64_t l = 0; l < block.instances; ++l) {
      auto y =
          block_x.run(B, S, block_inputs(block, xs.back().data(), nullptr, b), weights(block, "block", l, scratch));
      peak = std::max(peak, block_x.last_peak_bytes());
      xs.push_back(std::move(y[0].data));
    }
    return xs;
  }
};

CpuModel::CpuModel(const ir::Module& lowered, const HostStore& store) : impl_(std::make_unique<Impl>(lowered, store)) {}
CpuModel::~CpuModel() = default;

int64_t CpuModel::last_peak_bytes() const { return impl_->peak; }

float CpuModel::forward_backward(const int32_t* tokens, const int32_t* targets, int64_t B, int64_t S,
                                 std::vector<std::vector<float>>& grads, std::vector<std::vector<float>>* tied) {
  return forward_backward(BatchView{tokens, targets, nullptr, nullptr, B, S, -1}, grads, tied);
}

float CpuModel::forward_backward(const BatchView& batch, std::vector<std::vector<float>>& grads,
                                 std::vector<std::vector<float>>* tied) {
  const int32_t *tokens = batch.tokens, *targets = batch.targets;
  const int64_t B = batch.batch, S = batch.seq;
  Impl& m = *impl_;
  m.peak = 0;
  std::vector<std::vector<float>> xs = m.forward_blocks(batch);
  std::vector<std::vector<float>> scratch;
  // head.bwd: outputs loss, d_x; then its parameter gradients.
  (void)targets;
  auto head = m.head_bwd_x.run(B, S, m.head_inputs(xs.back().data(), batch), m.weights(m.head_bwd, "head", 0, scratch),
                               batch.loss_count);
  m.peak = std::max(m.peak, m.head_bwd_x.last_peak_bytes());
  float loss = head[0].data[0];
  // Outputs: the loss, d_x (and a DPO head's policy log-probabilities), then the parameter gradients.
  const size_t outputs = m.head_bwd.outputs.size();
  if (m.preference) m.last_logprobs = std::move(head[outputs - 1].data);
  m.accumulate(m.head_bwd, "head", 0, head, outputs, grads, tied);
  std::vector<float> dx = std::move(head[1].data);
  for (int64_t l = m.block.instances - 1; l >= 0; --l) {
    auto out = m.block_bwd_x.run(B, S, m.block_inputs(m.block_bwd, xs[static_cast<size_t>(l)].data(), dx.data(), batch),
                                 m.weights(m.block_bwd, "block", l, scratch));
    m.peak = std::max(m.peak, m.block_bwd_x.last_peak_bytes());
    m.accumulate(m.block_bwd, "block", l, out, 1, grads, tied);
    dx = std::move(out[0].data);
  }
  auto embed = m.embed_bwd_x.run(B, S, {tokens, dx.data()}, m.weights(m.embed_bwd, "embed", 0, scratch));
  m.accumulate(m.embed_bwd, "embed", 0, embed, 0, grads, tied);
  return loss;
}

float CpuModel::loss(const int32_t* tokens, const int32_t* targets, int64_t B, int64_t S) {
  return loss(BatchView{tokens, targets, nullptr, nullptr, B, S, -1});
}

float CpuModel::loss(const BatchView& batch) {
  Impl& m = *impl_;
  const int64_t B = batch.batch, S = batch.seq;
  std::vector<std::vector<float>> xs = m.forward_blocks(batch);
  std::vector<std::vector<float>> scratch;
  auto out = m.head_x.run(B, S, m.head_inputs(xs.back().data(), batch), m.weights(m.head, "head", 0, scratch),
                          batch.loss_count);
  return out[0].data[0];
}

std::vector<float> CpuModel::sequence_logprobs(const BatchView& batch) {
  Impl& m = *impl_;
  if (!m.preference) throw std::logic_error("sequence_logprobs needs a preference head");
  std::vector<std::vector<float>> xs = m.forward_blocks(batch);
  std::vector<std::vector<float>> scratch;
  // The loss needs some reference; only the policy log-probabilities are kept.
  std::vector<float> zeros(static_cast<size_t>(batch.batch), 0.0f);
  BatchView b = batch;
  b.reference = zeros.data();
  b.loss_count = -1;
  auto out =
      m.head_x.run(batch.batch, batch.seq, m.head_inputs(xs.back().data(), b), m.weights(m.head, "head", 0, scratch));
  return std::move(out[1].data);
}

const std::vector<float>& CpuModel::last_sequence_logprobs() const { return impl_->last_logprobs; }

bool CpuModel::preference() const { return impl_->preference; }

std::vector<float> CpuModel::logits(const int32_t* tokens, int64_t B, int64_t S) {
  Impl& m = *impl_;
  std::vector<std::vector<float>> xs = m.forward_blocks(BatchView{tokens, nullptr, nullptr, nullptr, B, S, -1});
  std::vector<std::vector<float>> scratch;
  // The loss needs targets; any valid ids do, since only the logits are kept.
  std::vector<int32_t> dummy(static_cast<size_t>(B * S), 0);
  auto out = m.head_logits.run(B, S, {xs.back().data(), dummy.data()}, m.weights(m.head, "head", 0, scratch));
  return std::move(out[1].data);
}

int64_t CpuModel::vocab() const {
  const ir::Stage& s = impl_->head_split;
  return s.values[s.find_value("logits")].type.shape.back().value;
}

}  // namespace horizon::runtime
