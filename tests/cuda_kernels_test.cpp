// Every generated CUDA kernel run on the GPU against the CPU kernels of
// runtime/cpu (the reference backend), on random inputs of awkward sizes
// (C = 7, 5000; S = 37; GQA; sliding windows; head dims 32..256; masked
// targets; vocabularies not a multiple of 4). Cubins come from NVRTC for the
// device's own architecture and load through the CUDA runtime's library API.
// Outputs and workspaces are poisoned with NaN before each run, so a kernel
// that skips an element fails; each source runs twice and must give the same
// bits. Weights stored as bf16 are rounded first and the CPU gets the same
// rounded values. Tolerance: relative L2 1e-4 (fp32 paths); the embedding
// and position gradients must match bit for bit (same summation order).
// Skipped where no CUDA device is present.
#include <gtest/gtest.h>

#ifdef HORIZON_HAVE_CUDA

#include <cuda_runtime_api.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <set>

#include "codegen/cuda/kernels.h"
#include "codegen/cuda/module_kernels.h"
#include "codegen/cuda/nvrtc_compiler.h"
#include "frontend/model_json.h"
#include "passes/lower.h"
#include "runtime/cpu/kernels.h"
#include "support/bf16.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

using codegen::cuda::KernelSource;
using F = std::vector<float>;
constexpr double kTolerance = 1e-4;

/// Host data of one kernel input.
struct HostTensor {
  ir::DType dtype = ir::DType::f32;
  std::vector<char> bytes;

  static HostTensor f32(const F& v) { return {ir::DType::f32, raw(v.data(), v.size() * 4)}; }
  /// Rounds each value to bf16 (exact for values already rounded by as_stored).
  static HostTensor bf16(const F& v) {
    std::vector<uint16_t> b(v.size());
    for (size_t i = 0; i < v.size(); ++i) b[i] = float_to_bf16(v[i]);
    return {ir::DType::bf16, raw(b.data(), b.size() * 2)};
  }
  static HostTensor i32(const std::vector<int32_t>& v) { return {ir::DType::i32, raw(v.data(), v.size() * 4)}; }
  static HostTensor of(const F& v, ir::DType t) { return t == ir::DType::bf16 ? bf16(v) : f32(v); }

 private:
  static std::vector<char> raw(const void* p, size_t n) {
    const char* c = static_cast<const char*>(p);
    return std::vector<char>(c, c + n);
  }
};

