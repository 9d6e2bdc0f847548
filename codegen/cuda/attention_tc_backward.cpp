// Causal grouped-query attention, backward, on tensor cores, with the math
// of runtime/cpu/attention_kernels.cpp. With P = softmax(scale q k^T):
//   dv_j = sum_i P_ij dout_i,   dS_ij = P_ij (dout_i . v_j - delta_i),
//   delta_i = dout_i . out_i,   dq_i = scale sum_j dS_ij k_j,
//   dk_j = scale sum_i dS_ij q_i.
// Launches, each block owning what it writes (no atomics, fixed bits):
//  1. bf16 copies of dout, q, k and v (workspaces), which the later passes
//     stream through shared memory with cp.async;
//  2. the forward's tile loop rerun per 64 queries for the log-sum-exp and
//     delta (the graph IR saves no forward state);
//  3. dq per 64 queries: S = q k^T and dP = dout v^T recomputed per key tile,
//     dS in registers, dq += dS k;
//  4. dk, dv per 64 keys (16 per warp) and query head: S^T = k q^T and
//     dP^T = v dout^T per tile of KV_ROWS queries, dv += P^T dout,
//     dk += dS^T q, the query tiles in ascending order;
//  5. with GQA (H > KVH), dk and dv of each kv head as the sum of its query
//     heads' shares (step 4 wrote them to workspaces), in head order. One
//     block per query head rather than per kv head keeps the grid full and
//     the causal imbalance small.
// Every product is mma.sync with bf16 operands and fp32 accumulators; P and
// dS are rounded to bf16 as operands only.
#include <algorithm>

#include "codegen/cuda/kernels.h"

