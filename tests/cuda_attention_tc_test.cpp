// The tensor-core attention kernels (codegen/cuda/attention_tc_*.cpp).
// Without a GPU: both directions compile with NVRTC for sm_90 and sm_80,
// shapes they cannot serve are refused by name, and module_kernels picks
// them for head dims 64 and 128 unless HORIZON_PRECISE_ATTENTION=1. On a
// GPU: forward and backward against the CPU kernels (runtime/cpu) on random
// normal inputs over B=2, S in {1, 17, 64, 130, 257}, H=4, KVH in {4, 2, 1},
// D in {64, 128}, window in {0, 37}; outputs and workspaces poisoned with NaN
// before each of two runs, which must agree bit for bit; tolerance relative
// L2 1e-2 (bf16 operands, fp32 accumulation). With HORIZON_CUDA_PERF=1,
// times both directions at Llama sizes next to the fp32 kernels (and each
// launch alone), checking the two paths agree at those sizes too.
#include <gtest/gtest.h>

#ifdef HORIZON_HAVE_CUDA

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "codegen/cuda/kernels.h"
#include "codegen/cuda/module_kernels.h"
#include "codegen/cuda/nvrtc_compiler.h"
#include "frontend/model_json.h"
#include "passes/lower.h"
#include "runtime/cpu/kernels.h"
#include "runtime/thread_pool.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

using codegen::cuda::AttentionShape;
using codegen::cuda::KernelSource;
using F = std::vector<float>;
constexpr double kTolerance = 1e-2;

std::string describe(const AttentionShape& a) {
  return "B=" + std::to_string(a.B) + " S=" + std::to_string(a.S) + " H=" + std::to_string(a.H) +
         " KVH=" + std::to_string(a.KVH) + " D=" + std::to_string(a.D) + " window=" + std::to_string(a.window) +
         (a.segments ? " packed" : "");
}

/// Segment ids of B rows of S tokens: documents of pseudo-random lengths
/// from 1 to max_len, restarting per row (the first row of several, one a
/// single document).
std::vector<int32_t> packed_segments(int64_t B, int64_t S, int64_t max_len, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> seg;
  for (int64_t b = 0; b < B; ++b) {
    int32_t doc = 0;
    int64_t left = b == 1 ? S : 1 + static_cast<int64_t>(rng() % static_cast<uint32_t>(max_len));
    for (int64_t i = 0; i < S; ++i) {
      if (left == 0) ++doc, left = 1 + static_cast<int64_t>(rng() % static_cast<uint32_t>(max_len));
      seg.push_back(doc);
      --left;
    }
  }
  return seg;
}

/// int32 values carried in a float vector (the harness uploads F).
std::vector<float> as_floats(const std::vector<int32_t>& v) {
  std::vector<float> f(v.size());
  std::memcpy(f.data(), v.data(), v.size() * 4);
  return f;
}

/// Compiles every source for `arch` on the thread pool (NVRTC is thread-safe).
std::vector<codegen::cuda::Cubin> compile_all(const std::vector<KernelSource>& sources, const std::string& arch) {
  codegen::cuda::NvrtcCompiler compiler({arch, "", false});
  std::vector<codegen::cuda::Cubin> cubins(sources.size());
  std::vector<std::string> errors(sources.size());
  runtime::parallel_for(static_cast<int64_t>(sources.size()), 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      try {
        cubins[i] = compiler.compile(sources[i]);
      } catch (const std::exception& ex) {
        errors[i] = ex.what();
      }
    }
  });
  for (size_t i = 0; i < sources.size(); ++i) {
    EXPECT_TRUE(errors[i].empty()) << errors[i];
    EXPECT_FALSE(errors[i].empty() && cubins[i].image.empty()) << sources[i].describe() << ": empty cubin";
  }
  return cubins;
}

// ---- no GPU needed ----