void check(cudaError_t e, const std::string& what) {
  if (e != cudaSuccess)
    throw std::runtime_error(what + " failed: " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}

/// Device memory freed on every path out of a run.
struct DeviceBuffer {
  void* ptr = nullptr;
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr(o.ptr) { o.ptr = nullptr; }
  ~DeviceBuffer() {
    if (ptr) cudaFree(ptr);
  }
};

/// Compiles generated sources for device 0's architecture with NVRTC, loads
/// them with cudaLibraryLoadData and runs their launches.
class CudaRunner {
 public:
  /// The runner, or nullptr when no usable device exists (why_not() says why).
  static CudaRunner* get() {
    static CudaRunner* runner = make();
    return runner;
  }
  static std::string& why_not() {
    static std::string reason;
    return reason;
  }

  /// Runs `k` on `in` twice (outputs and workspaces poisoned with NaN before
  /// each run) and fails the test if the two runs differ in any bit. `alias`
  /// maps an output to the input whose buffer it shares (in-place kernels).
  std::vector<F> run(const KernelSource& k, const std::vector<HostTensor>& in, const std::map<int, int>& alias) {
    const std::string name = k.describe();
    if (in.size() != k.inputs.size())
      throw std::runtime_error(name + ": test passed " + std::to_string(in.size()) + " inputs, kernel takes " +
                               std::to_string(k.inputs.size()));
    for (size_t i = 0; i < in.size(); ++i)
      if (in[i].dtype != k.inputs[i].dtype ||
          in[i].bytes.size() != static_cast<size_t>(k.inputs[i].elements * ir::dtype_size(k.inputs[i].dtype)))
        throw std::runtime_error(name + ": input " + k.inputs[i].name + " expects " +
                                 std::to_string(k.inputs[i].elements) + " x " + ir::dtype_name(k.inputs[i].dtype));
    const codegen::cuda::Cubin cubin = compiler_.compile(k);
    cudaLibrary_t lib = nullptr;
    check(cudaLibraryLoadData(&lib, cubin.image.data(), nullptr, nullptr, 0, nullptr, nullptr, 0),
          name + ": cudaLibraryLoadData");
    struct Unload {
      cudaLibrary_t lib;
      ~Unload() { cudaLibraryUnload(lib); }
    } unload{lib};

    auto alloc = [&](size_t bytes, const std::string& what) {
      DeviceBuffer b;
      check(cudaMalloc(&b.ptr, std::max<size_t>(bytes, 16)), name + ": cudaMalloc for " + what);
      return b;
    };
    std::vector<DeviceBuffer> ins, outs, work;
    for (size_t i = 0; i < in.size(); ++i) ins.push_back(alloc(in[i].bytes.size(), k.inputs[i].name));
    // Outputs are f32 except the bf16 d_logits of the fused loss, widened on download.
    auto out_bytes = [&](size_t o) {
      return static_cast<size_t>(k.outputs[o].elements * ir::dtype_size(k.outputs[o].dtype));
    };
    for (size_t o = 0; o < k.outputs.size(); ++o)
      outs.push_back(alias.count(static_cast<int>(o)) ? DeviceBuffer() : alloc(out_bytes(o), k.outputs[o].name));
    for (const auto& w : k.workspaces) work.push_back(alloc(static_cast<size_t>(w.bytes), w.name));
    auto out_ptr = [&](size_t o) {
      return alias.count(static_cast<int>(o)) ? ins[alias.at(static_cast<int>(o))].ptr : outs[o].ptr;
    };

    std::vector<F> first;
    for (int attempt = 0; attempt < 2; ++attempt) {
      for (size_t i = 0; i < in.size(); ++i)
        check(cudaMemcpy(ins[i].ptr, in[i].bytes.data(), in[i].bytes.size(), cudaMemcpyHostToDevice),
              name + ": upload");
      for (size_t o = 0; o < outs.size(); ++o)
        if (outs[o].ptr) check(cudaMemset(outs[o].ptr, 0xff, out_bytes(o)), name + ": poison");  // NaN
      for (size_t w = 0; w < work.size(); ++w)
        check(cudaMemset(work[w].ptr, 0xff, static_cast<size_t>(k.workspaces[w].bytes)), name + ": poison");
      for (const codegen::cuda::Launch& l : k.launches) {
        const std::string where = name + ": launch of " + l.entry;
        cudaKernel_t kernel = nullptr;
        check(cudaLibraryGetKernel(&kernel, lib, l.entry.c_str()), where + ": cudaLibraryGetKernel");
        std::vector<void*> ptrs;
        for (const codegen::cuda::Arg& a : l.args)
          ptrs.push_back(a.kind == codegen::cuda::Arg::Kind::input    ? ins.at(a.index).ptr
                         : a.kind == codegen::cuda::Arg::Kind::output ? out_ptr(a.index)
                                                                      : work.at(a.index).ptr);
        std::vector<void*> argv;
        for (void*& p : ptrs) argv.push_back(&p);
        check(cudaLaunchKernel(reinterpret_cast<const void*>(kernel), dim3(l.grid.x, l.grid.y, l.grid.z),
                               dim3(l.block.x, l.block.y, l.block.z), argv.data(), l.shared_bytes, nullptr),
              where + ": cudaLaunchKernel");
        check(cudaDeviceSynchronize(), where + " (running)");
      }
      std::vector<F> got;
      for (size_t o = 0; o < k.outputs.size(); ++o) {
        F host(k.outputs[o].elements);
        if (k.outputs[o].dtype == ir::DType::bf16) {
          std::vector<uint16_t> bits(host.size());
          check(cudaMemcpy(bits.data(), out_ptr(o), out_bytes(o), cudaMemcpyDeviceToHost), name + ": download");
          for (size_t i = 0; i < bits.size(); ++i) host[i] = bf16_to_float(bits[i]);
        } else {
          check(cudaMemcpy(host.data(), out_ptr(o), out_bytes(o), cudaMemcpyDeviceToHost), name + ": download");
        }
        got.push_back(std::move(host));
      }
      if (attempt == 0) {
        first = std::move(got);
      } else {
        for (size_t o = 0; o < got.size(); ++o)
          EXPECT_EQ(std::memcmp(got[o].data(), first[o].data(), got[o].size() * 4), 0)
              << name << ": output " << k.outputs[o].name << " differs between two runs (not deterministic)";
      }
    }
    return first;
  }

 private:
  explicit CudaRunner(std::string arch) : compiler_({arch, "", false}) {}

  static CudaRunner* make() {
    int count = 0;
    if (cudaError_t e = cudaGetDeviceCount(&count); e != cudaSuccess) {
      why_not() = std::string("cudaGetDeviceCount: ") + cudaGetErrorName(e);
      return nullptr;
    }
    if (count == 0) {
      why_not() = "cudaGetDeviceCount returned 0";
      return nullptr;
    }
    int major = 0, minor = 0;
    if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0) != cudaSuccess ||
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, 0) != cudaSuccess) {
      why_not() = "cannot read the compute capability of device 0";
      return nullptr;
    }
    return new CudaRunner("sm_" + std::to_string(major * 10 + minor));  // lives for the process
  }

  codegen::cuda::NvrtcCompiler compiler_;
};

