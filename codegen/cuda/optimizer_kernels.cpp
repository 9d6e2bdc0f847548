// The optimizer on the GPU, for layers whose optimizer state stays in device
// memory: AdamW over the split-master planes, and the per-tensor sums of
// squares the gradient norm is made of.
//
// adamw_update is the CPU JIT's AdamW (codegen/cpu/emit_adamw.cpp) op for
// op, so a layer may move between host and device without its weights
// drifting: the multiply-adds the JIT emits as llvm.fmuladd are __fmaf_rn
// here, and every other operation is an explicit round-to-nearest intrinsic
// that NVRTC may not contract or reassociate. On a host with FMA (the JIT's
// AVX2 and AVX-512 targets fuse fmuladd) both give the same bits; only NaN
// payloads differ (x86 and the GPU make different default NaNs).
//
// sum_squares is deterministic: a fixed number of blocks per span, each
// summing a fixed set of elements in a fixed order, then one block per span
// adding the block partials in order. Products of two floats are exact in
// double, so fused or not they give the same bits.
#include <array>
#include <cstdio>
#include <stdexcept>

#include "codegen/cuda/kernels.h"
#include "support/moment_quantization.h"

namespace horizon::codegen::cuda {
namespace {

constexpr const char* kAdamWCommon = R"CUDA(
// codegen::cpu::AdamWParams, passed by value: eight floats in this order.
struct AdamWParams {
  float lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2, grad_scale;
};

// The per-step scalars, formed as the JIT forms them once per call.
struct Step {
  float neg_lr, beta1, beta2, one_minus_beta1, one_minus_beta2, eps, weight_decay, inv_bc1, inv_bc2, grad_scale;
};

__device__ __forceinline__ Step step_of(const AdamWParams& p) {
  Step s;
  s.neg_lr = -p.lr;
  s.beta1 = p.beta1;
  s.beta2 = p.beta2;
  s.one_minus_beta1 = __fsub_rn(1.0f, p.beta1);
  s.one_minus_beta2 = __fsub_rn(1.0f, p.beta2);
  s.eps = p.eps;
  s.weight_decay = p.weight_decay;
  s.inv_bc1 = __fdiv_rn(1.0f, p.bias_correction1);
  s.inv_bc2 = __fdiv_rn(1.0f, p.bias_correction2);
  s.grad_scale = p.grad_scale;
  return s;
}

// support/bf16.h split_master / join_master on 16-bit planes held in unsigned.
__device__ __forceinline__ bool bf16_special(unsigned hi) { return (hi & 0x7f80u) == 0x7f80u; }

__device__ __forceinline__ float join_master(unsigned hi, unsigned lo) {
  const unsigned carry = bf16_special(hi) ? 0u : lo >> 15;
  return __uint_as_float(((hi - carry) << 16) | lo);
}

__device__ __forceinline__ void split_master(float w, unsigned& hi, unsigned& lo) {
  const unsigned bits = __float_as_uint(w);
  const unsigned truncated = bits >> 16, rounded = (bits + 0x8000u) >> 16;
  const bool t_special = bf16_special(truncated);
  const bool overflow = !t_special && bf16_special(rounded);
  hi = t_special || overflow ? truncated : rounded;
  lo = overflow ? 0x7fffu : bits & 0xffffu;
}

// The JIT's f32_to_bf16_rne: round to nearest even; NaN keeps its sign and
// upper payload and sets the quiet bit instead of rounding into infinity.
__device__ __forceinline__ unsigned f32_to_bf16_rne(float x) {
  const unsigned bits = __float_as_uint(x), upper = bits >> 16;
  return isnan(x) ? upper | 0x40u : (bits + 0x7fffu + (upper & 1u)) >> 16;
}

// One parameter: the master weight from its planes, the moments in fp32.
__device__ __forceinline__ void adamw_one(const Step& s, unsigned& hi, unsigned& lo, float& m, float& v, float grad) {
  const float w = join_master(hi, lo);
  const float g = __fmul_rn(grad, s.grad_scale);
  m = __fmaf_rn(s.beta1, m, __fmul_rn(s.one_minus_beta1, g));
  v = __fmaf_rn(s.beta2, v, __fmul_rn(__fmul_rn(s.one_minus_beta2, g), g));
  const float denom = __fadd_rn(__fsqrt_rn(__fmul_rn(v, s.inv_bc2)), s.eps);
  const float adam = __fdiv_rn(__fmul_rn(m, s.inv_bc1), denom);
  const float update = __fmaf_rn(s.weight_decay, w, adam);
  split_master(__fmaf_rn(s.neg_lr, update, w), hi, lo);
}

)CUDA";

constexpr const char* kAdamW = R"CUDA(
__device__ __forceinline__ float moment_load(const unsigned short* p) { return __uint_as_float((unsigned)*p << 16); }
__device__ __forceinline__ float moment_load(const float* p) { return *p; }
__device__ __forceinline__ void moment_store(unsigned short* p, float x) { *p = (unsigned short)f32_to_bf16_rne(x); }
__device__ __forceinline__ void moment_store(float* p, float x) { *p = x; }

// Four 16-bit values as one 8-byte access (element 0 in the low half).
__device__ __forceinline__ void load4(const unsigned short* p, unsigned (&u)[4]) {
  const uint2 t = *reinterpret_cast<const uint2*>(p);
  u[0] = t.x & 0xffffu, u[1] = t.x >> 16, u[2] = t.y & 0xffffu, u[3] = t.y >> 16;
}
__device__ __forceinline__ void store4(unsigned short* p, const unsigned (&u)[4]) {
  *reinterpret_cast<uint2*>(p) = make_uint2(u[0] | u[1] << 16, u[2] | u[3] << 16);
}
__device__ __forceinline__ void moment_load4(const unsigned short* p, float (&x)[4]) {
  unsigned u[4];
  load4(p, u);
#pragma unroll
  for (int e = 0; e < 4; ++e) x[e] = __uint_as_float(u[e] << 16);
}
__device__ __forceinline__ void moment_load4(const float* p, float (&x)[4]) {
  const float4 t = *reinterpret_cast<const float4*>(p);
  x[0] = t.x, x[1] = t.y, x[2] = t.z, x[3] = t.w;
}
__device__ __forceinline__ void moment_store4(unsigned short* p, const float (&x)[4]) {
  unsigned u[4];
#pragma unroll
  for (int e = 0; e < 4; ++e) u[e] = f32_to_bf16_rne(x[e]);
  store4(p, u);
}
__device__ __forceinline__ void moment_store4(float* p, const float (&x)[4]) {
  *reinterpret_cast<float4*>(p) = make_float4(x[0], x[1], x[2], x[3]);
}

__device__ __forceinline__ bool aligned(const void* p, unsigned long long bytes) {
  return (reinterpret_cast<unsigned long long>(p) & (bytes - 1)) == 0;
}

// n parameters, grid-stride. Sub-ranges of one region share their phase
// (every plane advances by the same element count), so peeling the 0..3
// elements before w_hi's next 8-byte boundary aligns all five pointers;
// pointers of different phases take the scalar path throughout.
extern "C" __global__ void __launch_bounds__(THREADS)
adamw_update(long long n, unsigned short* __restrict__ w_hi, unsigned short* __restrict__ w_lo, Moment* __restrict__ m,
             Moment* __restrict__ v, const float* __restrict__ grad, AdamWParams params) {
  const Step s = step_of(params);
  const long long first = (long long)blockIdx.x * THREADS + threadIdx.x, stride = (long long)gridDim.x * THREADS;
  long long head = (long long)((0u - (unsigned)(reinterpret_cast<unsigned long long>(w_hi) >> 1)) & 3u);
  head = head < n ? head : n;
  const bool vec = aligned(w_hi + head, 8) && aligned(w_lo + head, 8) && aligned(m + head, 4 * sizeof(Moment)) &&
                   aligned(v + head, 4 * sizeof(Moment)) && aligned(grad + head, 16);
  if (!vec) head = n;
  const long long groups = (n - head) / 4, tail = head + 4 * groups;

  auto scalar = [&](long long i) {
    unsigned hi = w_hi[i], lo = w_lo[i];
    float mi = moment_load(m + i), vi = moment_load(v + i);
    adamw_one(s, hi, lo, mi, vi, grad[i]);
    w_hi[i] = (unsigned short)hi, w_lo[i] = (unsigned short)lo;
    moment_store(m + i, mi), moment_store(v + i, vi);
  };
  for (long long i = first; i < head; i += stride) scalar(i);
  for (long long q = first; q < groups; q += stride) {
    const long long i = head + 4 * q;
    unsigned hi[4], lo[4];
    float mi[4], vi[4];
    load4(w_hi + i, hi), load4(w_lo + i, lo), moment_load4(m + i, mi), moment_load4(v + i, vi);
    const float4 g = *reinterpret_cast<const float4*>(grad + i);
    adamw_one(s, hi[0], lo[0], mi[0], vi[0], g.x);
    adamw_one(s, hi[1], lo[1], mi[1], vi[1], g.y);
    adamw_one(s, hi[2], lo[2], mi[2], vi[2], g.z);
    adamw_one(s, hi[3], lo[3], mi[3], vi[3], g.w);
    store4(w_hi + i, hi), store4(w_lo + i, lo), moment_store4(m + i, mi), moment_store4(v + i, vi);
  }
  for (long long i = tail + first; i < n; i += stride) scalar(i);
}
)CUDA";

