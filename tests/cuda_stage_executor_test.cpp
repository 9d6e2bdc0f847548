// The CUDA stage executor against the CPU stage executor (the reference
// backend), stage by stage, on the three tiny models (Llama, Qwen2 with GQA
// and biases, GPT-2 with LayerNorm, GELU and learned positions): embed,
// block, head and their backward stages at B = 2, S = 33 (odd on purpose),
// with random inputs, masked targets and random bf16 weights that the CPU
// gets widened to fp32. Transients live at plan_memory's offsets in an arena
// poisoned with NaN, as are the outputs and gradients: an element the GPU
// skips fails. GEMM operands are bf16 on the GPU and fp32 on the CPU, hence
// the tolerance (relative L2 1e-2). A second launch with `accumulate` must
// double every gradient. The worst error of each stage is printed.
#include <gtest/gtest.h>

#ifdef HORIZON_HAVE_CUDA

#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <random>

#include "frontend/model_json.h"
#include "passes/lower.h"
#include "passes/plan_memory.h"
#include "runtime/cpu/stage_executor.h"
#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/cuda_stage_executor.h"
#include "runtime/cuda/device_memory.h"
#include "support/bf16.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

using runtime::cuda::CudaStageExecutor;
using runtime::cuda::DeviceMemory;
using F = std::vector<float>;
constexpr double kTolerance = 1e-2;
constexpr int64_t kBatch = 2, kSeq = 33;
const char* const kModels[] = {"models/tiny.json", "models/tiny-qwen.json", "models/tiny-gpt2.json"};
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

/// Relative L2 error; +inf on any non-finite value or a size mismatch.
double rel_l2(const F& got, const F& want, double scale = 1.0) {
  if (got.size() != want.size()) return std::numeric_limits<double>::infinity();
  double diff = 0, norm = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i]) || !std::isfinite(want[i])) return std::numeric_limits<double>::infinity();
    const double w = scale * want[i];
    diff += (got[i] - w) * (got[i] - w);
    norm += w * w;
  }
  return norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
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
  StageCase(const ir::Stage& s, std::mt19937& rng) : s_(s) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::uniform_int_distribution<int32_t> token(0, 255);
    std::uniform_real_distribution<double> u(0, 1);
    for (int v : s.inputs) {
      const ir::TensorType& t = s.values[v].type;
      const int64_t n = t.elements(kBatch, kSeq);
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
    for (auto& o : runtime::CpuStageExecutor(s_).run(kBatch, kSeq, in, p)) out.push_back(std::move(o.data));
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
  std::vector<std::vector<char>> inputs_, device_params_;
  std::vector<F> params_;
};

/// Device buffers bound to one executor: inputs and weights uploaded,
/// outputs, gradients and the arena poisoned with NaN.
struct DeviceStage {
  std::vector<DeviceMemory> inputs, params, outputs, grads;
  DeviceMemory arena;
  runtime::cuda::DeviceStageBindings bindings;

  DeviceStage(const ir::Stage& s, const StageCase& c, int64_t arena_bytes) {
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
      outputs.emplace_back(std::max<int64_t>(16, s.values[v].type.elements(kBatch, kSeq) * 4), "test output");
      bindings.outputs.push_back(outputs.back().get());
    }
    for (const ir::ParamGrad& g : s.grads) {
      grads.emplace_back(s.values[g.value].type.elements(kBatch, kSeq) * 4, "test gradient");
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
  double check_stage(const ir::Module& m, const std::string& model, const std::string& stage) {
    SCOPED_TRACE(model + " stage " + stage);
    const ir::Stage& s = *m.find_stage(stage);
    const StageCase c(s, rng_);
    const std::vector<F> want = c.cpu();
    const ir::ArenaPlan plan = passes::plan_stage_arena(s, kBatch, kSeq);
    CudaStageExecutor gpu(s, plan, kBatch, kSeq);
    DeviceStage d(s, c, plan.bytes);

    auto name = [&](size_t k) {
      return k < s.outputs.size() ? "output %" + s.values[s.outputs[k]].name
                                  : "gradient %" + s.values[s.grads[k - s.outputs.size()].value].name;
    };
    auto results = [&] {
      std::vector<F> got;
      for (size_t o = 0; o < s.outputs.size(); ++o)
        got.push_back(download(d.outputs[o].get(), s.values[s.outputs[o]].type.elements(kBatch, kSeq)));
      for (size_t g = 0; g < s.grads.size(); ++g)
        got.push_back(download(d.grads[g].get(), s.values[s.grads[g].value].type.elements(kBatch, kSeq)));
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
    std::printf("[ stage ] %-22s %-10s worst relative L2 %.2e (%s), scratch %.1f MiB, arena %lld bytes\n",
                model.c_str(), stage.c_str(), worst, worst_name.c_str(), gpu.scratch_bytes() / 1048576.0,
                static_cast<long long>(plan.bytes));
    return worst;
  }

  std::mt19937 rng_{2024};
};

TEST_F(CudaStageExecutorTest, EveryStageOfTheTinyModelsMatchesTheCpu) {
  for (const char* model : kModels) {
    const ir::Module m = lowered(model);
    for (const char* stage : kStages) check_stage(m, model, stage);
  }
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

}  // namespace
}  // namespace horizon

#else

TEST(CudaStageExecutor, NeedsTheCudaToolkit) { GTEST_SKIP() << "built without the CUDA toolkit (CMake found none)"; }

#endif
