// The layout of a gradient offloaded in bf16 (`--grad-offload bf16`,
// docs/bf16-gradient-offload.md). A region's n fp32 gradients are cast on
// the GPU in place, inside their own accumulator, into the first
// bf16_pair_bytes(n) bytes, which then cross PCIe: word k (4 bytes) holds
// element k in its low half and element k + h in its high half, h =
// ceil(n / 2). Each word is read (element k) and written by the thread that
// handles the pair (k, k + h) alone, so a parallel kernel casts in place
// without a race; packing neighbours instead (element i at byte 2i) would
// overwrite another thread's unread input. The host widens from this layout
// before the norm and AdamW; the rounding is to nearest even (support/bf16.h),
// the same in the CUDA kernel (codegen/cuda/gradient_cast_kernels.cpp).
#pragma once

#include <cstdint>
#include <cstring>

#include "support/bf16.h"

namespace horizon {

/// The pair distance h of n elements: element k + h shares element k's word.
constexpr int64_t bf16_pair_half(int64_t n) { return (n + 1) / 2; }

/// Bytes of n gradients in the pair layout (2 per element, rounded up to a word).
constexpr int64_t bf16_pair_bytes(int64_t n) { return 4 * bf16_pair_half(n); }

/// The index, in 16-bit units, of element e of a pair layout with half `h`.
constexpr int64_t bf16_pair_index(int64_t e, int64_t h) { return e < h ? 2 * e : 2 * (e - h) + 1; }

/// Casts data[0, n) in place into the pair layout (the host's version of the
/// GPU kernel, for the emulated executor). Little-endian: a word's low half
/// is its first 16-bit unit.
inline void pack_bf16_pairs(float* data, int64_t n) {
  const int64_t h = bf16_pair_half(n);
  for (int64_t k = 0; k < h; ++k) {
    const uint32_t low = float_to_bf16(data[k]);
    const uint32_t high = k + h < n ? float_to_bf16(data[k + h]) : 0u;
    const uint32_t word = low | high << 16;  // both read before word k (element k's own) is written
    std::memcpy(data + k, &word, 4);
  }
}

/// Widens elements [first, first + count) of a pair layout with half `h`.
inline void widen_bf16_pairs(const uint16_t* slab, int64_t h, int64_t first, int64_t count, float* out) {
  int64_t e = first;
  const int64_t end = first + count;
  for (; e < end && e < h; ++e) *out++ = bf16_to_float(slab[2 * e]);
  for (; e < end; ++e) *out++ = bf16_to_float(slab[2 * (e - h) + 1]);
}

}  // namespace horizon
