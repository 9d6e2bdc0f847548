// The fused lm head loss on the GPU (runtime/cuda/loss_chunks.h) against the
// CPU executor of the same stage: forward and gradient, several chunks with
// N not a multiple of the chunk, V with and without 16-byte rows, ~20% of
// the targets masked plus one fully masked chunk. Outputs, gradients and the
// arena (where the logits chunks live) start as NaN. The loss must agree to
// 1e-3 relative, dh and dw to 1e-2 relative L2 (the GEMMs read bf16 h and
// d_logits; the CPU is fp32 throughout). A second launch with `accumulate`
// must double dw. The host-only tests check what the planner and the program
// builder decide without a GPU: the arena gives the op its chunk scratch, the
// head's executor scratch no longer holds a bf16 copy of [N, V] d_logits.
#include <gtest/gtest.h>

#ifdef HORIZON_HAVE_CUDA

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>

#include "frontend/model_json.h"
#include "ir/parser.h"
#include "passes/fuse_lm_head_loss.h"
#include "passes/lower.h"
#include "passes/plan_memory.h"
#include "runtime/cpu/stage_executor.h"
#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/cuda_stage_executor.h"
#include "runtime/cuda/device_memory.h"
#include "runtime/cuda/stage_program.h"
#include "support/bf16.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

using runtime::cuda::DeviceMemory;
using F = std::vector<float>;

std::string why_no_device() {
  int n = 0;
  if (cudaError_t e = cudaGetDeviceCount(&n); e != cudaSuccess)
    return std::string("cudaGetDeviceCount: ") + cudaGetErrorName(e);
  return n == 0 ? "cudaGetDeviceCount returned 0" : "";
}

/// A forward and a backward stage holding just the fused op.
ir::Module loss_module(int64_t C, int64_t V, int64_t chunk, bool w_f32 = false) {
  const std::string c = std::to_string(C), v = std::to_string(V), k = std::to_string(chunk);
  const std::string head = "    in %h : f32[B, S, " + c +
                           "]\n    in %targets : i32[B, S]\n    param %w : " + (w_f32 ? "f32[" : "bf16[") + v + ", " +
                           c + "] \"lm_head.weight\" init=normal(0.02)\n";
  return ir::parse_module("module \"loss\" {\n  config {vocab = " + v + "}\n\n  stage head {\n" + head +
                          "    %loss : f32[] = linear_cross_entropy(%h, %w, %targets) {chunk = " + k +
                          "}\n    out %loss\n  }\n\n  stage head.bwd {\n" + head +
                          "    %loss : f32[], %d_h : f32[B, S, " + c + "], %d_w : f32[" + v + ", " + c +
                          "] = linear_cross_entropy_grad(%h, %w, %targets) {chunk = " + k +
                          "}\n    out %loss\n    out %d_h\n    grad %w = %d_w\n  }\n}\n");
}

double rel_l2(const F& got, const F& want, double scale = 1.0) {
  if (got.size() != want.size()) return std::numeric_limits<double>::infinity();
  double diff = 0, norm = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i]) || !std::isfinite(want[i])) return std::numeric_limits<double>::infinity();
    diff += (got[i] - scale * want[i]) * (got[i] - scale * want[i]);
    norm += scale * want[i] * scale * want[i];
  }
  return norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

DeviceMemory upload(const void* p, int64_t bytes) {
  DeviceMemory d(bytes, "test data");
  runtime::cuda::check_cuda(cudaMemcpy(d.get(), p, static_cast<size_t>(bytes), cudaMemcpyHostToDevice), "cudaMemcpy",
                            "test upload");
  return d;
}

F download(const DeviceMemory& d, int64_t n) {
  F v(static_cast<size_t>(n));
  runtime::cuda::check_cuda(cudaMemcpy(v.data(), d.get(), static_cast<size_t>(n) * 4, cudaMemcpyDeviceToHost),
                            "cudaMemcpy", "test download");
  return v;
}

DeviceMemory poisoned(int64_t bytes, const char* what) {
  DeviceMemory d(std::max<int64_t>(bytes, 16), what);
  runtime::cuda::check_cuda(cudaMemset(d.get(), 0xff, static_cast<size_t>(d.bytes())), "cudaMemset", what);
  return d;
}

