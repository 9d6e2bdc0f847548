// The CUDA stage executor against the CPU stage executor (the reference
// backend), stage by stage, on the three tiny models (Llama, Qwen2 with GQA
// and biases, GPT-2 with LayerNorm, GELU and learned positions): embed,
// block, head and their backward stages at B = 2, S = 33 (odd on purpose),
// with random inputs, masked targets and random bf16 weights that the CPU
// gets widened to fp32. Transients live at plan_memory's offsets in an arena
// poisoned with NaN, as are the outputs and gradients: an element the GPU
// skips fails. GEMM operands are bf16 on the GPU and fp32 on the CPU, hence
// the tolerance (relative L2 1e-2; NaN never passes). A second launch with
// `accumulate` must double every gradient. Qwen runs again at B = 3, S = 130
// (multi-tile attention). The worst error of each stage is printed.
#include <gtest/gtest.h>

#ifdef HORIZON_HAVE_CUDA

#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>

#include "frontend/model_json.h"
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

using runtime::cuda::CudaStageExecutor;
using runtime::cuda::DeviceMemory;
using F = std::vector<float>;
constexpr double kTolerance = 1e-2;
constexpr int64_t kBatch = 2, kSeq = 33;
const char* const kModels[] = {"models/tiny.json", "models/tiny-qwen.json", "models/tiny-qwen3.json",
                               "models/tiny-gpt2.json"};
const char* const kStages[] = {"embed", "block", "head", "head.bwd", "block.bwd", "embed.bwd"};

std::string why_no_device() {
  int n = 0;
  if (cudaError_t e = cudaGetDeviceCount(&n); e != cudaSuccess)
    return std::string("cudaGetDeviceCount: ") + cudaGetErrorName(e);
  return n == 0 ? "cudaGetDeviceCount returned 0" : "";
}

ir::Module lowered(const std::string& model) {
  ir::Module m = frontend::load_model(testing::source_path(model));
  passes::lower(m);
  return m;
}

/// RMS below which a reference is compared in absolute terms: a gradient
/// that is zero in exact arithmetic (GPT-2's key bias: softmax ignores a
/// shift shared by all keys) is rounding noise on both sides, whose relative
/// error means nothing. Every other value here is of order 0.1 to 10.
constexpr double kRmsFloor = 1e-3;

/// Relative L2 error of `got` against `scale` x `want` (whose norm counts as
/// at least kRmsFloor RMS); +inf on any non-finite value or a size mismatch.
double rel_l2(const F& got, const F& want, double scale = 1.0) {
  if (got.size() != want.size()) return std::numeric_limits<double>::infinity();
  double diff = 0, norm = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i]) || !std::isfinite(want[i])) return std::numeric_limits<double>::infinity();
    const double w = scale * want[i];
    diff += (got[i] - w) * (got[i] - w);
    norm += w * w;
  }
  const double floor = scale * kRmsFloor;
  return std::sqrt(diff / std::max(norm, floor * floor * static_cast<double>(want.size())));
}

void copy_to_device(void* dst, const void* src, size_t bytes) {
  runtime::cuda::check_cuda(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "cudaMemcpy", "test upload");
}

F download(const void* src, int64_t n) {
  F v(n);
  runtime::cuda::check_cuda(cudaMemcpy(v.data(), src, n * 4, cudaMemcpyDeviceToHost), "cudaMemcpy", "test download");
  return v;
}

