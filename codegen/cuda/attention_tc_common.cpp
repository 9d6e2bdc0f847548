// What the tensor-core attention generators share: the shape check, the
// constants and the device code of both directions. The matrix products
// run as warp-level mma.sync m16n8k16 with bf16 operands and fp32
// accumulators (sm_80 and later); operands reach the tensor cores from
// registers or through ldmatrix from XOR-swizzled shared-memory tiles, and
// the accumulator layout of one product is the operand layout of the next
// (the scores become P in registers, never in shared memory). Scores live in
// the log2 domain: s = q.k * SCALE * log2(e), so every exponential is exp2f.
//
// The fragment layouts (PTX ISA, "mma.m16n8k16"), with g = lane / 4 and
// t = lane % 4: an A fragment (16 x 16) holds rows g, g + 8 and columns
// 2t, 2t + 1, 2t + 8, 2t + 9; a B fragment (16 x 8) holds column g and rows
// 2t, 2t + 1, 2t + 8, 2t + 9; an accumulator (16 x 8) holds rows g, g + 8
// and columns 2t, 2t + 1.
#include <cmath>
#include <stdexcept>

#include "codegen/cuda/kernels.h"

namespace horizon::codegen::cuda {
namespace {

constexpr const char* kDevice = R"CUDA(
constexpr int GROUP = H / KVH;
constexpr int DC = D / 16;          // 16-wide k-chunks of a head row
constexpr int DN = D / 8;           // 8-wide n-blocks of a head row
constexpr int ROW_CHUNKS = D / 8;   // 16-byte chunks of a bf16 head row

__device__ __forceinline__ bool visible(int i, int j) { return j <= i && (WINDOW == 0 || j > i - WINDOW); }
__device__ __forceinline__ int first_key(int i) { return WINDOW > 0 && i - WINDOW + 1 > 0 ? i - WINDOW + 1 : 0; }
// One past the last query that sees key j.
__device__ __forceinline__ int query_end(int j) { return WINDOW > 0 && j + WINDOW < S ? j + WINDOW : S; }

// Packed documents (SEGMENTS = 1; seg is the row's [S] segment ids, which
// never decrease): a token sees only its own document's keys, so a query
// tile starts at its first row's document and a key tile's queries end with
// its last key's document — the tiles of other documents are never loaded.
// Each kernel runs one of two instantiations per block: PACKED = false
// (seg a compile-time null, every test below folds away: the plain causal
// code) when everything the block reads and writes is one document —
// always without packed documents (SEGMENTS = 0), and for every block of a
// row that holds one long document — else PACKED = true with seg the row's ids.
__device__ __forceinline__ bool same_document(const int* seg, int i, int j) { return !seg || seg[i] == seg[j]; }
// Whether tokens [lo, hi] of row b are more than one document.
__device__ __forceinline__ bool spans_documents(const int* segments, int b, int lo, int hi) {
  return SEGMENTS && segments[(long long)b * S + lo] != segments[(long long)b * S + hi];
}
// The first index in [lo, hi] whose segment id is >= want (hi: none),
// searched by the whole warp at once: each round samples 32 evenly spaced
// ids and keeps the gap where they cross want, so S = 2048 takes three
// dependent loads where a binary search takes eleven — at a block's start,
// before its first tile can be loaded, those latencies are the packed path's
// main cost. Every lane of the warp must call it with the same arguments.
__device__ __forceinline__ int warp_lower_bound(const int* seg, int lo, int hi, int want) {
  const int lane = threadIdx.x & 31;
  while (hi - lo > 32) {
    const int step = (hi - lo + 31) / 32, idx = lo + lane * step;
    const int below = __popc(__ballot_sync(0xffffffffu, idx < hi && seg[idx] < want));
    if (below == 0) return lo;
    const int next_hi = lo + below * step;
    lo += (below - 1) * step + 1;
    hi = next_hi < hi ? next_hi : hi;
  }
  return lo + __popc(__ballot_sync(0xffffffffu, lo + lane < hi && seg[lo + lane] < want));
}
// The first token of row i's document.
__device__ __forceinline__ int document_begin(const int* seg, int i) {
  if (!seg) return 0;
  return warp_lower_bound(seg, 0, i, seg[i]);
}
// One past the last token of key j's document.
__device__ __forceinline__ int document_end(const int* seg, int j) {
  if (!seg) return S;
  return warp_lower_bound(seg, j + 1, S, seg[j] + 1);
}
// Whether rows [r0, r1] and columns [c0, c1] (both inside the row) share a
// document: their ranges of segment ids overlap.
__device__ __forceinline__ bool documents_meet(const int* seg, int r0, int r1, int c0, int c1) {
  return !seg || (seg[c1] >= seg[r0] && seg[c0] <= seg[r1]);
}
// Whether all of rows [r0, r1] and columns [c0, c1] are one document.
__device__ __forceinline__ bool one_document(const int* seg, int lo, int hi) {
  return !seg || seg[lo] == seg[hi];
}
__device__ __forceinline__ int last_row(int i) { return i < S ? i : S - 1; }

// Byte offset of 16-byte chunk c of row r in a [rows][D] bf16 tile. The XOR
// spreads the same chunk of 8 consecutive rows (one ldmatrix phase) over all
// 32 banks.
__device__ __forceinline__ unsigned tile_offset(int r, int c) {
  return static_cast<unsigned>(r * (D * 2) + ((c ^ (r & 7)) << 4));
}

__device__ __forceinline__ unsigned shared_address(const void* p) {
  return static_cast<unsigned>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void ldsm_x4(unsigned (&r)[4], unsigned addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr));
}

__device__ __forceinline__ void ldsm_x4_trans(unsigned (&r)[4], unsigned addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr));
}