TEST(CudaAttentionTcCompile, CompilesForSm90AndSm80) {
  std::vector<KernelSource> sources;
  for (const AttentionShape& a : std::vector<AttentionShape>{{2, 17, 4, 2, 64, 0},
                                                             {2, 257, 4, 1, 128, 37},
                                                             {1, 2048, 32, 8, 128, 0},
                                                             {2, 1, 4, 4, 64, 37},
                                                             {2, 257, 4, 2, 64, 0, true},
                                                             {2, 130, 4, 1, 128, 37, true}}) {
    sources.push_back(codegen::cuda::attention_forward_tc(a));
    sources.push_back(codegen::cuda::attention_backward_tc(a));
  }
  for (const char* arch : {"sm_90", "sm_80"}) compile_all(sources, arch);
}

TEST(CudaAttentionTcCompile, ServesHeadDims64And128Only) {
  EXPECT_TRUE(codegen::cuda::attention_tc_supported({1, 16, 4, 2, 64, 0}));
  EXPECT_TRUE(codegen::cuda::attention_tc_supported({1, 16, 4, 1, 128, 5}));
  EXPECT_FALSE(codegen::cuda::attention_tc_supported({1, 16, 4, 4, 32, 0}));
  EXPECT_FALSE(codegen::cuda::attention_tc_supported({1, 16, 4, 4, 256, 0}));
  EXPECT_FALSE(codegen::cuda::attention_tc_supported({1, 16, 6, 4, 64, 0}));
  try {
    codegen::cuda::attention_backward_tc({1, 16, 4, 4, 96, 0});
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("attention_backward"), std::string::npos) << what;
    EXPECT_NE(what.find("D=96"), std::string::npos) << what;
  }
  // Same IR roles as the fp32 kernels, so the stage executor binds them alike.
  const AttentionShape a{2, 37, 4, 2, 64, 0};
  const KernelSource tc = codegen::cuda::attention_backward_tc(a), fp32 = codegen::cuda::attention_backward(a);
  ASSERT_EQ(tc.inputs.size(), fp32.inputs.size());
  ASSERT_EQ(tc.outputs.size(), fp32.outputs.size());
  for (size_t i = 0; i < tc.inputs.size(); ++i) EXPECT_EQ(tc.inputs[i].name, fp32.inputs[i].name);
  for (size_t i = 0; i < tc.outputs.size(); ++i) EXPECT_EQ(tc.outputs[i].name, fp32.outputs[i].name);
  EXPECT_EQ(tc.name, fp32.name);
  EXPECT_NE(tc.shapes.find("mma=bf16"), std::string::npos) << tc.shapes;
}

/// Restores an environment variable on the way out.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    if (value)
      setenv(name, value, 1);
    else
      unsetenv(name);
  }
  ~ScopedEnv() {
    if (had_)
      setenv(name_.c_str(), old_.c_str(), 1);
    else
      unsetenv(name_.c_str());
  }

 private:
  std::string name_, old_;
  bool had_ = false;
};

TEST(CudaAttentionTcCompile, ModuleKernelsChooseTensorCoresUnlessPrecise) {
  ir::Module m = frontend::load_model(testing::source_path("models/tiny.json"));  // head_dim 64
  passes::lower(m);
  auto count = [&](bool tc) {
    int n = 0;
    for (const codegen::cuda::StageKernel& k : codegen::cuda::module_kernels(m, 2, 37))
      if (k.source.name.rfind("attention_", 0) == 0 && (k.source.shapes.find("mma=bf16") != std::string::npos) == tc)
        ++n;
    return n;
  };
  {
    ScopedEnv env("HORIZON_PRECISE_ATTENTION", nullptr);
    EXPECT_GT(count(true), 0);
    EXPECT_EQ(count(false), 0);
  }
  {
    ScopedEnv env("HORIZON_PRECISE_ATTENTION", "1");
    EXPECT_EQ(count(true), 0);
    EXPECT_GT(count(false), 0);
  }
}