// 8-bit moments (support/moment_quantization.h): one thread block per
// quantization block of BLOCK elements, a thread per element. Decode m and
// sqrt(v) with the block's old scales, update as adamw_one does, take the
// block's largest |m| and sqrt(v) (fmaxf, exact in any order) as the new scales, encode against the
// thresholds by the same 8-step search as the JIT. Every thread reads the old
// scales before the barrier after which thread 0 writes the new ones.
constexpr const char* kAdamWBlockwise = R"CUDA(
__device__ __forceinline__ unsigned encode(const float* thresholds, float x) {
  unsigned code = 0;
#pragma unroll
  for (unsigned step = 128; step > 0; step >>= 1)
    if (x > thresholds[code + step - 1]) code += step;
  return code;
}

__device__ __forceinline__ float inverse(float most) { return most == 0.0f ? 0.0f : __fdiv_rn(1.0f, most); }

extern "C" __global__ void __launch_bounds__(BLOCK)
adamw_update_blockwise(long long n, unsigned short* __restrict__ w_hi, unsigned short* __restrict__ w_lo,
                       unsigned char* __restrict__ m, unsigned char* __restrict__ v, float* __restrict__ m_scale,
                       float* __restrict__ v_scale, const float* __restrict__ grad, AdamWParams params) {
  __shared__ float m_values[256], v_values[256], m_thresholds[255], v_thresholds[255];
  __shared__ float warp_m[BLOCK / 32], warp_v[BLOCK / 32];
  for (int k = threadIdx.x; k < 256; k += BLOCK) {
    m_values[k] = M_VALUES[k], v_values[k] = V_VALUES[k];
    if (k < 255) m_thresholds[k] = M_THRESHOLDS[k], v_thresholds[k] = V_THRESHOLDS[k];
  }
  __syncthreads();
  const Step s = step_of(params);
  const long long blocks = (n + BLOCK - 1) / BLOCK;
  for (long long block = blockIdx.x; block < blocks; block += gridDim.x) {
    const long long i = block * BLOCK + threadIdx.x;
    const bool live = i < n;
    float mi = 0.0f, vi = 0.0f;
    if (live) {
      unsigned hi = w_hi[i], lo = w_lo[i];
      mi = __fmul_rn(m_values[m[i]], m_scale[block]);
      const float v_root = __fmul_rn(v_values[v[i]], v_scale[block]);  // v is kept as sqrt(v)
      vi = __fmul_rn(v_root, v_root);
      adamw_one(s, hi, lo, mi, vi, grad[i]);
      vi = __fsqrt_rn(vi);
      w_hi[i] = (unsigned short)hi, w_lo[i] = (unsigned short)lo;
    }
    float most_m = fabsf(mi), most_v = fabsf(vi);
#pragma unroll
    for (int d = 16; d > 0; d >>= 1) {
      most_m = fmaxf(most_m, __shfl_xor_sync(0xffffffffu, most_m, d));
      most_v = fmaxf(most_v, __shfl_xor_sync(0xffffffffu, most_v, d));
    }
    if ((threadIdx.x & 31) == 0) warp_m[threadIdx.x / 32] = most_m, warp_v[threadIdx.x / 32] = most_v;
    __syncthreads();
    most_m = 0.0f, most_v = 0.0f;
#pragma unroll
    for (int w = 0; w < BLOCK / 32; ++w) most_m = fmaxf(most_m, warp_m[w]), most_v = fmaxf(most_v, warp_v[w]);
    __syncthreads();  // warp_m is rewritten by the next block; the old scales have been read
    if (live) {
      m[i] = (unsigned char)encode(m_thresholds, __fmul_rn(mi, inverse(most_m)));
      v[i] = (unsigned char)encode(v_thresholds, __fmul_rn(vi, inverse(most_v)));
    }
    if (threadIdx.x == 0) m_scale[block] = most_m, v_scale[block] = most_v;
  }
}
)CUDA";