struct Case {
  int64_t B, S, C, V, chunk;
  bool w_f32 = false;  // an fp32 lm head, narrowed to bf16 like any fp32 GEMM operand
};

void check_case(const Case& k) {
  const int64_t N = k.B * k.S;
  SCOPED_TRACE("N=" + std::to_string(N) + " C=" + std::to_string(k.C) + " V=" + std::to_string(k.V) +
               " chunk=" + std::to_string(k.chunk));
  const ir::Module m = loss_module(k.C, k.V, k.chunk, k.w_f32);
  std::mt19937 rng(31);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<double> u(0, 1);
  std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(k.V) - 1);
  F h(N * k.C), w(k.V * k.C);
  for (float& x : h) x = normal(rng);
  std::vector<uint16_t> w_bits(w.size());
  for (size_t i = 0; i < w.size(); ++i) {
    w_bits[i] = float_to_bf16(normal(rng) * 3.0f / std::sqrt(static_cast<float>(k.C)));
    w[i] = bf16_to_float(w_bits[i]);
  }
  std::vector<int32_t> targets(N);
  for (int32_t& t : targets) t = u(rng) < 0.2 ? -1 : token(rng);
  if (N > 2 * k.chunk)
    for (int64_t n = k.chunk; n < 2 * k.chunk; ++n) targets[n] = -1;  // the second chunk is fully masked
  const DeviceMemory d_h = upload(h.data(), N * k.C * 4), d_t = upload(targets.data(), N * 4),
                     d_w = k.w_f32 ? upload(w.data(), k.V * k.C * 4) : upload(w_bits.data(), k.V * k.C * 2);

  for (const char* name : {"head", "head.bwd"}) {
    SCOPED_TRACE(name);
    const ir::Stage& s = *m.find_stage(name);
    const bool backward = !s.grads.empty();
    const std::vector<runtime::StageOutput> want =
        runtime::CpuStageExecutor(s).run(k.B, k.S, {h.data(), targets.data()}, {w.data()});
    const ir::ArenaPlan plan = passes::plan_stage_arena(s, k.B, k.S);
    ASSERT_GE(plan.scratch_offset(0), 0) << "the planner gives the fused op its chunk scratch";
    runtime::cuda::CudaStageExecutor gpu(s, plan, k.B, k.S);
    DeviceMemory loss = poisoned(4, "loss"), dh = poisoned(N * k.C * 4, "dh"), dw = poisoned(k.V * k.C * 4, "dw");
    DeviceMemory arena = poisoned(plan.bytes, "arena");
    runtime::cuda::DeviceStageBindings b;
    b.inputs = {d_h.get(), d_t.get()};
    b.params = {d_w.get()};
    b.outputs = {loss.get()};
    if (backward) {
      b.outputs.push_back(dh.get());
      b.grads = {static_cast<float*>(dw.get())};
    }
    b.arena = arena.get();
    for (bool accumulate : {false, true}) {
      if (accumulate && !backward) break;
      SCOPED_TRACE(accumulate ? "accumulate" : "overwrite");
      runtime::cuda::check_cuda(cudaMemset(loss.get(), 0xff, 4), "cudaMemset", "poison");
      b.accumulate = accumulate;
      gpu.launch(b, nullptr);
      runtime::cuda::check_cuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize", name);
      const F got_loss = download(loss, 1);
      EXPECT_LT(rel_l2(got_loss, want[0].data), 1e-3) << "loss gpu " << got_loss[0] << " cpu " << want[0].data[0];
      if (!backward) continue;
      const double e_dh = rel_l2(download(dh, N * k.C), want[1].data);
      const double e_dw = rel_l2(download(dw, k.V * k.C), want[2].data, accumulate ? 2.0 : 1.0);
      EXPECT_LT(e_dh, 1e-2);
      EXPECT_LT(e_dw, 1e-2);
      std::printf("[ loss     ] N=%lld V=%lld chunk=%lld %s: loss %.6f (cpu %.6f), dh rel L2 %.2e, dw rel L2 %.2e\n",
                  static_cast<long long>(N), static_cast<long long>(k.V), static_cast<long long>(k.chunk),
                  accumulate ? "accumulate" : "overwrite", got_loss[0], want[0].data[0], e_dh, e_dw);
    }
  }
}

