// Causal grouped-query attention, forward, on tensor cores: the math of
// runtime/cpu/attention_kernels.cpp with q, k and v rounded to bf16 for the
// two products and the softmax in fp32. One launch; a block of 8 warps owns
// 128 queries of one (batch, head) and streams the visible keys 64 at a time
// (attention_tc_common.cpp holds the loop, which the backward's statistics
// pass shares).
#include "codegen/cuda/kernels.h"

namespace horizon::codegen::cuda {
namespace {

constexpr const char* kForward = R"CUDA(
extern "C" __global__ void __launch_bounds__(FWD_THREADS, 1)
attention_forward_tc(float* __restrict__ out, const float* __restrict__ q, const float* __restrict__ k,
                     const float* __restrict__ v) {
  attention_rows<false>(out, nullptr, nullptr, nullptr, q, k, v);
}
)CUDA";

}  // namespace

KernelSource attention_forward_tc(const AttentionShape& a) {
  KernelSource k = attention_tc_source("attention_forward", a).text(kForward).finish();
  k.inputs = {{"q", ir::DType::f32, a.B * a.S * a.H * a.D},
              {"k", ir::DType::f32, a.B * a.S * a.KVH * a.D},
              {"v", ir::DType::f32, a.B * a.S * a.KVH * a.D}};
  k.outputs = {{"out", ir::DType::f32, a.B * a.S * a.H * a.D}};
  using K = Arg::Kind;
  k.launches = {{"attention_forward_tc",
                 {blocks_for(a.S, kAttentionTcRows), static_cast<uint32_t>(a.H), static_cast<uint32_t>(a.B)},
                 {kAttentionTcThreads, 1, 1},
                 0,
                 {{K::output, 0}, {K::input, 0}, {K::input, 1}, {K::input, 2}}}};
  return k;
}

}  // namespace horizon::codegen::cuda