std::vector<codegen::cuda::StageKernel> lowered_module_kernels(const std::string& model, int64_t B, int64_t S) {
  ir::Module m = frontend::load_model(testing::source_path(model));
  passes::lower(m);
  return codegen::cuda::module_kernels(m, B, S);
}

class CudaKernels : public ::testing::Test {
 protected:
  void SetUp() override {
    gpu_ = CudaRunner::get();
    if (!gpu_) GTEST_SKIP() << "no CUDA device (" << CudaRunner::why_not() << ")";
  }
  /// Runs `k` (twice, checking the bits agree); returns its outputs.
  std::vector<F> run(const KernelSource& k, const std::vector<HostTensor>& in, std::map<int, int> alias = {}) {
    return gpu_->run(k, in, alias);
  }
  CudaRunner* gpu_ = nullptr;
  std::mt19937 rng_{1234};

  F random(int64_t n, double scale = 1.0, double offset = 0.0) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    F v(n);
    for (float& x : v) x = static_cast<float>(offset + scale * normal(rng_));
    return v;
  }
  std::vector<int32_t> ints(int64_t n, int32_t lo, int32_t hi) {
    std::uniform_int_distribution<int32_t> pick(lo, hi - 1);
    std::vector<int32_t> v(n);
    for (int32_t& t : v) t = pick(rng_);
    return v;
  }
};

/// Rounds to bf16 in place when `t` is bf16 (so CPU and GPU see the same values).
F& as_stored(F& v, ir::DType t) {
  if (t == ir::DType::bf16)
    for (float& x : v) x = bf16_to_float(float_to_bf16(x));
  return v;
}

/// Relative L2 error; +inf on size mismatch or any non-finite value.
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

/// First index where got and want differ the most, for failure messages.
std::string worst(const F& got, const F& want) {
  size_t at = 0;
  double err = -1;
  for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
    const double e = std::isfinite(got[i]) ? std::fabs(static_cast<double>(got[i]) - want[i]) : 1e300;
    if (e > err) err = e, at = i;
  }
  if (got.empty() || want.empty()) return "(empty)";
  return "worst at [" + std::to_string(at) + "]: gpu " + std::to_string(got[at]) + " cpu " + std::to_string(want[at]);
}

#define EXPECT_CLOSE(what, got, want)                                                                            \
  do {                                                                                                           \
    const double e_ = rel_l2(got, want);                                                                         \
    EXPECT_LT(e_, kTolerance) << (what) << ": relative L2 error " << e_ << " (tolerance " << kTolerance << "), " \
                              << worst(got, want);                                                               \
  } while (0)

// ---- norms ----

struct NormCase {
  int64_t N, C;
  ir::DType w;
};
const std::vector<NormCase> kNormCases = {{37, 7, ir::DType::f32},     {64, 256, ir::DType::bf16},
                                          {9, 4096, ir::DType::bf16},  {3, 5000, ir::DType::f32},
                                          {700, 128, ir::DType::bf16}, {5, 8192, ir::DType::bf16}};

TEST_F(CudaKernels, RmsNorm) {
  for (const NormCase& c : kNormCases) {
    SCOPED_TRACE("rms_norm N=" + std::to_string(c.N) + " C=" + std::to_string(c.C));
    const float eps = 1e-5f;
    F x = random(c.N * c.C), w = random(c.C, 0.1, 1.0), dy = random(c.N * c.C);
    as_stored(w, c.w);
    F y(c.N * c.C), dx(c.N * c.C), dw(c.C);
    cpu::rms_norm_forward(y.data(), x.data(), w.data(), c.N, c.C, eps);
    cpu::rms_norm_backward(dx.data(), dw.data(), dy.data(), x.data(), w.data(), c.N, c.C, eps);
    const auto fwd =
        run(codegen::cuda::rms_norm_forward(c.N, c.C, eps, c.w), {HostTensor::f32(x), HostTensor::of(w, c.w)});
    EXPECT_CLOSE("y", fwd[0], y);
    const auto bwd = run(codegen::cuda::rms_norm_backward(c.N, c.C, eps, c.w),
                         {HostTensor::f32(dy), HostTensor::f32(x), HostTensor::of(w, c.w)});
    EXPECT_CLOSE("dx", bwd[0], dx);
    EXPECT_CLOSE("dw", bwd[1], dw);
  }
}