// c += a * b for one 16 x 8 x 16 block.
__device__ __forceinline__ void mma(float (&c)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Two floats rounded to bf16, `lo` in the low half (the lower column).
__device__ __forceinline__ unsigned pack_bf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const unsigned*>(&v);
}

// ldmatrix lane addresses: lane l hands in row l % 8 of 8 x 8 matrix l / 8.
// The A fragment of rows r0..r0+15, k-chunk kc of a [row][k] tile.
__device__ __forceinline__ unsigned a_frag_address(unsigned tile, int r0, int kc, int lane) {
  const int m = lane >> 3;
  return tile + tile_offset(r0 + (lane & 7) + (m & 1) * 8, kc * 2 + (m >> 1));
}
// B fragments of the n-blocks at rows n0 and n0 + 8 of an [n][k] tile, k-chunk
// kc: registers 0, 1 serve n0, registers 2, 3 serve n0 + 8.
__device__ __forceinline__ unsigned b_frag_address(unsigned tile, int n0, int kc, int lane) {
  const int m = lane >> 3;
  return tile + tile_offset(n0 + (lane & 7) + (m >> 1) * 8, kc * 2 + (m & 1));
}
// B fragments (ldmatrix .trans) of a [k][n] tile: k rows 16 kc.., n-blocks
// 2 np (registers 0, 1) and 2 np + 1 (registers 2, 3).
__device__ __forceinline__ unsigned bt_frag_address(unsigned tile, int kc, int np, int lane) {
  const int m = lane >> 3;
  return tile + tile_offset(kc * 16 + (lane & 7) + (m & 1) * 8, np * 2 + (m >> 1));
}

// A fragments of a 16 x D block of fp32 rows straight from global memory,
// rounded to bf16; pa, pb are this lane's rows g and g + 8 (nullptr: zeros).
__device__ __forceinline__ void load_a_rows(unsigned (&f)[DC][4], const float* pa, const float* pb, int t) {
  const float2 zero = make_float2(0.0f, 0.0f);
#pragma unroll
  for (int kc = 0; kc < DC; ++kc) {
    const int c = kc * 16 + 2 * t;
    const float2 x0 = pa ? *reinterpret_cast<const float2*>(pa + c) : zero;
    const float2 x1 = pb ? *reinterpret_cast<const float2*>(pb + c) : zero;
    const float2 x2 = pa ? *reinterpret_cast<const float2*>(pa + c + 8) : zero;
    const float2 x3 = pb ? *reinterpret_cast<const float2*>(pb + c + 8) : zero;
    f[kc][0] = pack_bf16(x0.x, x0.y);
    f[kc][1] = pack_bf16(x1.x, x1.y);
    f[kc][2] = pack_bf16(x2.x, x2.y);
    f[kc][3] = pack_bf16(x3.x, x3.y);
  }
}