/// Random host data for one stage, and the same data on the device.
class StageCase {
 public:
  StageCase(const ir::Stage& s, int64_t B, int64_t S, std::mt19937& rng) : s_(s), B_(B), S_(S) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::uniform_int_distribution<int32_t> token(0, 255);
    std::uniform_real_distribution<double> u(0, 1);
    for (int v : s.inputs) {
      const ir::TensorType& t = s.values[v].type;
      const int64_t n = t.elements(B, S);
      if (t.dtype == ir::DType::i32) {
        std::vector<int32_t> ids(n);
        const bool targets = s.values[v].name.find("target") != std::string::npos;
        for (int32_t& id : ids) id = targets && u(rng) < 0.2 ? -1 : token(rng);
        inputs_.push_back(bytes_of(ids.data(), n * 4));
      } else {
        F x(n);
        for (float& f : x) f = normal(rng);
        inputs_.push_back(bytes_of(x.data(), n * 4));
      }
    }
    for (const ir::Param& p : s.params) {
      const ir::TensorType& t = s.values[p.value].type;
      const int64_t n = t.static_elements();
      // Norm scales near 1, biases near 0, matrices scaled by 1/sqrt(fan-in)
      // so that activations stay near unit size through every GEMM.
      const double scale = t.shape.size() >= 2 ? 1.0 / std::sqrt(static_cast<double>(t.shape.back().value)) : 0.1;
      const double offset = p.init.kind == ir::Init::Kind::ones ? 1.0 : 0.0;
      F w(n);
      for (float& f : w) f = static_cast<float>(offset + scale * normal(rng));
      if (t.dtype == ir::DType::bf16) {
        std::vector<uint16_t> bits(n);
        for (int64_t i = 0; i < n; ++i) {
          bits[i] = float_to_bf16(w[i]);
          w[i] = bf16_to_float(bits[i]);
        }
        device_params_.push_back(bytes_of(bits.data(), n * 2));
      } else {
        device_params_.push_back(bytes_of(w.data(), n * 4));
      }
      params_.push_back(std::move(w));
    }
  }

  /// Outputs, then gradients, from the CPU executor.
  std::vector<F> cpu() const {
    std::vector<const void*> in;
    for (const auto& b : inputs_) in.push_back(b.data());
    std::vector<const float*> p;
    for (const F& w : params_) p.push_back(w.data());
    std::vector<F> out;
    for (auto& o : runtime::CpuStageExecutor(s_).run(B_, S_, in, p)) out.push_back(std::move(o.data));
    return out;
  }

  const std::vector<std::vector<char>>& inputs() const { return inputs_; }
  const std::vector<std::vector<char>>& device_params() const { return device_params_; }

 private:
  static std::vector<char> bytes_of(const void* p, int64_t n) {
    const char* c = static_cast<const char*>(p);
    return std::vector<char>(c, c + n);
  }

  const ir::Stage& s_;
  int64_t B_, S_;
  std::vector<std::vector<char>> inputs_, device_params_;
  std::vector<F> params_;
};

/// Device buffers bound to one executor: inputs and weights uploaded,
/// outputs, gradients and the arena poisoned with NaN.
struct DeviceStage {
  std::vector<DeviceMemory> inputs, params, outputs, grads;
  DeviceMemory arena;
  runtime::cuda::DeviceStageBindings bindings;

  DeviceStage(const ir::Stage& s, const StageCase& c, int64_t B, int64_t S, int64_t arena_bytes) {
    auto upload = [](const std::vector<char>& b) {
      DeviceMemory d(static_cast<int64_t>(b.size()), "test input");
      copy_to_device(d.get(), b.data(), b.size());
      return d;
    };
    for (const auto& b : c.inputs()) {
      inputs.push_back(upload(b));
      bindings.inputs.push_back(inputs.back().get());
    }
    for (const auto& b : c.device_params()) {
      params.push_back(upload(b));
      bindings.params.push_back(params.back().get());
    }
    for (int v : s.outputs) {
      outputs.emplace_back(std::max<int64_t>(16, s.values[v].type.elements(B, S) * 4), "test output");
      bindings.outputs.push_back(outputs.back().get());
    }
    for (const ir::ParamGrad& g : s.grads) {
      grads.emplace_back(s.values[g.value].type.elements(B, S) * 4, "test gradient");
      bindings.grads.push_back(static_cast<float*>(grads.back().get()));
    }
    arena = DeviceMemory(arena_bytes, "test arena");
    bindings.arena = arena.get();
    for (auto* set : {&outputs, &grads})
      for (DeviceMemory& m : *set) poison(m);
    poison(arena);
  }

  static void poison(DeviceMemory& m) {
    if (m.bytes() > 0)
      runtime::cuda::check_cuda(cudaMemset(m.get(), 0xff, static_cast<size_t>(m.bytes())), "cudaMemset", "poison");
  }
};

class CudaStageExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string why = why_no_device(); !why.empty()) GTEST_SKIP() << "no CUDA device (" << why << ")";
  }

  /// Runs `stage` of `model` on both backends; returns its worst error.
  double check_stage(const ir::Module& m, const std::string& model, const std::string& stage, int64_t B, int64_t S) {
    SCOPED_TRACE(model + " stage " + stage + " B=" + std::to_string(B) + " S=" + std::to_string(S));
    const ir::Stage& s = *m.find_stage(stage);
    const StageCase c(s, B, S, rng_);
    const std::vector<F> want = c.cpu();
    const ir::ArenaPlan plan = passes::plan_stage_arena(s, B, S);
    CudaStageExecutor gpu(s, plan, B, S);
    DeviceStage d(s, c, B, S, plan.bytes);

    auto name = [&](size_t k) {
      return k < s.outputs.size() ? "output %" + s.values[s.outputs[k]].name
                                  : "gradient %" + s.values[s.grads[k - s.outputs.size()].value].name;
    };
    auto results = [&] {
      std::vector<F> got;
      for (size_t o = 0; o < s.outputs.size(); ++o)
        got.push_back(download(d.outputs[o].get(), s.values[s.outputs[o]].type.elements(B, S)));
      for (size_t g = 0; g < s.grads.size(); ++g)
        got.push_back(download(d.grads[g].get(), s.values[s.grads[g].value].type.elements(B, S)));
      return got;
    };
    double worst = 0;
    std::string worst_name = "-";
    auto compare = [&](const std::vector<F>& got, bool doubled_grads, const char* run) {
      EXPECT_EQ(got.size(), want.size());
      for (size_t k = 0; k < std::min(got.size(), want.size()); ++k) {
        const double scale = doubled_grads && k >= s.outputs.size() ? 2.0 : 1.0;
        const double e = rel_l2(got[k], want[k], scale);
        EXPECT_LT(e, kTolerance) << run << ": " << name(k) << " relative L2 error " << e;
        if (!(e <= worst)) worst = e, worst_name = name(k) + " (" + run + ")";
      }
    };

    gpu.launch(d.bindings, nullptr);
    runtime::cuda::check_cuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize", model + " " + stage);
    compare(results(), false, "overwrite");
    if (!s.grads.empty()) {
      // Poisoned outputs again: the second run must still write all of them.
      for (DeviceMemory& o : d.outputs) DeviceStage::poison(o);
      d.bindings.accumulate = true;
      gpu.launch(d.bindings, nullptr);
      runtime::cuda::check_cuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize", model + " " + stage);
      compare(results(), true, "accumulate");
    }
    std::printf("[ stage ] %-22s B=%lld S=%lld %-10s worst relative L2 %.2e (%s), scratch %.1f MiB, arena %lld bytes\n",
                model.c_str(), static_cast<long long>(B), static_cast<long long>(S), stage.c_str(), worst,
                worst_name.c_str(), gpu.scratch_bytes() / 1048576.0, static_cast<long long>(plan.bytes));
    return worst;
  }

  std::mt19937 rng_{2024};
};

TEST_F(CudaStageExecutorTest, EveryStageOfTheTinyModelsMatchesTheCpu) {
  for (const char* model : kModels) {
    const ir::Module m = lowered(model);
    for (const char* stage : kStages) check_stage(m, model, stage, kBatch, kSeq);
  }
}

// Longer sequences take the multi-tile paths of attention and larger GEMMs.
TEST_F(CudaStageExecutorTest, LongerSequencesMatchTheCpu) {
  const ir::Module m = lowered("models/tiny-qwen.json");
  for (const char* stage : kStages) check_stage(m, "models/tiny-qwen.json", stage, 3, 130);
}

// The plan is checked when the executor is built, before the GPU is touched.
TEST(CudaStageExecutor, RejectsAPlanWithoutATransient) {
  const ir::Module m = lowered("models/tiny.json");
  const ir::Stage& s = *m.find_stage("block");
  ir::ArenaPlan plan = passes::plan_stage_arena(s, kBatch, kSeq);
  plan.offsets[s.find_value("h")] = -1;
  try {
    CudaStageExecutor gpu(s, plan, kBatch, kSeq);
    FAIL() << "a plan without %h was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("stage block, value %h"), std::string::npos) << e.what();
  }
}

