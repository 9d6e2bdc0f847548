// The DPO ops on the GPU, as runtime/cpu/preference_kernels.cpp: per-token
// log-probabilities of the targets in double (one block per logits row, the
// loss kernels' row_stats), then per-sequence sums in row order (one block
// per sequence), so the bits do not depend on scheduling; TRL's pair loss in
// double by one thread. The pair count the loss divides by sits in a
// workspace a first launch fills with B/2; a streamed step may bind the
// step's count there instead, as it does for cross-entropy's count.
#include <cstdio>
#include <stdexcept>

#include "codegen/cuda/kernels.h"
#include "codegen/cuda/loss_source.h"

namespace horizon::codegen::cuda {
namespace {

constexpr const char* kTokenLogprobs = R"CUDA(
// log softmax(row)[target] of every row with a target (0 for the others).
extern "C" __global__ void __launch_bounds__(THREADS)
token_logprobs(double* __restrict__ token_logp, const float* __restrict__ logits, const int* __restrict__ targets) {
  __shared__ float fscratch[32];
  __shared__ double dscratch[32];
  const long long n = blockIdx.x;
  const int target = targets[n];
  if (target < 0) {
    if (threadIdx.x == 0) token_logp[n] = 0.0;
    return;
  }
  const float* row = logits + n * V;
  const RowStats st = row_stats(row, fscratch, dscratch);
  if (threadIdx.x == 0) token_logp[n] = (double)row[target] - ((double)st.max + log(st.sum));
}

__device__ int sequence_targets(const int* targets, int* scratch) {
  int count = 0;
  for (int s = threadIdx.x; s < S; s += THREADS) count += targets[s] >= 0;
  return block_sum<THREADS>(count, scratch);
}
)CUDA";

constexpr const char* kSequenceSums = R"CUDA(
extern "C" __global__ void __launch_bounds__(THREADS)
sequence_sums(float* __restrict__ y, const double* __restrict__ token_logp, const int* __restrict__ targets) {
  __shared__ double dscratch[32];
  __shared__ int iscratch[32];
  const long long r = blockIdx.x;
  double s = 0.0;
  for (int i = threadIdx.x; i < S; i += THREADS) s += token_logp[r * S + i];
  s = block_sum<THREADS>(s, dscratch);
  const int count = sequence_targets(targets + r * S, iscratch);
  if (threadIdx.x == 0) y[r] = (float)(AVERAGE ? (count ? s / (double)count : 0.0) : s);
}
)CUDA";

constexpr const char* kSequenceBackward = R"CUDA(
// d y[r] / d logit_v = ([v == target] - softmax_v) (/ the row's targets when averaged), times dy[r].
extern "C" __global__ void __launch_bounds__(THREADS)
sequence_logprob_backward(float* __restrict__ dlogits, const float* __restrict__ dy, const float* __restrict__ logits,
                          const int* __restrict__ targets) {
  __shared__ float fscratch[32];
  __shared__ double dscratch[32];
  __shared__ int iscratch[32];
  const long long n = blockIdx.x, r = n / S;
  const int target = targets[n];
  float* d = dlogits + n * V;
  if (target < 0) {
    for (int c = threadIdx.x; c < V; c += THREADS) d[c] = 0.0f;
    return;
  }
  double scale = (double)dy[r];
  if (AVERAGE) scale /= (double)sequence_targets(targets + r * S, iscratch);
  const float* row = logits + n * V;
  const RowStats st = row_stats(row, fscratch, dscratch);
  const double inv = scale / st.sum;
  for (int c = threadIdx.x; c < V; c += THREADS) {
    float o = (float)(-(double)expf(row[c] - st.max) * inv);
    if (c == target) o += (float)scale;
    d[c] = o;
  }
}
)CUDA";

constexpr const char* kDpo = R"CUDA(
__device__ double log_sigmoid(double x) { return x >= 0 ? -log1p(exp(-x)) : x - log1p(exp(x)); }
__device__ double sigmoid(double x) { return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x)); }
__device__ double margin(const float* p, const float* ref, int k) {
  return ((double)p[2 * k] - ref[2 * k]) - ((double)p[2 * k + 1] - ref[2 * k + 1]);
}

extern "C" __global__ void dpo_pair_count(int* __restrict__ count) {
  if (threadIdx.x == 0) count[0] = B / 2;
}

extern "C" __global__ void dpo_loss_forward(float* __restrict__ loss, const float* __restrict__ policy,
                                            const float* __restrict__ reference, const int* __restrict__ count) {
  if (threadIdx.x != 0) return;
  double total = 0.0;
  for (int k = 0; k < B / 2; ++k) {
    const double z = margin(policy, reference, k);
    if (IPO) {
      const double e = z - 1.0 / (2.0 * BETA);
      total += e * e;
    } else {
      total += -log_sigmoid(BETA * z) * (1.0 - SMOOTHING) - log_sigmoid(-BETA * z) * SMOOTHING;
    }
  }
  loss[0] = count[0] == 0 ? 0.0f : (float)(total / (double)count[0]);
}