// Accumulators of a 16 x 16k block as the A fragments of the next product:
// n-blocks 2kc and 2kc + 1 make k-chunk kc.
template <int NB>
__device__ __forceinline__ void to_a_frags(unsigned (&f)[NB / 2][4], const float (&c)[NB][4]) {
#pragma unroll
  for (int kc = 0; kc < NB / 2; ++kc) {
    f[kc][0] = pack_bf16(c[2 * kc][0], c[2 * kc][1]);
    f[kc][1] = pack_bf16(c[2 * kc][2], c[2 * kc][3]);
    f[kc][2] = pack_bf16(c[2 * kc + 1][0], c[2 * kc + 1][1]);
    f[kc][3] = pack_bf16(c[2 * kc + 1][2], c[2 * kc + 1][3]);
  }
}

__device__ __forceinline__ float quad_max(float v) {
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
  return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
__device__ __forceinline__ float quad_sum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

// Rows [r0, r0 + ROWS) of head `head` of a bf16 [B, S, HEADS, D] tensor into
// a swizzled tile, asynchronously; rows past S are zero-filled.
template <int ROWS, int HEADS, int THREADS>
__device__ __forceinline__ void copy_rows(unsigned tile, const __nv_bfloat16* src, int b, int r0, int head) {
  static_assert(ROWS * ROW_CHUNKS % THREADS == 0, "whole chunks per thread");
#pragma unroll
  for (int c = 0; c < ROWS * ROW_CHUNKS / THREADS; ++c) {
    const int f = threadIdx.x + c * THREADS, r = f / ROW_CHUNKS, ch = f % ROW_CHUNKS;
    const bool valid = r0 + r < S;
    const __nv_bfloat16* p = src + (((long long)b * S + (valid ? r0 + r : 0)) * HEADS + head) * D + ch * 8;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(tile + tile_offset(r, ch)), "l"(p),
                 "r"(valid ? 16 : 0));
  }
}
__device__ __forceinline__ void copy_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void copy_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

// bf16 copies of up to four fp32 tensors, blockIdx.y picking one: the first
// ROUND_Q have q's size, the others k's. The later passes stream the copies
// through shared memory with cp.async.
extern "C" __global__ void __launch_bounds__(ROUND_THREADS)
attention_round_bf16(uint4* __restrict__ d0, uint4* __restrict__ d1, uint4* __restrict__ d2, uint4* __restrict__ d3,
                     const float4* __restrict__ s0, const float4* __restrict__ s1, const float4* __restrict__ s2,
                     const float4* __restrict__ s3) {
  const int which = blockIdx.y;
  const float4* src = which == 0 ? s0 : which == 1 ? s1 : which == 2 ? s2 : s3;
  uint4* dst = which == 0 ? d0 : which == 1 ? d1 : which == 2 ? d2 : d3;
  const long long chunks = (which < ROUND_Q ? (long long)B * S * H * D : (long long)B * S * KVH * D) / 8;
  for (long long c = (long long)blockIdx.x * ROUND_THREADS + threadIdx.x; c < chunks;
       c += (long long)gridDim.x * ROUND_THREADS) {
    const float4 lo = src[2 * c], hi = src[2 * c + 1];
    dst[c] = make_uint4(pack_bf16(lo.x, lo.y), pack_bf16(lo.z, lo.w), pack_bf16(hi.x, hi.y), pack_bf16(hi.z, hi.w));
  }
}

// ---- the forward's tile loop, also the backward's statistics pass ----
// A block of 4 warps owns FWD_ROWS = 64 queries of one (batch, head), 16 per
// warp (q in registers as A fragments), and walks the visible keys FWD_KEYS
// at a time: bf16 K and V tiles double-buffered in shared memory by cp.async,
// the next tile in flight while this one is multiplied.
constexpr int FWD_KEYS = D == 128 ? 32 : 64;
constexpr int FWD_TILES = (S + FWD_ROWS - 1) / FWD_ROWS;