TEST(CudaStageExecutor, RejectsAPlanForASmallerBatch) {
  const ir::Module m = lowered("models/tiny.json");
  const ir::Stage& s = *m.find_stage("block.bwd");
  const ir::ArenaPlan plan = passes::plan_stage_arena(s, 1, kSeq);
  EXPECT_THROW((CudaStageExecutor{s, plan, kBatch, kSeq}), std::invalid_argument);
}

// ---- perf mode (HORIZON_CUDA_PERF=1): a Llama-2-7B block at 2048 tokens ----

/// Device memory of `n` elements of `dtype`: offset + scale * uniform(-1, 1).
DeviceMemory random_device(int64_t n, ir::DType dtype, double scale, double offset, uint64_t seed) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  auto next = [&] {  // xorshift64*: fast enough for 200M weights
    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    return static_cast<double>((x * 0x2545F4914F6CDD1Dull) >> 11) * 0x1p-53 * 2 - 1;
  };
  std::vector<char> bytes(n * ir::dtype_size(dtype));
  for (int64_t i = 0; i < n; ++i) {
    const float v = static_cast<float>(offset + scale * next());
    if (dtype == ir::DType::bf16) {
      const uint16_t b = float_to_bf16(v);
      std::memcpy(bytes.data() + 2 * i, &b, 2);
    } else if (dtype == ir::DType::i32) {
      const int32_t t = static_cast<int32_t>(std::fabs(v) * 1000) % 256;
      std::memcpy(bytes.data() + 4 * i, &t, 4);
    } else {
      std::memcpy(bytes.data() + 4 * i, &v, 4);
    }
  }
  DeviceMemory d(static_cast<int64_t>(bytes.size()), "perf data");
  copy_to_device(d.get(), bytes.data(), bytes.size());
  return d;
}

/// Milliseconds per call of `fn` on the default stream (2 warm-ups, then `reps`).
template <class Fn>
double time_ms(Fn fn, int reps) {
  fn(), fn();
  cudaEvent_t start, stop;
  cudaEventCreate(&start), cudaEventCreate(&stop);
  cudaEventRecord(start, nullptr);
  for (int r = 0; r < reps; ++r) fn();
  cudaEventRecord(stop, nullptr);
  runtime::cuda::check_cuda(cudaEventSynchronize(stop), "cudaEventSynchronize", "perf timing");
  float ms = 0;
  cudaEventElapsedTime(&ms, start, stop);
  cudaEventDestroy(start), cudaEventDestroy(stop);
  return ms / reps;
}