TEST_F(CudaKernels, LayerNorm) {
  for (const NormCase& c : kNormCases) {
    SCOPED_TRACE("layer_norm N=" + std::to_string(c.N) + " C=" + std::to_string(c.C));
    const float eps = 1e-5f;
    F x = random(c.N * c.C, 2.0, 0.5), w = random(c.C, 0.1, 1.0), b = random(c.C, 0.1), dy = random(c.N * c.C);
    as_stored(w, c.w);
    as_stored(b, c.w);
    F y(c.N * c.C), dx(c.N * c.C), dw(c.C), db(c.C);
    cpu::layer_norm_forward(y.data(), x.data(), w.data(), b.data(), c.N, c.C, eps);
    cpu::layer_norm_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), c.N, c.C, eps);
    const auto fwd = run(codegen::cuda::layer_norm_forward(c.N, c.C, eps, c.w, c.w),
                         {HostTensor::f32(x), HostTensor::of(w, c.w), HostTensor::of(b, c.w)});
    EXPECT_CLOSE("y", fwd[0], y);
    const auto bwd = run(codegen::cuda::layer_norm_backward(c.N, c.C, eps, c.w),
                         {HostTensor::f32(dy), HostTensor::f32(x), HostTensor::of(w, c.w)});
    EXPECT_CLOSE("dx", bwd[0], dx);
    EXPECT_CLOSE("dw", bwd[1], dw);
    EXPECT_CLOSE("db", bwd[2], db);
  }
}

// ---- rope ----

TEST_F(CudaKernels, Rope) {
  struct Case {
    int64_t B, S, H, D;
    cpu::RopeParams p;
  };
  const std::vector<Case> cases = {{2, 17, 3, 8, {10000.0, 0, 0, 0, 0}},
                                   {1, 300, 2, 128, {500000.0, 8.0, 1.0, 4.0, 8192.0}},
                                   {2, 33, 4, 64, {10000.0, 4.0, 0, 0, 0}},
                                   {1, 2048, 1, 64, {1e6, 0, 0, 0, 0}}};
  for (const Case& c : cases) {
    SCOPED_TRACE("rope B=" + std::to_string(c.B) + " S=" + std::to_string(c.S) + " H=" + std::to_string(c.H) +
                 " D=" + std::to_string(c.D) + " theta=" + std::to_string(c.p.theta));
    const codegen::cuda::RopeParams p{c.p.theta, c.p.scaling_factor, c.p.low_freq_factor, c.p.high_freq_factor,
                                      c.p.original_max_positions};
    const int64_t n = c.B * c.S * c.H * c.D;
    F x = random(n), y(n), dx(n);
    cpu::rope_forward(y.data(), x.data(), c.B, c.S, c.H, c.D, c.p);
    cpu::rope_backward(dx.data(), x.data(), c.B, c.S, c.H, c.D, c.p);
    EXPECT_CLOSE("y", run(codegen::cuda::rope_forward(c.B, c.S, c.H, c.D, p), {HostTensor::f32(x)})[0], y);
    EXPECT_CLOSE("dx", run(codegen::cuda::rope_backward(c.B, c.S, c.H, c.D, p), {HostTensor::f32(x)})[0], dx);
    // In place (y aliases x), as the runtime may run it.
    EXPECT_CLOSE("y in place",
                 run(codegen::cuda::rope_forward(c.B, c.S, c.H, c.D, p), {HostTensor::f32(x)}, {{0, 0}})[0], y);
    // Packed documents: positions restarting every 7 tokens.
    std::vector<int32_t> positions(static_cast<size_t>(c.B * c.S));
    for (size_t r = 0; r < positions.size(); ++r) positions[r] = static_cast<int32_t>(r % static_cast<size_t>(c.S) % 7);
    cpu::rope_forward(y.data(), x.data(), c.B, c.S, c.H, c.D, c.p, positions.data());
    cpu::rope_backward(dx.data(), x.data(), c.B, c.S, c.H, c.D, c.p, positions.data());
    EXPECT_CLOSE("y at positions",
                 run(codegen::cuda::rope_forward(c.B, c.S, c.H, c.D, p, true),
                     {HostTensor::f32(x), HostTensor::i32(positions)})[0],
                 y);
    EXPECT_CLOSE("dx at positions",
                 run(codegen::cuda::rope_backward(c.B, c.S, c.H, c.D, p, true),
                     {HostTensor::f32(x), HostTensor::i32(positions)})[0],
                 dx);
  }
}