// ---- on the GPU ----

void check(cudaError_t e, const std::string& what) {
  if (e != cudaSuccess)
    throw std::runtime_error(what + " failed: " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}

struct DeviceBuffer {
  void* ptr = nullptr;
  size_t bytes = 0;
  explicit DeviceBuffer(size_t n) : bytes(n) { check(cudaMalloc(&ptr, std::max<size_t>(n, 16)), "cudaMalloc"); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { cudaFree(ptr); }
};

/// A kernel source loaded on device 0, with its workspaces.
class Loaded {
 public:
  Loaded(KernelSource source, const codegen::cuda::Cubin& cubin) : source_(std::move(source)) {
    check(cudaLibraryLoadData(&lib_, cubin.image.data(), nullptr, nullptr, 0, nullptr, nullptr, 0),
          source_.describe() + ": cudaLibraryLoadData");
    for (const codegen::cuda::Launch& l : source_.launches) {
      cudaKernel_t k = nullptr;
      check(cudaLibraryGetKernel(&k, lib_, l.entry.c_str()), source_.describe() + ": " + l.entry);
      kernels_.push_back(k);
    }
    for (const codegen::cuda::Workspace& w : source_.workspaces)
      work_.push_back(std::make_unique<DeviceBuffer>(static_cast<size_t>(w.bytes)));
  }
  ~Loaded() { cudaLibraryUnload(lib_); }
  Loaded(const Loaded&) = delete;
  Loaded& operator=(const Loaded&) = delete;

  const KernelSource& source() const { return source_; }

  void poison_workspaces() {
    for (auto& w : work_) check(cudaMemset(w->ptr, 0xff, w->bytes), "poison workspace");
  }

  /// Issues every launch on the default stream.
  void launch(const std::vector<void*>& in, const std::vector<void*>& out) {
    for (size_t n = 0; n < source_.launches.size(); ++n) launch_one(n, in, out);
  }

  /// Issues launch `n` alone (the workspaces hold what earlier launches wrote).
  void launch_one(size_t n, const std::vector<void*>& in, const std::vector<void*>& out) {
    const codegen::cuda::Launch& l = source_.launches.at(n);
    std::vector<void*> ptrs;
    for (const codegen::cuda::Arg& a : l.args)
      ptrs.push_back(a.kind == codegen::cuda::Arg::Kind::input    ? in.at(a.index)
                     : a.kind == codegen::cuda::Arg::Kind::output ? out.at(a.index)
                                                                  : work_.at(a.index)->ptr);
    std::vector<void*> argv;
    for (void*& p : ptrs) argv.push_back(&p);
    check(cudaLaunchKernel(reinterpret_cast<const void*>(kernels_[n]), dim3(l.grid.x, l.grid.y, l.grid.z),
                           dim3(l.block.x, l.block.y, l.block.z), argv.data(), l.shared_bytes, nullptr),
          source_.describe() + ": launch of " + l.entry);
  }

 private:
  KernelSource source_;
  cudaLibrary_t lib_ = nullptr;
  std::vector<cudaKernel_t> kernels_;
  std::vector<std::unique_ptr<DeviceBuffer>> work_;
};

/// "sm_XY" of device 0, or "" (with the reason in `why`) when there is none.
std::string device_arch(std::string& why) {
  int count = 0;
  if (cudaError_t e = cudaGetDeviceCount(&count); e != cudaSuccess || count == 0) {
    why = e != cudaSuccess ? std::string("cudaGetDeviceCount: ") + cudaGetErrorName(e) : "no CUDA device";
    return "";
  }
  int major = 0, minor = 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0) != cudaSuccess ||
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, 0) != cudaSuccess) {
    why = "cannot read the compute capability of device 0";
    return "";
  }
  return "sm_" + std::to_string(major * 10 + minor);
}