// Each block stage of a model at a micro-batch of B x S: the launch, its
// slowest steps, and its GEMMs alone; the kept stages too (their backward
// reads the forward's matmul and attention results instead of recomputing).
void time_block_stages(const std::string& model, int64_t B, int64_t S) {
  const ir::Module m = lowered("models/" + model + ".json");
  for (const char* stage : {"block", "block.bwd", "block.keep", "block.kept.bwd"}) {
    const ir::Stage& s = *m.find_stage(stage);
    const ir::ArenaPlan plan = passes::plan_stage_arena(s, B, S);
    const auto t0 = std::chrono::steady_clock::now();
    CudaStageExecutor gpu(s, plan, B, S);
    const double build_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();

    std::vector<DeviceMemory> keep;
    runtime::cuda::DeviceStageBindings b;
    uint64_t seed = 1;
    for (int v : s.inputs) {
      const ir::TensorType& t = s.values[v].type;
      keep.push_back(random_device(t.elements(B, S), t.dtype, 1.0, 0.0, seed++));
      b.inputs.push_back(keep.back().get());
    }
    for (const ir::Param& p : s.params) {
      const ir::TensorType& t = s.values[p.value].type;
      const double scale = t.shape.size() >= 2 ? 1.7 / std::sqrt(static_cast<double>(t.shape.back().value)) : 0.1;
      keep.push_back(
          random_device(t.static_elements(), t.dtype, scale, p.init.kind == ir::Init::Kind::ones ? 1.0 : 0.0, seed++));
      b.params.push_back(keep.back().get());
    }
    for (int v : s.outputs) {
      keep.emplace_back(std::max<int64_t>(16, s.values[v].type.elements(B, S) * 4), "perf output");
      b.outputs.push_back(keep.back().get());
    }
    for (const ir::ParamGrad& g : s.grads) {
      keep.emplace_back(s.values[g.value].type.elements(B, S) * 4, "perf gradient");
      b.grads.push_back(static_cast<float*>(keep.back().get()));
    }
    DeviceMemory arena(plan.bytes, "perf arena");
    b.arena = arena.get();
    b.accumulate = !s.grads.empty();
    const double ms = time_ms([&] { gpu.launch(b, nullptr); }, 10);
    std::vector<CudaStageExecutor::StepTime> steps = gpu.profile(b, nullptr);
    std::sort(steps.begin(), steps.end(), [](const auto& x, const auto& y) { return x.ms > y.ms; });
    for (size_t i = 0; i < std::min<size_t>(40, steps.size()); ++i)
      std::printf("[ perf ]   %8.3f ms  %s\n", steps[i].ms, steps[i].what.c_str());
    const F y = download(b.outputs[0], s.values[s.outputs[0]].type.elements(B, S));
    for (float v : y) ASSERT_TRUE(std::isfinite(v)) << stage << " produced a non-finite output";

    // The same GEMMs alone, on operands already in bf16.
    const runtime::cuda::StageProgram program = runtime::cuda::build_stage_program(s, plan, B, S);
    runtime::cuda::CublasLtGemm gemm;
    // Big enough for any operand or result of the stage's GEMMs, whatever their form.
    int64_t elements = 16;
    for (const runtime::cuda::Step& st : program.steps)
      if (st.kind == runtime::cuda::Step::Kind::gemm)
        elements =
            std::max({elements, st.shape.rows * st.shape.in, st.shape.rows * st.shape.out, st.shape.out * st.shape.in});
    DeviceMemory ga(elements * 2, "perf a"), gb(elements * 2, "perf b"), gy(elements * 4, "perf y");
    for (DeviceMemory* d : {&ga, &gb})  // bf16 0x3c3c = 0.0115: tensor cores run slower on data than on zeros
      runtime::cuda::check_cuda(cudaMemset(d->get(), 0x3c, static_cast<size_t>(d->bytes())), "cudaMemset", "perf");
    double gemm_ms = 0, flops = 0;
    for (const runtime::cuda::Step& st : program.steps) {
      if (st.kind != runtime::cuda::Step::Kind::gemm) continue;
      flops += 2.0 * st.shape.rows * st.shape.in * st.shape.out;
      gemm_ms += time_ms(
          [&] { gemm.run(st.shape, ga.get(), gb.get(), static_cast<float*>(gy.get()), false, nullptr, "perf"); }, 10);
    }
    std::printf("[ perf ] %s %-14s B=%lld S=%lld: %.3f ms per launch (%.0f TFLOP/s of GEMM work); its GEMMs "
                "alone %.3f ms (%.0f TFLOP/s); build %.0f ms; scratch %.1f MiB, arena %.1f MiB\n",
                model.c_str(), stage, static_cast<long long>(B), static_cast<long long>(S), ms, flops / ms * 1e-9,
                gemm_ms, flops / gemm_ms * 1e-9, build_ms, gpu.scratch_bytes() / 1048576.0, plan.bytes / 1048576.0);
  }
}

// The benchmark shapes: llama2-7b at 4 x 2048, llama-1b at 8 x 2048.
TEST(CudaStageExecutorPerf, Llama2_7bBlockAt2048Tokens) {
  if (!std::getenv("HORIZON_CUDA_PERF")) GTEST_SKIP() << "set HORIZON_CUDA_PERF=1 to time a 7B block";
  if (const std::string why = why_no_device(); !why.empty()) GTEST_SKIP() << "no CUDA device (" << why << ")";
  time_block_stages("llama2-7b", 4, 2048);
}

TEST(CudaStageExecutorPerf, Llama1bBlockAt2048Tokens) {
  if (!std::getenv("HORIZON_CUDA_PERF")) GTEST_SKIP() << "set HORIZON_CUDA_PERF=1 to time a 1B block";
  if (const std::string why = why_no_device(); !why.empty()) GTEST_SKIP() << "no CUDA device (" << why << ")";
  time_block_stages("llama-1b", 8, 2048);
}

}  // namespace
}  // namespace horizon

#else

TEST(CudaStageExecutor, NeedsTheCudaToolkit) { GTEST_SKIP() << "built without the CUDA toolkit (CMake found none)"; }

#endif