// ---- attention ----

TEST_F(CudaKernels, Attention) {
  const std::vector<codegen::cuda::AttentionShape> cases = {
      {2, 37, 4, 2, 32, 0},  {1, 130, 2, 1, 64, 0}, {1, 100, 4, 4, 64, 16}, {1, 70, 2, 2, 128, 0},
      {2, 33, 2, 1, 256, 0}, {1, 20, 2, 2, 40, 0},  {1, 1, 2, 1, 64, 0},    {1, 300, 8, 2, 128, 7}};
  for (const auto& a : cases) {
    SCOPED_TRACE("attention B=" + std::to_string(a.B) + " S=" + std::to_string(a.S) + " H=" + std::to_string(a.H) +
                 " KVH=" + std::to_string(a.KVH) + " D=" + std::to_string(a.D) + " window=" + std::to_string(a.window));
    const int64_t nq = a.B * a.S * a.H * a.D, nkv = a.B * a.S * a.KVH * a.D;
    F q = random(nq), k = random(nkv), v = random(nkv), dout = random(nq);
    F out(nq), dq(nq), dk(nkv), dv(nkv);
    cpu::attention_forward(out.data(), q.data(), k.data(), v.data(), a.B, a.S, a.H, a.KVH, a.D, a.window);
    cpu::attention_backward(dq.data(), dk.data(), dv.data(), dout.data(), q.data(), k.data(), v.data(), a.B, a.S, a.H,
                            a.KVH, a.D, a.window);
    const auto fwd =
        run(codegen::cuda::attention_forward(a), {HostTensor::f32(q), HostTensor::f32(k), HostTensor::f32(v)});
    EXPECT_CLOSE("out", fwd[0], out);
    const auto bwd = run(codegen::cuda::attention_backward(a),
                         {HostTensor::f32(dout), HostTensor::f32(q), HostTensor::f32(k), HostTensor::f32(v)});
    EXPECT_CLOSE("dq", bwd[0], dq);
    EXPECT_CLOSE("dk", bwd[1], dk);
    EXPECT_CLOSE("dv", bwd[2], dv);
  }
}

// ---- embeddings ----

TEST_F(CudaKernels, Embedding) {
  struct Case {
    int64_t N, C, V;
    ir::DType table;
  };
  for (const Case& c : std::vector<Case>{{50, 12, 23, ir::DType::bf16},
                                         {300, 130, 5000, ir::DType::f32},
                                         {1000, 2048, 32000, ir::DType::bf16},
                                         {700, 64, 3, ir::DType::bf16}}) {
    SCOPED_TRACE("embedding N=" + std::to_string(c.N) + " C=" + std::to_string(c.C) + " V=" + std::to_string(c.V));
    F table = random(c.V * c.C), dy = random(c.N * c.C);
    as_stored(table, c.table);
    const std::vector<int32_t> tokens = ints(c.N, 0, static_cast<int32_t>(std::min<int64_t>(c.V, 40)));
    F y(c.N * c.C), dtable(c.V * c.C);
    cpu::embedding_forward(y.data(), tokens.data(), table.data(), c.N, c.C);
    cpu::embedding_backward(dtable.data(), dy.data(), tokens.data(), c.N, c.C, c.V);
    EXPECT_EQ(run(codegen::cuda::embedding_forward(c.N, c.C, c.V, c.table),
                  {HostTensor::i32(tokens), HostTensor::of(table, c.table)})[0],
              y);
    const F got =
        run(codegen::cuda::embedding_backward(c.N, c.C, c.V), {HostTensor::f32(dy), HostTensor::i32(tokens)})[0];
    EXPECT_CLOSE("dtable", got, dtable);
    EXPECT_TRUE(got == dtable) << "dtable should match the CPU bit for bit (rows summed in token order)";
  }
}