/// Relative L2 error; +inf on a size mismatch or any non-finite value.
double rel_l2(const F& got, const F& want) {
  if (got.size() != want.size()) return std::numeric_limits<double>::infinity();
  double diff = 0, norm = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i]) || !std::isfinite(want[i])) return std::numeric_limits<double>::infinity();
    diff += (static_cast<double>(got[i]) - want[i]) * (static_cast<double>(got[i]) - want[i]);
    norm += static_cast<double>(want[i]) * want[i];
  }
  return norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

class CudaAttentionTc : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    arch_ = device_arch(why);
    if (arch_.empty()) GTEST_SKIP() << "no CUDA device (" << why << ")";
  }

  F random(int64_t n) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    F v(n);
    for (float& x : v) x = normal(rng_);
    return v;
  }

  /// Uploads `in`, runs `k` twice (outputs and workspaces poisoned with NaN
  /// first) and fails unless the runs agree bit for bit; returns the outputs.
  std::vector<F> run(Loaded& k, const std::vector<const F*>& in) {
    const KernelSource& src = k.source();
    std::vector<std::unique_ptr<DeviceBuffer>> ins, outs;
    std::vector<void*> in_ptrs, out_ptrs;
    for (const F* v : in) {
      ins.push_back(std::make_unique<DeviceBuffer>(v->size() * 4));
      check(cudaMemcpy(ins.back()->ptr, v->data(), v->size() * 4, cudaMemcpyHostToDevice), "upload");
      in_ptrs.push_back(ins.back()->ptr);
    }
    for (const codegen::cuda::Buffer& b : src.outputs) {
      outs.push_back(std::make_unique<DeviceBuffer>(static_cast<size_t>(b.elements) * 4));
      out_ptrs.push_back(outs.back()->ptr);
    }
    std::vector<F> first;
    for (int attempt = 0; attempt < 2; ++attempt) {
      for (auto& o : outs) check(cudaMemset(o->ptr, 0xff, o->bytes), "poison output");
      k.poison_workspaces();
      k.launch(in_ptrs, out_ptrs);
      check(cudaDeviceSynchronize(), src.describe() + " (running)");
      std::vector<F> got;
      for (size_t o = 0; o < outs.size(); ++o) {
        F host(src.outputs[o].elements);
        check(cudaMemcpy(host.data(), outs[o]->ptr, host.size() * 4, cudaMemcpyDeviceToHost), "download");
        got.push_back(std::move(host));
      }
      if (attempt == 0) {
        first = std::move(got);
      } else {
        for (size_t o = 0; o < got.size(); ++o)
          EXPECT_EQ(std::memcmp(got[o].data(), first[o].data(), got[o].size() * 4), 0)
              << src.describe() << ": " << src.outputs[o].name << " differs between two runs";
      }
    }
    return first;
  }

  std::string arch_;
  std::mt19937 rng_{20240611};
};