namespace horizon::codegen::cuda {
namespace {

constexpr int kDqRows = 64, kDqThreads = 128;  // queries per dq block, 16 per warp
constexpr int kKvKeys = 64, kKvThreads = 128;  // keys per dk/dv block, 16 per warp
constexpr int kSumThreads = 256;

constexpr const char* kBackward = R"CUDA(
// Keys per dq step: at D = 128 fewer, so that registers hold q, dout and the
// accumulators and two stages fit static shared memory (48 KiB).
constexpr int DQ_KEYS = D == 128 ? 32 : 64;
constexpr int DQ_TILES = (S + DQ_ROWS - 1) / DQ_ROWS;

extern "C" __global__ void __launch_bounds__(FWD_THREADS)
attention_backward_stats_tc(float* __restrict__ lse, float* __restrict__ delta, const float* __restrict__ dout,
                            const float* __restrict__ q, const __nv_bfloat16* __restrict__ k16,
                            const __nv_bfloat16* __restrict__ v16, const int* __restrict__ segments) {
  attention_rows_of_block<true>(nullptr, lse, delta, dout, q, k16, v16, segments);
}

template <bool PACKED>
__device__ __forceinline__ void dq_rows(char* tiles, float* __restrict__ dq, const float* __restrict__ dout,
                                        const float* __restrict__ q, const __nv_bfloat16* __restrict__ k16,
                                        const __nv_bfloat16* __restrict__ v16, const float* __restrict__ lse,
                                        const float* __restrict__ delta, const int* __restrict__ segments) {
  constexpr int TILE = DQ_KEYS * D * 2;  // tiles: [stage][K, V], the caller's shared memory
  const int i0 = (DQ_TILES - 1 - blockIdx.x) * DQ_ROWS;  // the longest rows start first
  const int h = blockIdx.y, b = blockIdx.z, kvh = h / GROUP;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int w0 = i0 + warp * 16, ia = w0 + g, ib = ia + 8;
  const long long row_a = (((long long)b * S + ia) * H + h) * D, row_b = row_a + 8LL * H * D;
  const unsigned base = shared_address(tiles);
  const int i_last = (i0 + DQ_ROWS < S ? i0 + DQ_ROWS : S) - 1;
  const int* seg = PACKED ? segments + (long long)b * S : nullptr;
  const int j_begin = max(first_key(i0), document_begin(seg, i0)), n = (i_last - j_begin) / DQ_KEYS + 1;
  copy_rows<DQ_KEYS, KVH, DQ_THREADS>(base, k16, b, j_begin, kvh);
  copy_rows<DQ_KEYS, KVH, DQ_THREADS>(base + TILE, v16, b, j_begin, kvh);
  copy_commit();

  unsigned qf[DC][4], df[DC][4];
  load_a_rows(qf, ia < S ? q + row_a : nullptr, ib < S ? q + row_b : nullptr, t);
  load_a_rows(df, ia < S ? dout + row_a : nullptr, ib < S ? dout + row_b : nullptr, t);
  const long long stat = ((long long)b * H + h) * S;
  // Rows past S get P = 0 (an infinite log-sum-exp).
  const float lse_a = ia < S ? lse[stat + ia] : HZ_INFINITY, lse_b = ib < S ? lse[stat + ib] : HZ_INFINITY;
  const float delta_a = ia < S ? delta[stat + ia] : 0.0f, delta_b = ib < S ? delta[stat + ib] : 0.0f;
  float acc[DN][4];
#pragma unroll
  for (int dn = 0; dn < DN; ++dn) acc[dn][0] = acc[dn][1] = acc[dn][2] = acc[dn][3] = 0.0f;

  for (int it = 0; it < n; ++it) {
    const int j0 = j_begin + it * DQ_KEYS;
    const unsigned ks = base + (it & 1) * 2 * TILE, vs = ks + TILE;
    if (it + 1 < n) {
      const unsigned next = base + ((it + 1) & 1) * 2 * TILE;
      copy_rows<DQ_KEYS, KVH, DQ_THREADS>(next, k16, b, j0 + DQ_KEYS, kvh);
      copy_rows<DQ_KEYS, KVH, DQ_THREADS>(next + TILE, v16, b, j0 + DQ_KEYS, kvh);
      copy_commit();
      copy_wait<1>();
    } else {
      copy_wait<0>();
    }
    __syncthreads();  // this stage has landed for every thread
    const bool active = w0 < S && j0 <= w0 + 15 && (WINDOW == 0 || j0 + DQ_KEYS - 1 > w0 - WINDOW) &&
                        documents_meet(seg, w0, last_row(w0 + 15), j0, last_row(j0 + DQ_KEYS - 1));
    const bool full = j0 + DQ_KEYS - 1 <= w0 && (WINDOW == 0 || j0 > w0 + 15 - WINDOW) &&
                      one_document(seg, j0, last_row(w0 + 15));
    if (active) {
      float s[DQ_KEYS / 8][4], dp[DQ_KEYS / 8][4];
#pragma unroll
      for (int nb = 0; nb < DQ_KEYS / 8; ++nb)
#pragma unroll
        for (int e = 0; e < 4; ++e) s[nb][e] = dp[nb][e] = 0.0f;
#pragma unroll
      for (int kc = 0; kc < DC; ++kc)
#pragma unroll
        for (int np = 0; np < DQ_KEYS / 16; ++np) {
          unsigned bf[4];
          ldsm_x4(bf, b_frag_address(ks, np * 16, kc, lane));
          mma(s[2 * np], qf[kc], bf[0], bf[1]);
          mma(s[2 * np + 1], qf[kc], bf[2], bf[3]);
          ldsm_x4(bf, b_frag_address(vs, np * 16, kc, lane));
          mma(dp[2 * np], df[kc], bf[0], bf[1]);
          mma(dp[2 * np + 1], df[kc], bf[2], bf[3]);
        }
#pragma unroll
      for (int nb = 0; nb < DQ_KEYS / 8; ++nb)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int i = e < 2 ? ia : ib, j = j0 + nb * 8 + 2 * t + (e & 1);
          const float p = full || (visible(i, j) && (!PACKED || (i < S && same_document(seg, i, j))))
                              ? exp2f(s[nb][e] * SCALE_LOG2 - (e < 2 ? lse_a : lse_b)) : 0.0f;
          s[nb][e] = p * (dp[nb][e] - (e < 2 ? delta_a : delta_b));  // dS
        }
      unsigned dsf[DQ_KEYS / 16][4];
      to_a_frags(dsf, s);
#pragma unroll
      for (int kc = 0; kc < DQ_KEYS / 16; ++kc)
#pragma unroll
        for (int np = 0; np < D / 16; ++np) {
          unsigned bf[4];
          ldsm_x4_trans(bf, bt_frag_address(ks, kc, np, lane));
          mma(acc[2 * np], dsf[kc], bf[0], bf[1]);
          mma(acc[2 * np + 1], dsf[kc], bf[2], bf[3]);
        }
    }
    __syncthreads();  // every warp is done with this stage before it is refilled
  }
#pragma unroll
  for (int dn = 0; dn < DN; ++dn) {
    const int c = dn * 8 + 2 * t;
    if (ia < S) *reinterpret_cast<float2*>(dq + row_a + c) = make_float2(acc[dn][0] * SCALE, acc[dn][1] * SCALE);
    if (ib < S) *reinterpret_cast<float2*>(dq + row_b + c) = make_float2(acc[dn][2] * SCALE, acc[dn][3] * SCALE);
  }
}

extern "C" __global__ void __launch_bounds__(DQ_THREADS)
attention_backward_dq_tc(float* __restrict__ dq, const float* __restrict__ dout, const float* __restrict__ q,
                         const __nv_bfloat16* __restrict__ k16, const __nv_bfloat16* __restrict__ v16,
                         const float* __restrict__ lse, const float* __restrict__ delta,
                         const int* __restrict__ segments) {
  const int i0 = (DQ_TILES - 1 - blockIdx.x) * DQ_ROWS;
  const int i_last = (i0 + DQ_ROWS < S ? i0 + DQ_ROWS : S) - 1;
  __shared__ __align__(128) char tiles[2 * 2 * DQ_KEYS * D * 2];  // one allocation for both instantiations
  if (spans_documents(segments, blockIdx.z, first_key(i0), i_last))
    dq_rows<true>(tiles, dq, dout, q, k16, v16, lse, delta, segments);
  else
    dq_rows<false>(tiles, dq, dout, q, k16, v16, lse, delta, segments);
}

// dk, dv of the keys [j0, j0 + KV_KEYS) from query head h alone, written to
// head h of a [B, S, H, D] tensor: dk and dv themselves when GROUP = 1, else
// the per-head shares that attention_backward_sum_heads adds up.
template <bool PACKED>
__device__ __forceinline__ void dkdv_keys(char* smem, float* __restrict__ dk, float* __restrict__ dv,
                                          const __nv_bfloat16* __restrict__ dout16,
                                          const __nv_bfloat16* __restrict__ q16, const __nv_bfloat16* __restrict__ k16,
                                          const __nv_bfloat16* __restrict__ v16, const float* __restrict__ lse,
                                          const float* __restrict__ delta, const int* __restrict__ segments) {
  constexpr int KV_TILE = KV_KEYS * D * 2, Q_TILE = KV_ROWS * D * 2;  // smem: K, V, then [stage][Q, dout]
  const int j0 = blockIdx.x * KV_KEYS;  // the longest columns (small j) start first
  const int h = blockIdx.y, b = blockIdx.z, kvh = h / GROUP;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int jw = j0 + warp * 16, ja = jw + g, jb = ja + 8;
  const unsigned ks = shared_address(smem), vs = ks + KV_TILE, qbase = vs + KV_TILE;
  const int j_last = (j0 + KV_KEYS < S ? j0 + KV_KEYS : S) - 1;
  const int* seg = PACKED ? segments + (long long)b * S : nullptr;
  const int i_end = min(query_end(j_last), document_end(seg, j_last));
  const int n = (i_end - j0 + KV_ROWS - 1) / KV_ROWS;  // query tiles that see a key of the block
  auto issue = [&](int step) {
    const unsigned qs = qbase + (step % KV_STAGES) * 2 * Q_TILE;
    copy_rows<KV_ROWS, H, KV_THREADS>(qs, q16, b, j0 + step * KV_ROWS, h);
    copy_rows<KV_ROWS, H, KV_THREADS>(qs + Q_TILE, dout16, b, j0 + step * KV_ROWS, h);
    copy_commit();
  };
  copy_rows<KV_KEYS, KVH, KV_THREADS>(ks, k16, b, j0, kvh);
  copy_rows<KV_KEYS, KVH, KV_THREADS>(vs, v16, b, j0, kvh);
  issue(0);  // one group with K and V

  float dka[DN][4], dva[DN][4];
#pragma unroll
  for (int dn = 0; dn < DN; ++dn)
#pragma unroll
    for (int e = 0; e < 4; ++e) dka[dn][e] = dva[dn][e] = 0.0f;
  const long long stat = ((long long)b * H + h) * S;
  for (int step = 0; step < n; ++step) {
    const int i0 = j0 + step * KV_ROWS;
    const unsigned qs = qbase + (step % KV_STAGES) * 2 * Q_TILE, dos = qs + Q_TILE;
    // The statistics of this lane's query columns i0 + 8 nb + 2t + {0, 1}.
    float ls[KV_ROWS / 8][2], dl[KV_ROWS / 8][2];
#pragma unroll
    for (int nb = 0; nb < KV_ROWS / 8; ++nb)
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int i = i0 + nb * 8 + 2 * t + e;
        ls[nb][e] = i < S ? lse[stat + i] : HZ_INFINITY;
        dl[nb][e] = i < S ? delta[stat + i] : 0.0f;
      }
    if (KV_STAGES == 2 && step + 1 < n) {
      issue(step + 1);
      copy_wait<1>();
    } else {
      copy_wait<0>();
    }
    __syncthreads();  // this step's tiles have landed for every thread
    const bool active = jw < S && i0 + KV_ROWS - 1 >= jw && (WINDOW == 0 || i0 < jw + 15 + WINDOW) &&
                        documents_meet(seg, last_row(i0), last_row(i0 + KV_ROWS - 1), jw, last_row(jw + 15));
    const bool full = i0 >= jw + 15 && i0 + KV_ROWS <= S && (WINDOW == 0 || i0 + KV_ROWS - 1 < jw + WINDOW) &&
                      one_document(seg, jw, i0 + KV_ROWS - 1);
    if (active) {
      float st[KV_ROWS / 8][4], dpt[KV_ROWS / 8][4];
#pragma unroll
      for (int nb = 0; nb < KV_ROWS / 8; ++nb)
#pragma unroll
        for (int e = 0; e < 4; ++e) st[nb][e] = dpt[nb][e] = 0.0f;
#pragma unroll
      for (int kc = 0; kc < DC; ++kc) {
        unsigned ka[4], va[4];
        ldsm_x4(ka, a_frag_address(ks, warp * 16, kc, lane));
        ldsm_x4(va, a_frag_address(vs, warp * 16, kc, lane));
#pragma unroll
        for (int np = 0; np < KV_ROWS / 16; ++np) {
          unsigned bf[4];
          ldsm_x4(bf, b_frag_address(qs, np * 16, kc, lane));
          mma(st[2 * np], ka, bf[0], bf[1]);
          mma(st[2 * np + 1], ka, bf[2], bf[3]);
          ldsm_x4(bf, b_frag_address(dos, np * 16, kc, lane));
          mma(dpt[2 * np], va, bf[0], bf[1]);
          mma(dpt[2 * np + 1], va, bf[2], bf[3]);
        }
      }
#pragma unroll
      for (int nb = 0; nb < KV_ROWS / 8; ++nb)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int j = e < 2 ? ja : jb, i = i0 + nb * 8 + 2 * t + (e & 1);
          const float p = full || (i < S && visible(i, j) && same_document(seg, i, j))
                              ? exp2f(st[nb][e] * SCALE_LOG2 - ls[nb][e & 1]) : 0.0f;
          st[nb][e] = p;                                  // P^T
          dpt[nb][e] = p * (dpt[nb][e] - dl[nb][e & 1]);  // dS^T
        }
      unsigned pa[KV_ROWS / 16][4], sa[KV_ROWS / 16][4];
      to_a_frags(pa, st);
      to_a_frags(sa, dpt);
#pragma unroll
      for (int kc = 0; kc < KV_ROWS / 16; ++kc)
#pragma unroll
        for (int np = 0; np < D / 16; ++np) {
          unsigned bf[4];
          ldsm_x4_trans(bf, bt_frag_address(dos, kc, np, lane));
          mma(dva[2 * np], pa[kc], bf[0], bf[1]);
          mma(dva[2 * np + 1], pa[kc], bf[2], bf[3]);
          ldsm_x4_trans(bf, bt_frag_address(qs, kc, np, lane));
          mma(dka[2 * np], sa[kc], bf[0], bf[1]);
          mma(dka[2 * np + 1], sa[kc], bf[2], bf[3]);
        }
    }
    __syncthreads();  // every warp is done with this stage before it is refilled
    if (KV_STAGES == 1 && step + 1 < n) issue(step + 1);
  }
  const long long row_a = (((long long)b * S + ja) * H + h) * D, row_b = row_a + 8LL * H * D;