TEST_F(CudaKernels, AddPositions) {
  struct Case {
    int64_t B, S, C, P;
  };
  for (const Case& c : std::vector<Case>{{3, 7, 12, 10}, {2, 64, 130, 64}, {1, 5, 1024, 2048}}) {
    SCOPED_TRACE("add_positions B=" + std::to_string(c.B) + " S=" + std::to_string(c.S) + " C=" + std::to_string(c.C));
    F x = random(c.B * c.S * c.C), table = random(c.P * c.C), dy = random(c.B * c.S * c.C);
    as_stored(table, ir::DType::bf16);
    F y(x.size()), dtable(c.P * c.C);
    cpu::add_positions_forward(y.data(), x.data(), table.data(), c.B, c.S, c.C);
    cpu::add_positions_backward(dtable.data(), dy.data(), c.B, c.S, c.C, c.P);
    EXPECT_CLOSE("y",
                 run(codegen::cuda::add_positions_forward(c.B, c.S, c.C, c.P, ir::DType::bf16),
                     {HostTensor::f32(x), HostTensor::bf16(table)})[0],
                 y);
    const F got = run(codegen::cuda::add_positions_backward(c.B, c.S, c.C, c.P), {HostTensor::f32(dy)})[0];
    EXPECT_TRUE(got == dtable) << "dtable should match the CPU bit for bit; " << worst(got, dtable);
  }
}

// ---- loss ----

TEST_F(CudaKernels, CrossEntropy) {
  struct Case {
    int64_t N, V;
    double masked;  // fraction of targets set to -1
  };
  for (const Case& c :
       std::vector<Case>{{40, 1000, 0.25}, {5, 1001, 0.0}, {4, 64, 1.0}, {9, 50257, 0.3}, {3, 7, 0.0}}) {
    SCOPED_TRACE("cross_entropy N=" + std::to_string(c.N) + " V=" + std::to_string(c.V));
    F logits = random(c.N * c.V, 3.0);
    std::vector<int32_t> targets = ints(c.N, 0, static_cast<int32_t>(c.V));
    std::uniform_real_distribution<double> u(0, 1);
    for (int32_t& t : targets)
      if (u(rng_) < c.masked) t = -1;
    const float loss = cpu::cross_entropy_forward(logits.data(), targets.data(), c.N, c.V);
    F dlogits(c.N * c.V);
    cpu::cross_entropy_backward(dlogits.data(), logits.data(), targets.data(), c.N, c.V);
    const F got =
        run(codegen::cuda::cross_entropy_forward(c.N, c.V), {HostTensor::f32(logits), HostTensor::i32(targets)})[0];
    ASSERT_EQ(got.size(), 1u);
    EXPECT_NEAR(got[0], loss, 1e-5 * std::max(1.0f, std::fabs(loss))) << "mean loss";
    EXPECT_CLOSE(
        "dlogits",
        run(codegen::cuda::cross_entropy_backward(c.N, c.V), {HostTensor::f32(logits), HostTensor::i32(targets)})[0],
        dlogits);
  }
}

TEST_F(CudaKernels, DpoOps) {
  const int64_t B = 4, S = 9, V = 1001;
  F logits = random(B * S * V, 3.0);
  std::vector<int32_t> targets = ints(B * S, 0, static_cast<int32_t>(V));
  for (int64_t n = 0; n < B * S; ++n)
    if (n % S < 3) targets[static_cast<size_t>(n)] = -1;  // the prompt
  const F dy = random(B, 1.0);
  for (bool average : {false, true}) {
    SCOPED_TRACE(average ? "mean log-probabilities" : "summed log-probabilities");
    F y(B), dlogits(B * S * V);
    cpu::sequence_logprob_forward(y.data(), logits.data(), targets.data(), B, S, V, average);
    cpu::sequence_logprob_backward(dlogits.data(), dy.data(), logits.data(), targets.data(), B, S, V, average);
    EXPECT_CLOSE("y",
                 run(codegen::cuda::sequence_logprob_forward(B, S, V, average),
                     {HostTensor::f32(logits), HostTensor::i32(targets)})[0],
                 y);
    EXPECT_CLOSE("dlogits",
                 run(codegen::cuda::sequence_logprob_backward(B, S, V, average),
                     {HostTensor::f32(dy), HostTensor::f32(logits), HostTensor::i32(targets)})[0],
                 dlogits);
  }
  const F policy = random(B, 5.0), reference = random(B, 5.0);
  for (const cpu::DpoLossParams& p :
       {cpu::DpoLossParams{0.1, 0.0, false}, cpu::DpoLossParams{0.5, 0.2, false}, cpu::DpoLossParams{0.1, 0.0, true}}) {
    const codegen::cuda::DpoKernelParams k{p.beta, p.label_smoothing, p.ipo};
    const float loss = cpu::dpo_loss_forward(policy.data(), reference.data(), B, p);
    F dpolicy(B), dreference(B);
    cpu::dpo_loss_backward(dpolicy.data(), dreference.data(), policy.data(), reference.data(), B, p);
    const F got = run(codegen::cuda::dpo_loss_forward(B, k), {HostTensor::f32(policy), HostTensor::f32(reference)})[0];
    EXPECT_NEAR(got.at(0), loss, 1e-6 * std::max(1.0f, std::fabs(loss)));
    const std::vector<F> grads =
        run(codegen::cuda::dpo_loss_backward(B, k), {HostTensor::f32(policy), HostTensor::f32(reference)});
    EXPECT_CLOSE("dpolicy", grads.at(0), dpolicy);
    EXPECT_CLOSE("dreference", grads.at(1), dreference);
  }
}