TEST_F(CudaAttentionTc, ForwardAndBackwardMatchTheCpu) {
  std::vector<AttentionShape> shapes;
  for (int64_t D : {64, 128})
    for (int64_t S : {1, 17, 64, 130, 257})
      for (int64_t KVH : {4, 2, 1})
        for (int64_t window : {0, 37}) shapes.push_back({2, S, 4, KVH, D, window});
  std::vector<KernelSource> sources;
  for (const AttentionShape& a : shapes) {
    sources.push_back(codegen::cuda::attention_forward_tc(a));
    sources.push_back(codegen::cuda::attention_backward_tc(a));
  }
  const std::vector<codegen::cuda::Cubin> cubins = compile_all(sources, arch_);
  ASSERT_FALSE(::testing::Test::HasFailure());

  const char* names[4] = {"out", "dq", "dk", "dv"};
  double worst[4] = {0, 0, 0, 0};
  std::string worst_at[4];
  for (size_t c = 0; c < shapes.size(); ++c) {
    const AttentionShape& a = shapes[c];
    SCOPED_TRACE(describe(a));
    const int64_t nq = a.B * a.S * a.H * a.D, nkv = a.B * a.S * a.KVH * a.D;
    const F q = random(nq), k = random(nkv), v = random(nkv), dout = random(nq);
    F out(nq), dq(nq), dk(nkv), dv(nkv);
    cpu::attention_forward(out.data(), q.data(), k.data(), v.data(), a.B, a.S, a.H, a.KVH, a.D, a.window);
    cpu::attention_backward(dq.data(), dk.data(), dv.data(), dout.data(), q.data(), k.data(), v.data(), a.B, a.S, a.H,
                            a.KVH, a.D, a.window);
    Loaded fwd(sources[2 * c], cubins[2 * c]), bwd(sources[2 * c + 1], cubins[2 * c + 1]);
    std::vector<F> got = run(fwd, {&q, &k, &v});
    const std::vector<F> grads = run(bwd, {&dout, &q, &k, &v});
    got.insert(got.end(), grads.begin(), grads.end());
    const F* want[4] = {&out, &dq, &dk, &dv};
    std::string line;
    for (int o = 0; o < 4; ++o) {
      const double e = rel_l2(got[o], *want[o]);
      EXPECT_LT(e, kTolerance) << names[o] << ": relative L2 error " << e;
      if (!(e <= worst[o])) worst[o] = e, worst_at[o] = describe(a);
      char buf[48];
      std::snprintf(buf, sizeof buf, " %s %.2e", names[o], e);
      line += buf;
    }
    std::printf("  [tc] %-38s%s\n", describe(a).c_str(), line.c_str());
  }
  for (int o = 0; o < 4; ++o)
    std::printf("  [tc] worst %-3s relative L2 %.3e at %s\n", names[o], worst[o], worst_at[o].c_str());
}

// Packed documents: the same kernels with segment ids against the CPU
// kernels with them, documents short and long against the 64-row tiles.
TEST_F(CudaAttentionTc, PackedDocumentsMatchTheCpu) {
  std::vector<AttentionShape> shapes;
  for (int64_t D : {64, 128})
    for (int64_t S : {17, 130, 257})
      for (int64_t KVH : {4, 1})
        for (int64_t window : {0, 37}) shapes.push_back({3, S, 4, KVH, D, window, true});
  std::vector<KernelSource> sources;
  for (const AttentionShape& a : shapes) {
    sources.push_back(codegen::cuda::attention_forward_tc(a));
    sources.push_back(codegen::cuda::attention_backward_tc(a));
  }
  const std::vector<codegen::cuda::Cubin> cubins = compile_all(sources, arch_);
  ASSERT_FALSE(::testing::Test::HasFailure());
  const char* names[4] = {"out", "dq", "dk", "dv"};
  for (size_t c = 0; c < shapes.size(); ++c) {
    const AttentionShape& a = shapes[c];
    SCOPED_TRACE(describe(a));
    const int64_t nq = a.B * a.S * a.H * a.D, nkv = a.B * a.S * a.KVH * a.D;
    const F q = random(nq), k = random(nkv), v = random(nkv), dout = random(nq);
    const std::vector<int32_t> seg = packed_segments(a.B, a.S, 70, static_cast<uint32_t>(c));
    const F seg_bits = as_floats(seg);
    F out(nq), dq(nq), dk(nkv), dv(nkv);
    cpu::attention_forward(out.data(), q.data(), k.data(), v.data(), a.B, a.S, a.H, a.KVH, a.D, a.window, seg.data());
    cpu::attention_backward(dq.data(), dk.data(), dv.data(), dout.data(), q.data(), k.data(), v.data(), a.B, a.S, a.H,
                            a.KVH, a.D, a.window, seg.data());
    Loaded fwd(sources[2 * c], cubins[2 * c]), bwd(sources[2 * c + 1], cubins[2 * c + 1]);
    std::vector<F> got = run(fwd, {&q, &k, &v, &seg_bits});
    const std::vector<F> grads = run(bwd, {&dout, &q, &k, &v, &seg_bits});
    got.insert(got.end(), grads.begin(), grads.end());
    const F* want[4] = {&out, &dq, &dk, &dv};
    for (int o = 0; o < 4; ++o) {
      const double e = rel_l2(got[o], *want[o]);
      EXPECT_LT(e, kTolerance) << names[o] << ": relative L2 error " << e;
    }
  }
}