#pragma unroll
  for (int dn = 0; dn < DN; ++dn) {
    const int c = dn * 8 + 2 * t;
    if (ja < S) {
      *reinterpret_cast<float2*>(dk + row_a + c) = make_float2(dka[dn][0] * SCALE, dka[dn][1] * SCALE);
      *reinterpret_cast<float2*>(dv + row_a + c) = make_float2(dva[dn][0], dva[dn][1]);
    }
    if (jb < S) {
      *reinterpret_cast<float2*>(dk + row_b + c) = make_float2(dka[dn][2] * SCALE, dka[dn][3] * SCALE);
      *reinterpret_cast<float2*>(dv + row_b + c) = make_float2(dva[dn][2], dva[dn][3]);
    }
  }
}

extern "C" __global__ void __launch_bounds__(KV_THREADS)
attention_backward_dkdv_tc(float* __restrict__ dk, float* __restrict__ dv, const __nv_bfloat16* __restrict__ dout16,
                           const __nv_bfloat16* __restrict__ q16, const __nv_bfloat16* __restrict__ k16,
                           const __nv_bfloat16* __restrict__ v16, const float* __restrict__ lse,
                           const float* __restrict__ delta, const int* __restrict__ segments) {
  // The plain path's query tiles, every row of them (the last tile's rows
  // past the visible ones may be another document's, which only seg keeps out).
  const int j0 = blockIdx.x * KV_KEYS, j_last = (j0 + KV_KEYS < S ? j0 + KV_KEYS : S) - 1;
  const int rows_end = min(j0 + (query_end(j_last) - j0 + KV_ROWS - 1) / KV_ROWS * KV_ROWS, S);
  // One allocation for both instantiations.
  __shared__ __align__(128) char smem[2 * KV_KEYS * D * 2 + KV_STAGES * 2 * KV_ROWS * D * 2];
  if (spans_documents(segments, blockIdx.z, j0, rows_end - 1))
    dkdv_keys<true>(smem, dk, dv, dout16, q16, k16, v16, lse, delta, segments);
  else
    dkdv_keys<false>(smem, dk, dv, dout16, q16, k16, v16, lse, delta, segments);
}