// The loss kernel of the fused lm head loss, run as listed (its first chunk
// of `rows` rows): the chunk's loss over the count of all N targets, and its
// d_logits rounded to bf16 (hence the bf16-sized tolerance).
TEST_F(CudaKernels, LossChunkRows) {
  struct Case {
    int64_t N, V, rows;
  };
  for (const Case& c : std::vector<Case>{{40, 1000, 40}, {45, 259, 16}, {30, 64, 30}}) {
    SCOPED_TRACE("loss chunk N=" + std::to_string(c.N) + " V=" + std::to_string(c.V) +
                 " rows=" + std::to_string(c.rows));
    F logits = random(c.rows * c.V, 3.0);
    std::vector<int32_t> targets = ints(c.N, 0, static_cast<int32_t>(c.V));
    std::uniform_real_distribution<double> u(0, 1);
    for (int32_t& t : targets)
      if (u(rng_) < 0.25) t = -1;
    const int64_t count = cpu::count_targets(targets.data(), c.N);
    std::vector<double> row_loss(c.N, 0.0);
    F dlogits(c.rows * c.V);
    cpu::cross_entropy_rows(row_loss.data(), dlogits.data(), logits.data(), targets.data(), c.rows, c.V, count);
    const float loss = cpu::mean_loss(row_loss.data(), c.N, count);
    const std::vector<HostTensor> in = {HostTensor::f32(logits), HostTensor::i32(targets)};
    const F fwd = run(codegen::cuda::linear_cross_entropy_forward(c.N, c.V, c.rows), in)[0];
    const std::vector<F> bwd = run(codegen::cuda::linear_cross_entropy_backward(c.N, c.V, c.rows), in);
    EXPECT_NEAR(fwd[0], loss, 1e-5 * std::max(1.0f, std::fabs(loss))) << "forward mean loss";
    EXPECT_NEAR(bwd[0][0], fwd[0], 1e-6 * std::max(1.0f, std::fabs(loss))) << "backward mean loss";
    const double e = rel_l2(bwd[1], dlogits);
    EXPECT_LT(e, 4e-3) << "bf16 dlogits: relative L2 " << e << ", " << worst(bwd[1], dlogits);
  }
}

TEST_F(CudaKernels, BiasAddGrad) {
  for (auto [N, O] : std::vector<std::pair<int64_t, int64_t>>{{1000, 36}, {7, 5}, {3000, 1024}, {1, 4}}) {
    SCOPED_TRACE("bias_add_grad N=" + std::to_string(N) + " O=" + std::to_string(O));
    F dy = random(N * O), db(O);
    cpu::bias_backward(db.data(), dy.data(), N, O);
    EXPECT_CLOSE("db", run(codegen::cuda::bias_add_grad(N, O), {HostTensor::f32(dy)})[0], db);
  }
}

// ---- fused elementwise groups ----

/// The program evaluated with the unfused CPU kernels, node by node.
std::vector<F> cpu_program(const codegen::cpu::ElementwiseProgram& p, int64_t rows, int64_t cols,
                           const std::vector<F>& in) {
  const int64_t n = rows * cols;
  std::vector<F> vals(in);
  for (const auto& node : p.nodes) {
    F y(n);
    auto x = [&](int k) { return vals[node.operands[k]].data(); };
    switch (node.op) {
      case ir::Op::add:
        cpu::add_forward(y.data(), x(0), x(1), n);
        break;
      case ir::Op::mul:
        cpu::mul_forward(y.data(), x(0), x(1), n);
        break;
      case ir::Op::bias_add:
        cpu::bias_add_forward(y.data(), x(0), x(1), rows, cols);
        break;
      case ir::Op::silu:
        cpu::silu_forward(y.data(), x(0), n);
        break;
      case ir::Op::gelu:
        cpu::gelu_forward(y.data(), x(0), n);
        break;
      case ir::Op::silu_grad:
        cpu::silu_backward(y.data(), x(0), x(1), n);
        break;
      case ir::Op::gelu_grad:
        cpu::gelu_backward(y.data(), x(0), x(1), n);
        break;
      default:
        ADD_FAILURE() << "unexpected op";
        break;
    }
    vals.push_back(std::move(y));
  }
  std::vector<F> out;
  for (int o : p.outputs) out.push_back(vals[in.size() + o]);
  return out;
}