// One row's online-softmax step over a tile of scores (already scaled and
// masked to -inf): new max, rescale of the running sum and output, and the
// scores replaced by their exponentials. `e0` picks the row (0: g, 2: g + 8).
template <int NB>
__device__ __forceinline__ void softmax_step(float (&s)[NB][4], float (&o)[DN][4], float& m, float& l, int e0) {
  float mx = m;
#pragma unroll
  for (int nb = 0; nb < NB; ++nb) mx = fmaxf(mx, fmaxf(s[nb][e0], s[nb][e0 + 1]));
  mx = quad_max(mx);
  const float base = mx == -HZ_INFINITY ? 0.0f : mx;  // a row with nothing visible yet stays at zero
  const float alpha = exp2f(m - base);
  m = mx;
  float sum = 0.0f;
#pragma unroll
  for (int nb = 0; nb < NB; ++nb) {
    s[nb][e0] = exp2f(s[nb][e0] - base);
    s[nb][e0 + 1] = exp2f(s[nb][e0 + 1] - base);
    sum += s[nb][e0] + s[nb][e0 + 1];
  }
  l = l * alpha + sum;  // this lane's part; the quad is summed once at the end
#pragma unroll
  for (int dn = 0; dn < DN; ++dn) {
    o[dn][e0] *= alpha;
    o[dn][e0 + 1] *= alpha;
  }
}

__device__ __forceinline__ float bf16_round(float x) { return __bfloat162float(__float2bfloat16_rn(x)); }