TEST(CudaLossChunks, MatchesTheCpuOverSeveralChunks) {
  if (const std::string why = why_no_device(); !why.empty()) GTEST_SKIP() << "no CUDA device (" << why << ")";
  for (const Case& k : {Case{3, 15, 64, 300, 16},     // 45 rows: chunks of 16, 16, 13; 16-byte rows
                        Case{2, 40, 32, 259, 32},     // 80 rows: 32, 32, 16; odd V (scalar loads and stores)
                        Case{3, 15, 64, 300, 1392},   // one chunk, clamped to N
                        Case{4, 128, 128, 1000, 48},  // 512 rows in 11 chunks, the last of 32
                        Case{3, 15, 64, 300, 16, true}})
    check_case(k);
}

// ---- host only: the plan and the program, no GPU needed ----

TEST(CudaLossChunks, ProgramRejectsAPlanWithoutTheChunkScratchAndAnUnalignedChunk) {
  const ir::Module m = loss_module(64, 300, 16);
  const ir::Stage& s = *m.find_stage("head.bwd");
  ir::ArenaPlan plan = passes::plan_stage_arena(s, 3, 15);
  EXPECT_NO_THROW(runtime::cuda::build_stage_program(s, plan, 3, 15));
  plan.scratch_offsets.clear();
  try {
    runtime::cuda::build_stage_program(s, plan, 3, 15);
    FAIL() << "a plan without the logits chunks was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(
        std::string(e.what()).find("linear_cross_entropy_grad): the arena plan gives its logits chunks no scratch"),
        std::string::npos)
        << e.what();
  }
  const ir::Module odd = loss_module(64, 300, 12);
  const ir::Stage& so = *odd.find_stage("head.bwd");
  EXPECT_THROW(runtime::cuda::build_stage_program(so, passes::plan_stage_arena(so, 3, 15), 3, 15),
               std::invalid_argument);
}

TEST(CudaLossChunks, Llama1bHeadNoLongerHoldsTheLogits) {
  constexpr int64_t B = 8, S = 2048;
  ir::Module fused = frontend::load_model(testing::source_path("models/llama-1b.json"));
  ir::Module unfused = fused;
  passes::lower(fused);
  passes::LowerOptions stop;
  stop.stop_after = "fuse_elementwise";
  passes::lower(unfused, stop);
  int64_t arena[2], scratch[2];
  for (int k = 0; k < 2; ++k) {
    const ir::Stage& s = *(k ? fused : unfused).find_stage("head.bwd");
    const ir::ArenaPlan plan = passes::plan_stage_arena(s, B, S);
    arena[k] = plan.bytes;
    scratch[k] = runtime::cuda::build_stage_program(s, plan, B, S).scratch_bytes;
  }
  std::printf("[ head.bwd ] llama-1b B=%lld S=%lld: arena %.1f -> %.1f MiB, executor scratch %.1f -> %.1f MiB\n",
              static_cast<long long>(B), static_cast<long long>(S), arena[0] / 1048576.0, arena[1] / 1048576.0,
              scratch[0] / 1048576.0, scratch[1] / 1048576.0);
  const int64_t logits = B * S * 32000 * 4, h = B * S * 2048 * 4;  // fp32 [N, V] (2 GiB) and [N, C]
  EXPECT_GE(arena[0], 2 * logits);                                 // logits and d_logits
  EXPECT_LE(arena[1], 2 * h + passes::kLossChunkBytes);            // h, d_h and one chunk
  EXPECT_LT(scratch[1], logits / 8);                               // bf16 copies of h, no [N, V]
}

}  // namespace
}  // namespace horizon

#else

TEST(CudaLossChunks, NeedsTheCudaToolkit) { GTEST_SKIP() << "built without the CUDA toolkit (CMake found none)"; }

#endif