TEST_F(CudaKernels, ElementwiseGroups) {
  using ir::Op;
  struct Case {
    const char* what;
    codegen::cpu::ElementwiseProgram program;
    std::vector<ir::DType> types;
    int64_t rows, cols;
    std::map<int, int> alias;  // output -> input sharing its buffer
  };
  const std::vector<Case> cases = {
      {"bias_add+gelu",
       {{{false}, {true}}, {{Op::bias_add, {0, 1}}, {Op::gelu, {2}}}, {1}},
       {ir::DType::f32, ir::DType::bf16},
       37,
       512,
       {}},
      {"silu*up", {{{false}, {false}}, {{Op::silu, {0}}, {Op::mul, {2, 1}}}, {1}}, {}, 19, 344, {}},
      {"swiglu backward",
       {{{false}, {false}, {false}, {false}}, {{Op::mul, {0, 1}}, {Op::mul, {0, 2}}, {Op::silu_grad, {4, 3}}}, {1, 2}},
       {},
       16,
       344,
       {}},
      {"gelu_grad, cols % 4 != 0", {{{false}, {false}}, {{Op::gelu_grad, {0, 1}}}, {0}}, {}, 13, 7, {}},
      {"add in place", {{{false}, {false}}, {{Op::add, {0, 1}}}, {0}}, {}, 64, 128, {{0, 0}}},
      {"bias_add+add, f32 bias, cols 5",
       {{{false}, {true}, {false}}, {{Op::bias_add, {0, 1}}, {Op::add, {2, 3}}}, {1}},
       {},
       11,
       5,
       {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string("elementwise ") + c.what);
    std::vector<F> in;
    std::vector<HostTensor> host;
    for (size_t i = 0; i < c.program.inputs.size(); ++i) {
      const ir::DType t = c.types.empty() ? ir::DType::f32 : c.types[i];
      F v = random(c.program.inputs[i].row_broadcast ? c.cols : c.rows * c.cols);
      as_stored(v, t);
      host.push_back(HostTensor::of(v, t));
      in.push_back(std::move(v));
    }
    const std::vector<F> want = cpu_program(c.program, c.rows, c.cols, in);
    const std::vector<F> got = run(codegen::cuda::elementwise(c.program, c.rows, c.cols, c.types), host, c.alias);
    ASSERT_EQ(got.size(), want.size());
    for (size_t o = 0; o < want.size(); ++o) EXPECT_CLOSE("output " + std::to_string(o), got[o], want[o]);
  }
}

// ---- every kernel of the tiny models runs and writes every output ----

TEST_F(CudaKernels, EveryModelKernelRunsAndWritesEveryOutput) {
  for (const char* model : {"models/tiny.json", "models/tiny-qwen.json", "models/tiny-gpt2.json"}) {
    std::set<std::string> seen;
    for (const codegen::cuda::StageKernel& k : lowered_module_kernels(model, 2, 37)) {
      if (!seen.insert(k.source.code).second) continue;
      SCOPED_TRACE(std::string(model) + " stage " + k.stage + ": " + k.instructions);
      std::vector<HostTensor> in;
      for (const codegen::cuda::Buffer& b : k.source.inputs) {
        if (b.dtype == ir::DType::i32) {
          in.push_back(HostTensor::i32(ints(b.elements, 0, 200)));  // tokens and targets below every vocab here
        } else {
          F v = random(b.elements, 0.5);
          in.push_back(HostTensor::of(as_stored(v, b.dtype), b.dtype));
        }
      }
      for (const F& out : run(k.source, in))
        for (float v : out)
          ASSERT_TRUE(std::isfinite(v)) << k.source.describe() << " left a NaN or wrote a non-finite value";
    }
  }
}

}  // namespace
}  // namespace horizon

#else

TEST(CudaKernels, NeedsTheCudaToolkit) { GTEST_SKIP() << "built without the CUDA toolkit (CMake found none)"; }

#endif
