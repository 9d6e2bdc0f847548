#include "runtime/cuda/cuda_evaluator.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <stdexcept>

#include "ir/lm_head_loss.h"
#include "ir/param_layout.h"
#include "passes/plan_memory.h"
#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/cuda_stage_executor.h"
#include "runtime/cuda/device_memory.h"
#include "runtime/trainer.h"
#include "support/error.h"

namespace horizon::runtime::cuda {

struct CudaEvaluator::Impl {
  const ir::Module& m;
  const HostStore& store;
  int64_t B, S;
  const ir::Stage &embed, &block, &head;
  const bool preference;             // a DPO head: its forward cut at the log-probabilities runs too
  const ir::Stage logps_head;        // that cut (empty otherwise)
  std::vector<ir::ArenaPlan> plans;  // embed, block, head[, logps_head]
  std::vector<std::unique_ptr<CudaStageExecutor>> executors;
  DeviceMemory weights, x[2], tokens, targets, loss, count, arena;
  DeviceMemory positions, segments;  // packed documents, when the block stage reads them
  std::vector<int32_t> whole_positions, whole_segments;
  cudaStream_t stream = nullptr;

  static const ir::Stage& stage(const ir::Module& m, const char* name) {
    const ir::Stage* s = m.find_stage(name);
    if (!s) throw std::invalid_argument(std::string("GPU evaluation needs a '") + name + "' stage");
    return *s;
  }