// ---- perf mode (HORIZON_CUDA_PERF=1) ----

/// Median milliseconds of `k` over `reps` runs, rotating among input sets;
/// `only` >= 0 times that launch alone (after one whole run fills the workspaces).
double median_ms(Loaded& k, const std::vector<std::vector<void*>>& inputs, const std::vector<void*>& outputs, int reps,
                 int only = -1) {
  for (int i = 0; i < 3; ++i) k.launch(inputs[i % inputs.size()], outputs);
  check(cudaDeviceSynchronize(), k.source().describe() + " (warm-up)");
  cudaEvent_t start, stop;
  check(cudaEventCreate(&start), "cudaEventCreate");
  check(cudaEventCreate(&stop), "cudaEventCreate");
  std::vector<float> ms;
  for (int i = 0; i < reps; ++i) {
    check(cudaEventRecord(start), "cudaEventRecord");
    if (only >= 0)
      k.launch_one(static_cast<size_t>(only), inputs[i % inputs.size()], outputs);
    else
      k.launch(inputs[i % inputs.size()], outputs);
    check(cudaEventRecord(stop), "cudaEventRecord");
    check(cudaEventSynchronize(stop), k.source().describe() + " (timed)");
    float t = 0;
    check(cudaEventElapsedTime(&t, start, stop), "cudaEventElapsedTime");
    ms.push_back(t);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

/// "entry 0.123 ms, ..." for every launch of `k` timed alone.
std::string launch_times(Loaded& k, const std::vector<std::vector<void*>>& inputs, const std::vector<void*>& outputs,
                         int reps) {
  std::string t;
  for (size_t n = 0; n < k.source().launches.size(); ++n) {
    char buf[128];
    std::snprintf(buf, sizeof buf, "%s%s %.3f ms", n ? ", " : "", k.source().launches[n].entry.c_str(),
                  median_ms(k, inputs, outputs, reps, static_cast<int>(n)));
    t += buf;
  }
  return t;
}

F download(void* p, int64_t n) {
  F host(n);
  check(cudaMemcpy(host.data(), p, n * 4, cudaMemcpyDeviceToHost), "download");
  return host;
}

TEST_F(CudaAttentionTc, Perf) {
  if (!std::getenv("HORIZON_CUDA_PERF")) GTEST_SKIP() << "set HORIZON_CUDA_PERF=1 to time the attention kernels";
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  std::vector<AttentionShape> shapes;
  for (int64_t S : {2048, 4096})
    for (int64_t KVH : {32, 8}) shapes.push_back({1, S, 32, KVH, 128, 0});
  std::vector<KernelSource> sources;
  for (const AttentionShape& a : shapes) {
    sources.push_back(codegen::cuda::attention_forward_tc(a));
    sources.push_back(codegen::cuda::attention_backward_tc(a));
    sources.push_back(codegen::cuda::attention_forward(a));
    sources.push_back(codegen::cuda::attention_backward(a));
  }
  const std::vector<codegen::cuda::Cubin> cubins = compile_all(sources, arch_);
  ASSERT_FALSE(::testing::Test::HasFailure());
  constexpr int kSets = 3, kReps = 15;
  for (size_t c = 0; c < shapes.size(); ++c) {
    const AttentionShape& a = shapes[c];
    const int64_t nq = a.B * a.S * a.H * a.D, nkv = a.B * a.S * a.KVH * a.D;
    // Input sets [q, k, v, dout], rotated so that no run finds its inputs in L2.
    std::vector<std::unique_ptr<DeviceBuffer>> keep;
    std::vector<std::vector<void*>> fwd_in, bwd_in;
    for (int s = 0; s < kSets; ++s) {
      void* p[4];
      for (int t = 0; t < 4; ++t) {
        const F host = random(t == 1 || t == 2 ? nkv : nq);
        keep.push_back(std::make_unique<DeviceBuffer>(host.size() * 4));
        check(cudaMemcpy(keep.back()->ptr, host.data(), host.size() * 4, cudaMemcpyHostToDevice), "upload");
        p[t] = keep.back()->ptr;
      }
      fwd_in.push_back({p[0], p[1], p[2]});
      bwd_in.push_back({p[3], p[0], p[1], p[2]});
    }
    DeviceBuffer out(nq * 4), dq(nq * 4), dk(nkv * 4), dv(nkv * 4);
    DeviceBuffer out32(nq * 4), dq32(nq * 4), dk32(nkv * 4), dv32(nkv * 4);
    Loaded fwd(sources[4 * c], cubins[4 * c]), bwd(sources[4 * c + 1], cubins[4 * c + 1]);
    Loaded fwd32(sources[4 * c + 2], cubins[4 * c + 2]), bwd32(sources[4 * c + 3], cubins[4 * c + 3]);
    const double f_ms = median_ms(fwd, fwd_in, {out.ptr}, kReps);
    const double b_ms = median_ms(bwd, bwd_in, {dq.ptr, dk.ptr, dv.ptr}, kReps);
    const double f32_ms = median_ms(fwd32, fwd_in, {out32.ptr}, 10);
    const double b32_ms = median_ms(bwd32, bwd_in, {dq32.ptr, dk32.ptr, dv32.ptr}, 10);
    // The same inputs through both paths: the tensor-core results at full size.
    fwd.launch(fwd_in[0], {out.ptr});
    bwd.launch(bwd_in[0], {dq.ptr, dk.ptr, dv.ptr});
    fwd32.launch(fwd_in[0], {out32.ptr});
    bwd32.launch(bwd_in[0], {dq32.ptr, dk32.ptr, dv32.ptr});
    check(cudaDeviceSynchronize(), "comparison runs");
    const double e_out = rel_l2(download(out.ptr, nq), download(out32.ptr, nq));
    const double e_dq = rel_l2(download(dq.ptr, nq), download(dq32.ptr, nq));
    const double e_dk = rel_l2(download(dk.ptr, nkv), download(dk32.ptr, nkv));
    const double e_dv = rel_l2(download(dv.ptr, nkv), download(dv32.ptr, nkv));
    EXPECT_LT(std::max({e_out, e_dq, e_dk, e_dv}), kTolerance) << describe(a);
    std::printf("[ perf ]   forward launches: %s\n", launch_times(fwd, fwd_in, {out.ptr}, kReps).c_str());
    std::printf("[ perf ]   backward launches: %s\n",
                launch_times(bwd, bwd_in, {dq.ptr, dk.ptr, dv.ptr}, kReps).c_str());
    const double flops = 2.0 * a.B * a.H * static_cast<double>(a.S) * a.S * a.D;  // causal forward
    std::printf(
        "[ perf ] %s %s: forward %.3f ms (%.0f TFLOP/s) vs fp32 %.3f ms (%.1f TFLOP/s), %.1fx; backward %.3f ms "
        "(%.0f TFLOP/s) vs fp32 %.3f ms (%.1f TFLOP/s), %.1fx; tc vs fp32 rel L2 out %.1e dq %.1e dk %.1e dv %.1e\n",
        prop.name, describe(a).c_str(), f_ms, flops / f_ms * 1e-9, f32_ms, flops / f32_ms * 1e-9, f32_ms / f_ms, b_ms,
        2.5 * flops / b_ms * 1e-9, b32_ms, 2.5 * flops / b32_ms * 1e-9, b32_ms / b_ms, e_out, e_dq, e_dk, e_dv);
  }
}

// Packed against plain causal attention at the same total tokens (issue 17:
// packed may cost at most 5 % more): one document per row through the
// segment path (its pure overhead), and rows packed with documents of up to
// S/2 and S/8 tokens (the tiles it skips).
TEST_F(CudaAttentionTc, PackedPerf) {
  if (!std::getenv("HORIZON_CUDA_PERF")) GTEST_SKIP() << "set HORIZON_CUDA_PERF=1 to time the attention kernels";
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  constexpr int kReps = 15;
  for (int64_t S : {2048, 4096}) {
    const AttentionShape plain{1, S, 32, 8, 128, 0}, packed{1, S, 32, 8, 128, 0, true};
    const std::vector<KernelSource> sources = {
        codegen::cuda::attention_forward_tc(plain), codegen::cuda::attention_backward_tc(plain),
        codegen::cuda::attention_forward_tc(packed), codegen::cuda::attention_backward_tc(packed)};
    const std::vector<codegen::cuda::Cubin> cubins = compile_all(sources, arch_);
    ASSERT_FALSE(::testing::Test::HasFailure());
    const int64_t nq = S * 32 * 128, nkv = S * 8 * 128;
    std::vector<std::unique_ptr<DeviceBuffer>> keep;
    auto upload = [&](const F& host) {
      keep.push_back(std::make_unique<DeviceBuffer>(host.size() * 4));
      check(cudaMemcpy(keep.back()->ptr, host.data(), host.size() * 4, cudaMemcpyHostToDevice), "upload");
      return keep.back()->ptr;
    };
    void* q = upload(random(nq));
    void* k = upload(random(nkv));
    void* v = upload(random(nkv));
    void* dout = upload(random(nq));
    DeviceBuffer out(nq * 4), dq(nq * 4), dk(nkv * 4), dv(nkv * 4);
    Loaded fwd(sources[0], cubins[0]), bwd(sources[1], cubins[1]);
    Loaded pfwd(sources[2], cubins[2]), pbwd(sources[3], cubins[3]);
    const double f_ms = median_ms(fwd, {{q, k, v}}, {out.ptr}, kReps);
    const double b_ms = median_ms(bwd, {{dout, q, k, v}}, {dq.ptr, dk.ptr, dv.ptr}, kReps);
    std::printf("[ perf ] %s S=%lld H=32 KVH=8 D=128: plain causal forward %.3f ms, backward %.3f ms\n", prop.name,
                static_cast<long long>(S), f_ms, b_ms);
    for (int64_t max_len : {S, S / 2, S / 8}) {
      void* seg = upload(as_floats(max_len == S ? std::vector<int32_t>(static_cast<size_t>(S), 0)
                                                : packed_segments(1, S, max_len, 5)));
      const double pf = median_ms(pfwd, {{q, k, v, seg}}, {out.ptr}, kReps);
      const double pb = median_ms(pbwd, {{dout, q, k, v, seg}}, {dq.ptr, dk.ptr, dv.ptr}, kReps);
      std::printf("[ perf ]   packed, documents of up to %lld tokens: forward %.3f ms (%.3fx plain), backward %.3f ms "
                  "(%.3fx plain)\n",
                  static_cast<long long>(max_len), pf, pf / f_ms, pb, pb / b_ms);
      if (max_len == S) {
        EXPECT_LT(pf, 1.05 * f_ms) << "one document per row through the segment path costs over 5 %";
        EXPECT_LT(pb, 1.05 * b_ms) << "one document per row through the segment path costs over 5 %";
      }
    }
  }
}

}  // namespace
}  // namespace horizon

#else

TEST(CudaAttentionTcCompile, NeedsTheCudaToolkit) {
  GTEST_SKIP() << "built without the CUDA toolkit (CMake found none)";
}

#endif