// dk, dv of kv head kvh = the sum of its GROUP query heads' shares
// ([B, S, H, D]), added in head order.
extern "C" __global__ void __launch_bounds__(SUM_THREADS)
attention_backward_sum_heads(float4* __restrict__ dk, float4* __restrict__ dv, const float4* __restrict__ dk_heads,
                             const float4* __restrict__ dv_heads) {
  constexpr int D4 = D / 4;
  const long long total = (long long)B * S * KVH * D4;
  for (long long c = (long long)blockIdx.x * SUM_THREADS + threadIdx.x; c < total;
       c += (long long)gridDim.x * SUM_THREADS) {
    const long long bs = c / (KVH * D4);
    const int kvh = static_cast<int>(c / D4 % KVH), d4 = static_cast<int>(c % D4);
    const long long src = (bs * H + (long long)kvh * GROUP) * D4 + d4;
    float4 a = dk_heads[src], s = dv_heads[src];
#pragma unroll
    for (int r = 1; r < GROUP; ++r) {
      const float4 x = dk_heads[src + r * D4], y = dv_heads[src + r * D4];
      a.x += x.x, a.y += x.y, a.z += x.z, a.w += x.w;
      s.x += y.x, s.y += y.y, s.z += y.z, s.w += y.w;
    }
    dk[c] = a;
    dv[c] = s;
  }
}
)CUDA";

}  // namespace