constexpr const char* kSumSquares = R"CUDA(
// Up to MAX_SPANS (offset, elements) spans of x, passed by value.
struct Spans {
  long long offset[MAX_SPANS], elements[MAX_SPANS];
};

// Block (b, k): elements b * THREADS * UNROLL + u * THREADS + t of span k,
// then every BLOCKS * THREADS * UNROLL further, UNROLL independent loads in
// flight per thread; the block's sum goes to partial[k * BLOCKS + b].
extern "C" __global__ void __launch_bounds__(THREADS)
sum_squares_partial(double* __restrict__ partial, const float* __restrict__ x, Spans spans) {
  __shared__ double scratch[32];
  const int k = blockIdx.y;
  const float* p = x + spans.offset[k];
  const long long n = spans.elements[k];
  double acc[UNROLL];
#pragma unroll
  for (int u = 0; u < UNROLL; ++u) acc[u] = 0.0;
  for (long long base = (long long)blockIdx.x * THREADS * UNROLL; base < n; base += (long long)BLOCKS * THREADS * UNROLL) {
#pragma unroll
    for (int u = 0; u < UNROLL; ++u) {
      const long long i = base + u * THREADS + threadIdx.x;
      if (i < n) {
        const double d = p[i];
        acc[u] = __fma_rn(d, d, acc[u]);
      }
    }
  }
  double s = acc[0];
#pragma unroll
  for (int u = 1; u < UNROLL; ++u) s = __dadd_rn(s, acc[u]);
  s = block_sum<THREADS>(s, scratch);
  if (threadIdx.x == 0) partial[(long long)k * BLOCKS + blockIdx.x] = s;
}