extern "C" __global__ void dpo_loss_backward(float* __restrict__ dpolicy, float* __restrict__ dreference,
                                             const float* __restrict__ policy, const float* __restrict__ reference,
                                             const int* __restrict__ count) {
  if (threadIdx.x != 0) return;
  for (int k = 0; k < B / 2; ++k) {
    const double z = margin(policy, reference, k);
    double dz = IPO ? 2.0 * (z - 1.0 / (2.0 * BETA))
                    : -(1.0 - SMOOTHING) * BETA * sigmoid(-BETA * z) + SMOOTHING * BETA * sigmoid(BETA * z);
    dz = count[0] == 0 ? 0.0 : dz / (double)count[0];
    dpolicy[2 * k] = (float)dz;
    dpolicy[2 * k + 1] = (float)-dz;
    dreference[2 * k] = (float)-dz;
    dreference[2 * k + 1] = (float)dz;
  }
}
)CUDA";

using K = Arg::Kind;
constexpr Dim3 kBlock{kLossThreads, 1, 1};

SourceBuilder sequence_source(const char* name, int64_t B, int64_t S, int64_t V, bool average) {
  if (B < 1 || S < 1) throw std::invalid_argument(std::string("CUDA codegen: ") + name + ": needs B, S >= 1");
  SourceBuilder b = loss_source(name, B * S, V);
  b.constant("B", B).constant("S", S).constant("AVERAGE", average ? 1 : 0);
  b.text(kTokenLogprobs);
  return b;
}

SourceBuilder dpo_source(const char* name, int64_t B, const DpoKernelParams& p) {
  if (B < 2 || B % 2)
    throw std::invalid_argument(std::string("CUDA codegen: ") + name + ": B must be even and positive, got " +
                                std::to_string(B));
  SourceBuilder b(name);
  char doubles[160];
  std::snprintf(doubles, sizeof doubles, "constexpr double BETA = %.17g;\nconstexpr double SMOOTHING = %.17g;\n",
                p.beta, p.label_smoothing);
  b.constant("B", B).constant("IPO", p.ipo ? 1 : 0).text(doubles).text(kDpo);
  b.note("beta", std::to_string(p.beta)).note("label_smoothing", std::to_string(p.label_smoothing));
  return b;
}

}  // namespace

KernelSource sequence_logprob_forward(int64_t B, int64_t S, int64_t V, bool average) {
  KernelSource k = sequence_source("sequence_logprob_forward", B, S, V, average).text(kSequenceSums).finish();
  k.inputs = {{"logits", ir::DType::f32, B * S * V}, {"targets", ir::DType::i32, B * S}};
  k.outputs = {{"y", ir::DType::f32, B}};
  k.workspaces = {{"token_logp", B * S * 8}};
  k.launches = {{"token_logprobs",
                 {static_cast<uint32_t>(B * S), 1, 1},
                 kBlock,
                 0,
                 {{K::workspace, 0}, {K::input, 0}, {K::input, 1}}},
                {"sequence_sums",
                 {static_cast<uint32_t>(B), 1, 1},
                 kBlock,
                 0,
                 {{K::output, 0}, {K::workspace, 0}, {K::input, 1}}}};
  return k;
}

KernelSource sequence_logprob_backward(int64_t B, int64_t S, int64_t V, bool average) {
  KernelSource k = sequence_source("sequence_logprob_backward", B, S, V, average).text(kSequenceBackward).finish();
  k.inputs = {{"dy", ir::DType::f32, B}, {"logits", ir::DType::f32, B * S * V}, {"targets", ir::DType::i32, B * S}};
  k.outputs = {{"dlogits", ir::DType::f32, B * S * V}};
  k.launches = {{"sequence_logprob_backward",
                 {static_cast<uint32_t>(B * S), 1, 1},
                 kBlock,
                 0,
                 {{K::output, 0}, {K::input, 0}, {K::input, 1}, {K::input, 2}}}};
  return k;
}

KernelSource dpo_loss_forward(int64_t B, const DpoKernelParams& p) {
  KernelSource k = dpo_source("dpo_loss_forward", B, p).finish();
  k.inputs = {{"policy", ir::DType::f32, B}, {"reference", ir::DType::f32, B}};
  k.outputs = {{"loss", ir::DType::f32, 1}};
  k.workspaces = {{"count", 4}};
  k.launches = {{"dpo_pair_count", {1, 1, 1}, {32, 1, 1}, 0, {{K::workspace, 0}}},
                {"dpo_loss_forward",
                 {1, 1, 1},
                 {32, 1, 1},
                 0,
                 {{K::output, 0}, {K::input, 0}, {K::input, 1}, {K::workspace, 0}}}};
  return k;
}

KernelSource dpo_loss_backward(int64_t B, const DpoKernelParams& p) {
  KernelSource k = dpo_source("dpo_loss_backward", B, p).finish();
  k.inputs = {{"policy", ir::DType::f32, B}, {"reference", ir::DType::f32, B}};
  k.outputs = {{"dpolicy", ir::DType::f32, B}, {"dreference", ir::DType::f32, B}};
  k.workspaces = {{"count", 4}};
  k.launches = {{"dpo_pair_count", {1, 1, 1}, {32, 1, 1}, 0, {{K::workspace, 0}}},
                {"dpo_loss_backward",
                 {1, 1, 1},
                 {32, 1, 1},
                 0,
                 {{K::output, 0}, {K::output, 1}, {K::input, 0}, {K::input, 1}, {K::workspace, 0}}}};
  return k;
}

}  // namespace horizon::codegen::cuda