// STATS = false: out = softmax(q k^T) v. STATS = true (the backward's first
// pass): per query the log2-domain log-sum-exp and delta = dout . out, both
// [B, H, S]; delta takes dout rounded to bf16, as the backward's dP = dout v^T
// does, so that dP - delta cancels where it should (one visible key: dS = 0).
template <bool STATS, bool PACKED>
__device__ __forceinline__ void attention_rows(char* tiles, float* __restrict__ out, float* __restrict__ lse,
                                               float* __restrict__ delta, const float* __restrict__ dout,
                                               const float* __restrict__ q, const __nv_bfloat16* __restrict__ k16,
                                               const __nv_bfloat16* __restrict__ v16, const int* __restrict__ segments) {
  constexpr int TILE = FWD_KEYS * D * 2;  // tiles: [stage][K, V], the caller's shared memory
  const int i0 = (FWD_TILES - 1 - blockIdx.x) * FWD_ROWS;  // the longest rows start first
  const int h = blockIdx.y, b = blockIdx.z, kvh = h / GROUP;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int w0 = i0 + warp * 16, ia = w0 + g, ib = ia + 8;
  const long long row_a = (((long long)b * S + ia) * H + h) * D, row_b = row_a + 8LL * H * D;
  const unsigned base = shared_address(tiles);
  const int i_last = (i0 + FWD_ROWS < S ? i0 + FWD_ROWS : S) - 1;
  const int* seg = PACKED ? segments + (long long)b * S : nullptr;
  const int j_begin = max(first_key(i0), document_begin(seg, i0)), n = (i_last - j_begin) / FWD_KEYS + 1;
  copy_rows<FWD_KEYS, KVH, FWD_THREADS>(base, k16, b, j_begin, kvh);
  copy_rows<FWD_KEYS, KVH, FWD_THREADS>(base + TILE, v16, b, j_begin, kvh);
  copy_commit();

  unsigned qf[DC][4];
  load_a_rows(qf, ia < S ? q + row_a : nullptr, ib < S ? q + row_b : nullptr, t);
  float o[DN][4];
#pragma unroll
  for (int dn = 0; dn < DN; ++dn) o[dn][0] = o[dn][1] = o[dn][2] = o[dn][3] = 0.0f;
  float m_a = -HZ_INFINITY, m_b = -HZ_INFINITY, l_a = 0.0f, l_b = 0.0f;

  for (int it = 0; it < n; ++it) {
    const int j0 = j_begin + it * FWD_KEYS;
    const unsigned ks = base + (it & 1) * 2 * TILE, vs = ks + TILE;
    if (it + 1 < n) {
      const unsigned next = base + ((it + 1) & 1) * 2 * TILE;
      copy_rows<FWD_KEYS, KVH, FWD_THREADS>(next, k16, b, j0 + FWD_KEYS, kvh);
      copy_rows<FWD_KEYS, KVH, FWD_THREADS>(next + TILE, v16, b, j0 + FWD_KEYS, kvh);
      copy_commit();
      copy_wait<1>();
    } else {
      copy_wait<0>();
    }
    __syncthreads();  // this stage has landed for every thread
    // Warp-uniform: does any of the warp's rows see a key of the tile, and do all see all?
    const bool active = w0 < S && j0 <= w0 + 15 && (WINDOW == 0 || j0 + FWD_KEYS - 1 > w0 - WINDOW) &&
                        documents_meet(seg, w0, last_row(w0 + 15), j0, last_row(j0 + FWD_KEYS - 1));
    const bool full = j0 + FWD_KEYS - 1 <= w0 && (WINDOW == 0 || j0 > w0 + 15 - WINDOW) &&
                      one_document(seg, j0, last_row(w0 + 15));
    if (active) {
      float s[FWD_KEYS / 8][4];
#pragma unroll
      for (int nb = 0; nb < FWD_KEYS / 8; ++nb) s[nb][0] = s[nb][1] = s[nb][2] = s[nb][3] = 0.0f;
#pragma unroll
      for (int kc = 0; kc < DC; ++kc)
#pragma unroll
        for (int np = 0; np < FWD_KEYS / 16; ++np) {
          unsigned bf[4];
          ldsm_x4(bf, b_frag_address(ks, np * 16, kc, lane));
          mma(s[2 * np], qf[kc], bf[0], bf[1]);
          mma(s[2 * np + 1], qf[kc], bf[2], bf[3]);
        }
#pragma unroll
      for (int nb = 0; nb < FWD_KEYS / 8; ++nb)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int i = e < 2 ? ia : ib, j = j0 + nb * 8 + 2 * t + (e & 1);
          s[nb][e] = full || (visible(i, j) && (!PACKED || (i < S && same_document(seg, i, j))))
                         ? s[nb][e] * SCALE_LOG2 : -HZ_INFINITY;
        }
      softmax_step(s, o, m_a, l_a, 0);
      softmax_step(s, o, m_b, l_b, 2);
      unsigned pf[FWD_KEYS / 16][4];
      to_a_frags(pf, s);
#pragma unroll
      for (int kc = 0; kc < FWD_KEYS / 16; ++kc)
#pragma unroll
        for (int np = 0; np < D / 16; ++np) {
          unsigned bf[4];
          ldsm_x4_trans(bf, bt_frag_address(vs, kc, np, lane));
          mma(o[2 * np], pf[kc], bf[0], bf[1]);
          mma(o[2 * np + 1], pf[kc], bf[2], bf[3]);
        }
    }
    __syncthreads();  // every warp is done with this stage before it is refilled
  }

  l_a = quad_sum(l_a);
  l_b = quad_sum(l_b);
  const float inv_a = 1.0f / l_a, inv_b = 1.0f / l_b;
  if constexpr (!STATS) {
#pragma unroll
    for (int dn = 0; dn < DN; ++dn) {
      const int c = dn * 8 + 2 * t;
      if (ia < S) *reinterpret_cast<float2*>(out + row_a + c) = make_float2(o[dn][0] * inv_a, o[dn][1] * inv_a);
      if (ib < S) *reinterpret_cast<float2*>(out + row_b + c) = make_float2(o[dn][2] * inv_b, o[dn][3] * inv_b);
    }
  } else {
    float d_a = 0.0f, d_b = 0.0f;
#pragma unroll
    for (int dn = 0; dn < DN; ++dn) {
      const int c = dn * 8 + 2 * t;
      if (ia < S) {
        const float2 x = *reinterpret_cast<const float2*>(dout + row_a + c);
        d_a += bf16_round(x.x) * o[dn][0] + bf16_round(x.y) * o[dn][1];
      }
      if (ib < S) {
        const float2 x = *reinterpret_cast<const float2*>(dout + row_b + c);
        d_b += bf16_round(x.x) * o[dn][2] + bf16_round(x.y) * o[dn][3];
      }
    }
    d_a = quad_sum(d_a) * inv_a;
    d_b = quad_sum(d_b) * inv_b;
    const long long stat = ((long long)b * H + h) * S;
    if (t == 0 && ia < S) {
      lse[stat + ia] = m_a + log2f(l_a);
      delta[stat + ia] = d_a;
    }
    if (t == 0 && ib < S) {
      lse[stat + ib] = m_b + log2f(l_b);
      delta[stat + ib] = d_b;
    }
  }
}

