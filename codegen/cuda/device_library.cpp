#include "codegen/cuda/device_library.h"

namespace horizon::codegen::cuda {

const char* device_library() {
  return R"CUDA(#define HZ_INFINITY __int_as_float(0x7f800000)

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }

// VEC consecutive elements as floats. Pointers are aligned to VEC elements,
// so VEC = 4 is one 16-byte load of float or one 8-byte load of bf16.
template <int VEC> struct Vec { float v[VEC]; };

template <int VEC> __device__ __forceinline__ Vec<VEC> load_vec(const float* p) {
  Vec<VEC> r;
  if constexpr (VEC == 4) {
    const float4 t = *reinterpret_cast<const float4*>(p);
    r.v[0] = t.x; r.v[1] = t.y; r.v[2] = t.z; r.v[3] = t.w;
  } else {
#pragma unroll
    for (int i = 0; i < VEC; ++i) r.v[i] = p[i];
  }
  return r;
}

template <int VEC> __device__ __forceinline__ Vec<VEC> load_vec(const __nv_bfloat16* p) {
  Vec<VEC> r;
  if constexpr (VEC == 4) {
    // bf16 is the upper half of a float: widening is a shift (element 0 is the low half).
    const uint2 t = *reinterpret_cast<const uint2*>(p);
    r.v[0] = __uint_as_float(t.x << 16); r.v[1] = __uint_as_float(t.x & 0xffff0000u);
    r.v[2] = __uint_as_float(t.y << 16); r.v[3] = __uint_as_float(t.y & 0xffff0000u);
  } else {
#pragma unroll
    for (int i = 0; i < VEC; ++i) r.v[i] = __bfloat162float(p[i]);
  }
  return r;
}

template <int VEC> __device__ __forceinline__ void store_vec(float* p, const Vec<VEC>& r) {
  if constexpr (VEC == 4) {
    *reinterpret_cast<float4*>(p) = make_float4(r.v[0], r.v[1], r.v[2], r.v[3]);
  } else {
#pragma unroll
    for (int i = 0; i < VEC; ++i) p[i] = r.v[i];
  }
}

// Sum over aligned groups of LANES consecutive lanes (a power of two <= 32).
// The butterfly gives every lane of the group the same bits.
template <int LANES, class T> __device__ __forceinline__ T group_sum(T v) {
#pragma unroll
  for (int o = LANES / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

template <class T> __device__ __forceinline__ T warp_sum(T v) { return group_sum<32>(v); }

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over a 1-D block of THREADS threads (a multiple of 32); every thread
// gets the result. `scratch` holds 32 T in shared memory.
template <int THREADS, class T> __device__ __forceinline__ T block_sum(T v, T* scratch) {
  v = warp_sum(v);
  if constexpr (THREADS > 32) {
    __syncthreads();  // the previous call's readers are done with scratch
    if (threadIdx.x % 32 == 0) scratch[threadIdx.x / 32] = v;
    __syncthreads();
    v = threadIdx.x % 32 < THREADS / 32 ? scratch[threadIdx.x % 32] : T(0);
    v = warp_sum(v);
  }
  return v;
}

template <int THREADS> __device__ __forceinline__ float block_max(float v, float* scratch) {
  v = warp_max(v);
  if constexpr (THREADS > 32) {
    __syncthreads();
    if (threadIdx.x % 32 == 0) scratch[threadIdx.x / 32] = v;
    __syncthreads();
    v = threadIdx.x % 32 < THREADS / 32 ? scratch[threadIdx.x % 32] : -HZ_INFINITY;
    v = warp_max(v);
  }
  return v;
}
)CUDA";
}

}  // namespace horizon::codegen::cuda