KernelSource attention_backward_tc(const AttentionShape& a) {
  SourceBuilder src = attention_tc_source("attention_backward", a, 2);
  src.constant("DQ_ROWS", kDqRows).constant("DQ_THREADS", kDqThreads);
  src.constant("KV_KEYS", kKvKeys).constant("KV_THREADS", kKvThreads).constant("SUM_THREADS", kSumThreads);
  // Queries per dk/dv step and the stages of their tiles. At D = 128 the K
  // and V tiles leave 16 KiB of the 48 KiB of static shared memory: one stage
  // of 32 queries ran 12-15% faster on an H200 than two stages of 16.
  src.constant("KV_ROWS", 32).constant("KV_STAGES", a.D == 128 ? 1 : 2);
  KernelSource k = src.text(kBackward).finish();
  const int64_t q_elements = a.B * a.S * a.H * a.D, kv_elements = a.B * a.S * a.KVH * a.D;
  const bool gqa = a.H > a.KVH;
  k.inputs = {{"dout", ir::DType::f32, q_elements},
              {"q", ir::DType::f32, q_elements},
              {"k", ir::DType::f32, kv_elements},
              {"v", ir::DType::f32, kv_elements}};
  // Without packed documents the kernels' segments argument is dout, never read.
  if (a.segments) k.inputs.push_back({"segments", ir::DType::i32, a.B * a.S});
  const Arg segments = a.segments ? Arg{Arg::Kind::input, 4} : Arg{Arg::Kind::input, 0};
  k.outputs = {
      {"dq", ir::DType::f32, q_elements}, {"dk", ir::DType::f32, kv_elements}, {"dv", ir::DType::f32, kv_elements}};
  k.workspaces = {{"dout_bf16", q_elements * 2}, {"q_bf16", q_elements * 2},   {"k_bf16", kv_elements * 2},
                  {"v_bf16", kv_elements * 2},   {"lse", a.B * a.H * a.S * 4}, {"delta", a.B * a.H * a.S * 4}};
  if (gqa) k.workspaces.insert(k.workspaces.end(), {{"dk_heads", q_elements * 4}, {"dv_heads", q_elements * 4}});
  using K = Arg::Kind;
  const auto B = static_cast<uint32_t>(a.B), H = static_cast<uint32_t>(a.H);
  const uint32_t round_blocks = std::min<uint32_t>(blocks_for(q_elements / 8, kAttentionTcRoundThreads), 2048);
  const Arg dk_out = gqa ? Arg{K::workspace, 6} : Arg{K::output, 1};
  const Arg dv_out = gqa ? Arg{K::workspace, 7} : Arg{K::output, 2};
  k.launches = {
      {"attention_round_bf16",
       {round_blocks, 4, 1},
       {kAttentionTcRoundThreads, 1, 1},
       0,
       {{K::workspace, 0},
        {K::workspace, 1},
        {K::workspace, 2},
        {K::workspace, 3},
        {K::input, 0},
        {K::input, 1},
        {K::input, 2},
        {K::input, 3}}},
      {"attention_backward_stats_tc",
       {blocks_for(a.S, kAttentionTcRows), H, B},
       {kAttentionTcThreads, 1, 1},
       0,
       {{K::workspace, 4},
        {K::workspace, 5},
        {K::input, 0},
        {K::input, 1},
        {K::workspace, 2},
        {K::workspace, 3},
        segments}},
      {"attention_backward_dq_tc",
       {blocks_for(a.S, kDqRows), H, B},
       {kDqThreads, 1, 1},
       0,
       {{K::output, 0},
        {K::input, 0},
        {K::input, 1},
        {K::workspace, 2},
        {K::workspace, 3},
        {K::workspace, 4},
        {K::workspace, 5},
        segments}},
      {"attention_backward_dkdv_tc",
       {blocks_for(a.S, kKvKeys), H, B},
       {kKvThreads, 1, 1},
       0,
       {dk_out,
        dv_out,
        {K::workspace, 0},
        {K::workspace, 1},
        {K::workspace, 2},
        {K::workspace, 3},
        {K::workspace, 4},
        {K::workspace, 5},
        segments}},
  };
  if (gqa)
    k.launches.push_back({"attention_backward_sum_heads",
                          {std::min<uint32_t>(blocks_for(kv_elements / 4, kSumThreads), 2048), 1, 1},
                          {kSumThreads, 1, 1},
                          0,
                          {{K::output, 1}, {K::output, 2}, {K::workspace, 6}, {K::workspace, 7}}});
  return k;
}

}  // namespace horizon::codegen::cuda