// The rows kernel of the forward and the backward's statistics: the plain
// instantiation unless the block's keys and queries span documents.
template <bool STATS>
__device__ __forceinline__ void attention_rows_of_block(float* __restrict__ out, float* __restrict__ lse,
                                                        float* __restrict__ delta, const float* __restrict__ dout,
                                                        const float* __restrict__ q,
                                                        const __nv_bfloat16* __restrict__ k16,
                                                        const __nv_bfloat16* __restrict__ v16,
                                                        const int* __restrict__ segments) {
  // Declared here, not in the instantiations, so both share one allocation.
  __shared__ __align__(128) char tiles[2 * 2 * FWD_KEYS * D * 2];
  const int i0 = (FWD_TILES - 1 - blockIdx.x) * FWD_ROWS;
  const int i_last = (i0 + FWD_ROWS < S ? i0 + FWD_ROWS : S) - 1;
  if (spans_documents(segments, blockIdx.z, first_key(i0), i_last))
    attention_rows<STATS, true>(tiles, out, lse, delta, dout, q, k16, v16, segments);
  else
    attention_rows<STATS, false>(tiles, out, lse, delta, dout, q, k16, v16, segments);
}
)CUDA";

[[noreturn]] void unsupported(const AttentionShape& a, const char* generator, const std::string& why) {
  throw std::invalid_argument(std::string("CUDA codegen: ") + generator + ": " + why + " (B=" + std::to_string(a.B) +
                              " S=" + std::to_string(a.S) + " H=" + std::to_string(a.H) +
                              " KVH=" + std::to_string(a.KVH) + " D=" + std::to_string(a.D) + " window=" +
                              std::to_string(a.window) + "); attention_forward / attention_backward serve it in fp32");
}

}  // namespace

bool attention_tc_supported(const AttentionShape& a) {
  return a.B >= 1 && a.S >= 1 && a.H >= 1 && a.KVH >= 1 && a.window >= 0 && a.H % a.KVH == 0 &&
         (a.D == 64 || a.D == 128);
}

SourceBuilder attention_tc_source(const char* name, const AttentionShape& a, int round_q) {
  if (a.B < 1 || a.S < 1 || a.H < 1 || a.KVH < 1 || a.window < 0)
    unsupported(a, name, "needs B, S, H, KVH >= 1 and window >= 0");
  if (a.H % a.KVH != 0) unsupported(a, name, "H must be a multiple of KVH");
  if (a.D != 64 && a.D != 128) unsupported(a, name, "the tensor-core kernels serve head dims 64 and 128");
  const float scale = 1.0f / std::sqrt(static_cast<float>(a.D));
  // The source names the op it computes (attention_forward / _backward) so
  // that tools and messages read the same on either path; `mma=bf16` in the
  // shapes tells this one from the fp32 kernels.
  SourceBuilder b(name);
  b.constant("B", a.B).constant("S", a.S).constant("H", a.H).constant("KVH", a.KVH).constant("D", a.D);
  b.constant("WINDOW", a.window).constant("SEGMENTS", a.segments ? 1 : 0).constant_f32("SCALE", scale);
  b.constant_f32("SCALE_LOG2", static_cast<float>(static_cast<double>(scale) * 1.4426950408889634));
  b.constant("FWD_ROWS", kAttentionTcRows).constant("FWD_THREADS", kAttentionTcThreads);
  b.constant("ROUND_Q", round_q).constant("ROUND_THREADS", kAttentionTcRoundThreads);
  b.note("mma", "bf16");
  b.text(kDevice);
  return b;
}

}  // namespace horizon::codegen::cuda
