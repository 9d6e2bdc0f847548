// Causal grouped-query attention, forward, on tensor cores: the math of
// runtime/cpu/attention_kernels.cpp with q, k and v rounded to bf16 for the
// two products and the softmax in fp32. Two launches: bf16 copies of k and v
// (workspaces), then a block of 4 warps per 64 queries of one (batch, head)
// streaming the visible keys through shared memory (attention_tc_common.cpp
// holds the loop, which the backward's statistics pass shares).
#include <algorithm>

#include "codegen/cuda/kernels.h"

namespace horizon::codegen::cuda {
namespace {

constexpr const char* kForward = R"CUDA(
extern "C" __global__ void __launch_bounds__(FWD_THREADS)
attention_forward_tc(float* __restrict__ out, const float* __restrict__ q, const __nv_bfloat16* __restrict__ k16,
                     const __nv_bfloat16* __restrict__ v16, const int* __restrict__ segments) {
  attention_rows_of_block<false>(out, nullptr, nullptr, nullptr, q, k16, v16, segments);
}
)CUDA";

}  // namespace

KernelSource attention_forward_tc(const AttentionShape& a) {
  KernelSource k = attention_tc_source("attention_forward", a, 0).text(kForward).finish();
  const int64_t q_elements = a.B * a.S * a.H * a.D, kv_elements = a.B * a.S * a.KVH * a.D;
  k.inputs = {
      {"q", ir::DType::f32, q_elements}, {"k", ir::DType::f32, kv_elements}, {"v", ir::DType::f32, kv_elements}};
  // Without packed documents the kernel's segments argument is q, never read.
  if (a.segments) k.inputs.push_back({"segments", ir::DType::i32, a.B * a.S});
  const Arg segments = a.segments ? Arg{Arg::Kind::input, 3} : Arg{Arg::Kind::input, 0};
  k.outputs = {{"out", ir::DType::f32, q_elements}};
  k.workspaces = {{"k_bf16", kv_elements * 2}, {"v_bf16", kv_elements * 2}};
  using K = Arg::Kind;
  const uint32_t round_blocks = std::min<uint32_t>(blocks_for(kv_elements / 8, kAttentionTcRoundThreads), 2048);
  // The rounding kernel's tensors 2 and 3 go unused (grid.y = 2).
  k.launches = {{"attention_round_bf16",
                 {round_blocks, 2, 1},
                 {kAttentionTcRoundThreads, 1, 1},
                 0,
                 {{K::workspace, 0},
                  {K::workspace, 1},
                  {K::workspace, 0},
                  {K::workspace, 1},
                  {K::input, 1},
                  {K::input, 2},
                  {K::input, 1},
                  {K::input, 2}}},
                {"attention_forward_tc",
                 {blocks_for(a.S, kAttentionTcRows), static_cast<uint32_t>(a.H), static_cast<uint32_t>(a.B)},
                 {kAttentionTcThreads, 1, 1},
                 0,
                 {{K::output, 0}, {K::input, 0}, {K::workspace, 0}, {K::workspace, 1}, segments}}};
  return k;
}

}  // namespace horizon::codegen::cuda