  Impl(const ir::Module& module, const HostStore& s, int64_t batch, int64_t seq)
      : m(module),
        store(s),
        B(batch),
        S(seq),
        embed(stage(m, "embed")),
        block(stage(m, "block")),
        head(stage(m, "head")),
        preference(head.find_value("reference") >= 0),
        logps_head(preference ? ir::sequence_logprob_stage(head) : ir::Stage{}) {
    int64_t arena_bytes = 0;
    std::vector<const ir::Stage*> stages{&embed, &block, &head};
    if (preference) stages.push_back(&logps_head);
    for (const ir::Stage* st : stages) {
      plans.push_back(passes::plan_stage_arena(*st, B, S));
      arena_bytes = std::max(arena_bytes, plans.back().bytes);
      executors.push_back(std::make_unique<CudaStageExecutor>(*st, plans.back(), B, S));
    }
    int64_t slot = 0;
    for (size_t r = 0; r < store.layout().regions.size(); ++r) {
      int64_t n = 0;
      ir::slot_offsets(store.layout(), static_cast<int>(r), &n);
      slot = std::max(slot, n);
    }
    const ir::TensorType& xt = block.values[block.inputs[0]].type;
    const int64_t x_bytes = xt.elements(B, S) * 4, token_bytes = B * S * 4;
    weights = DeviceMemory(slot * 2, "evaluation weights");
    for (auto& buf : x) buf = DeviceMemory(x_bytes, "evaluation activations");
    tokens = DeviceMemory(token_bytes, "evaluation tokens");
    targets = DeviceMemory(token_bytes, "evaluation targets");
    loss = DeviceMemory(std::max<int64_t>(256, B * 4), "evaluation loss (or per-row log-probabilities)");
    count = DeviceMemory(4, "evaluation loss count");
    if (block.find_value("segments") >= 0) {
      positions = DeviceMemory(token_bytes, "evaluation positions");
      segments = DeviceMemory(token_bytes, "evaluation segments");
      whole_positions.resize(static_cast<size_t>(B * S));
      whole_segments.resize(static_cast<size_t>(B * S));
      whole_row_documents(whole_positions.data(), whole_segments.data(), B, S);
    }
    arena = DeviceMemory(std::max<int64_t>(arena_bytes, 256), "evaluation arena");
    check_cuda(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags", "evaluation");
  }

  ~Impl() {
    if (stream) cudaStreamDestroy(stream);
  }

  // Copies a stage instance's bf16 weights (its region, then tied tensors) into
  // the weight buffer; returns the parameter pointers in stage order.
  std::vector<const void*> upload(const std::string& name, int64_t instance) {
    const ir::ParamLayout& layout = store.layout();
    const int r = layout.region_of(name, instance);
    const ir::RegionLayout& region = layout.regions[static_cast<size_t>(r)];
    const std::vector<int64_t> offsets = ir::slot_offsets(layout, r);
    auto* base = static_cast<uint16_t*>(weights.get());
    if (region.elements > 0)
      check_cuda(cudaMemcpyAsync(base, store.w_hi(region.tensors.front()), static_cast<size_t>(region.elements) * 2,
                                 cudaMemcpyHostToDevice, stream),
                 "cudaMemcpyAsync", "evaluation weights of " + name);
    std::vector<const void*> params;
    for (size_t p = 0; p < region.bound.size(); ++p) {
      const int t = region.bound[p];
      if (store.tensors()[static_cast<size_t>(t)].region != r)
        check_cuda(cudaMemcpyAsync(base + offsets[p], store.w_hi(t),
                                   static_cast<size_t>(store.tensors()[static_cast<size_t>(t)].elements) * 2,
                                   cudaMemcpyHostToDevice, stream),
                   "cudaMemcpyAsync", "evaluation tied weights of " + name);
      params.push_back(base + offsets[p]);
    }
    return params;
  }

  /// The per-row log-probabilities of a DPO model on `b`.
  std::vector<float> sequence_logprobs(const TokenBatch& b) {
    if (!preference) throw std::invalid_argument("sequence_logprobs needs a DPO head");
    void* x_last = blocks(b);
    DeviceStageBindings h;
    h.inputs = {x_last, targets.get()};
    h.params = upload("head", 0);
    h.outputs = {loss.get()};
    h.arena = arena.get();
    executors[3]->launch(h, stream);
    std::vector<float> out(static_cast<size_t>(B));
    check_cuda(cudaMemcpyAsync(out.data(), loss.get(), out.size() * 4, cudaMemcpyDeviceToHost, stream),
               "cudaMemcpyAsync", "sequence log-probabilities");
    check_cuda(cudaStreamSynchronize(stream), "cudaStreamSynchronize", "the reference pass");
    return out;
  }

  /// Uploads b and runs embed and every block; returns the last block's output.
  void* blocks(const TokenBatch& b) {
    if (b.batch != B || b.seq != S) throw std::invalid_argument("evaluation batch shape differs from the evaluator's");
    const size_t bytes = static_cast<size_t>(B * S) * 4;
    check_cuda(cudaMemcpyAsync(tokens.get(), b.tokens.data(), bytes, cudaMemcpyHostToDevice, stream), "cudaMemcpyAsync",
               "tokens");
    check_cuda(cudaMemcpyAsync(targets.get(), b.targets.data(), bytes, cudaMemcpyHostToDevice, stream),
               "cudaMemcpyAsync", "targets");
    if (segments.get()) {
      const int32_t* pos = b.positions.empty() ? whole_positions.data() : b.positions.data();
      const int32_t* seg = b.segments.empty() ? whole_segments.data() : b.segments.data();
      check_cuda(cudaMemcpyAsync(positions.get(), pos, bytes, cudaMemcpyHostToDevice, stream), "cudaMemcpyAsync",
                 "positions");
      check_cuda(cudaMemcpyAsync(segments.get(), seg, bytes, cudaMemcpyHostToDevice, stream), "cudaMemcpyAsync",
                 "segments");
    } else if (packs_documents(b.positions.empty() ? nullptr : b.positions.data(),
                               b.segments.empty() ? nullptr : b.segments.data(), B, S)) {
      throw UserError("an evaluation batch packs several documents per row, but the model was compiled for whole rows");
    }
    DeviceStageBindings e;
    e.inputs = {tokens.get()};
    e.params = upload("embed", 0);
    e.outputs = {x[0].get()};
    e.arena = arena.get();
    executors[0]->launch(e, stream);
    for (int64_t l = 0; l < block.instances; ++l) {
      DeviceStageBindings k;
      k.inputs = {x[l % 2].get()};
      if (segments.get()) k.inputs = {x[l % 2].get(), positions.get(), segments.get()};
      // The weight buffer is reused: the copy for this block is ordered after the
      // previous launch on the same stream.
      k.params = upload("block", l);
      k.outputs = {x[(l + 1) % 2].get()};
      k.arena = arena.get();
      executors[1]->launch(k, stream);
    }
    return x[block.instances % 2].get();
  }

  /// Batch b's loss summed over its rows and divided by `loss_count`.
  double batch_loss(const TokenBatch& b, int32_t loss_count) {
    check_cuda(cudaMemcpyAsync(count.get(), &loss_count, 4, cudaMemcpyHostToDevice, stream), "cudaMemcpyAsync",
               "loss count");
    void* x_last = blocks(b);
    DeviceStageBindings h;
    h.inputs = {x_last, targets.get()};
    h.params = upload("head", 0);
    h.outputs = {loss.get()};
    h.arena = arena.get();
    h.loss_count = static_cast<const int*>(count.get());
    executors[2]->launch(h, stream);
    float value = 0;
    check_cuda(cudaMemcpyAsync(&value, loss.get(), sizeof value, cudaMemcpyDeviceToHost, stream), "cudaMemcpyAsync",
               "loss");
    check_cuda(cudaStreamSynchronize(stream), "cudaStreamSynchronize", "evaluation");
    return value;
  }
};

CudaEvaluator::CudaEvaluator(const ir::Module& lowered, const HostStore& store, int64_t batch, int64_t seq)
    : impl_(std::make_unique<Impl>(lowered, store, batch, seq)) {}

CudaEvaluator::~CudaEvaluator() = default;

std::vector<float> CudaEvaluator::sequence_logprobs(const TokenBatch& batch) { return impl_->sequence_logprobs(batch); }

double CudaEvaluator::loss(const std::vector<TokenBatch>& batches) {
  // The mean over the unmasked tokens of all batches, not a mean of means.
  int64_t count = 0;
  for (const TokenBatch& b : batches) count += loss_count(b);
  double sum = 0;
  for (const TokenBatch& b : batches) sum += impl_->batch_loss(b, static_cast<int32_t>(count));
  return sum;
}

}  // namespace horizon::runtime::cuda