// Block k: span k's BLOCKS partials, each thread its own in order, then the block.
extern "C" __global__ void __launch_bounds__(THREADS)
sum_squares_total(double* __restrict__ out, const double* __restrict__ partial) {
  __shared__ double scratch[32];
  const double* p = partial + (long long)blockIdx.x * BLOCKS;
  double s = 0.0;
  for (int b = threadIdx.x; b < BLOCKS; b += THREADS) s = __dadd_rn(s, p[b]);
  s = block_sum<THREADS>(s, scratch);
  if (threadIdx.x == 0) out[blockIdx.x] = s;
}
)CUDA";

// `__device__ const float NAME[N] = {...};` in hex floats, which read back to the same bits.
template <size_t N>
std::string float_table(const char* name, const std::array<float, N>& values) {
  std::string out = std::string("__device__ const float ") + name + "[" + std::to_string(N) + "] = {";
  char buf[40];
  for (size_t k = 0; k < N; ++k) {
    std::snprintf(buf, sizeof buf, "%s%af", k ? ", " : "", static_cast<double>(values[k]));
    out += buf;
  }
  return out + "};\n";
}

}  // namespace

KernelSource adamw_update(cpu::MomentType moments) {
  if (moments == cpu::MomentType::q8) {
    static_assert(kAdamwBlockwiseThreads == kMomentBlock && kMomentBlock % 32 == 0);
    SourceBuilder b("adamw_update_blockwise");
    b.constant("BLOCK", kMomentBlock).note("moments", "8bit");
    b.text(float_table("M_VALUES", signed_dynamic_map().values))
        .text(float_table("M_THRESHOLDS", signed_dynamic_map().thresholds))
        .text(float_table("V_VALUES", unsigned_dynamic_map().values))
        .text(float_table("V_THRESHOLDS", unsigned_dynamic_map().thresholds));
    b.text(kAdamWCommon).text(kAdamWBlockwise);
    return b.finish();
  }
  const bool bf16 = moments == cpu::MomentType::bf16;
  SourceBuilder b("adamw_update");
  b.constant("THREADS", kAdamwThreads).note("moments", bf16 ? "bf16" : "f32");
  b.text(bf16 ? "typedef unsigned short Moment;  // bf16 bits\n" : "typedef float Moment;\n")
      .text(kAdamWCommon)
      .text(kAdamW);
  return b.finish();
}

KernelSource sum_squares(int max_spans) {
  if (max_spans < 1 || max_spans > kSumSquaresMaxSpans)
    throw std::invalid_argument("CUDA codegen: sum_squares: max_spans must lie in [1, " +
                                std::to_string(kSumSquaresMaxSpans) + "] (the spans travel in the 4 KiB of kernel " +
                                "parameters), got " + std::to_string(max_spans));
  SourceBuilder b("sum_squares");
  b.constant("THREADS", kSumSquaresThreads).constant("BLOCKS", kSumSquaresBlocks).constant("UNROLL", 4);
  b.constant("MAX_SPANS", max_spans).text(kSumSquares);
  KernelSource k = b.finish();
  k.workspaces = {{"partial", int64_t{max_spans} * kSumSquaresBlocks * 8}};
  return k;
}

}  // namespace horizon::codegen::cuda
