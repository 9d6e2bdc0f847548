// The GPU optimizer (runtime/cuda/device_optimizer.h) against the CPU:
// AdamW against the CPU JIT's kernel for both moment types, on random state
// with specials (signed zeros, denormals, weights near the bf16 rounding tie
// and the overflow clamp, infinities, huge and NaN gradients), at sizes 1, 7,
// 4099 and 2^20, on sub-ranges whose pointers share a phase (vector path
// after a scalar head) and whose pointers do not (scalar path). The buffers
// around each sub-range are poisoned and must stay so. The result must be
// the JIT's bits where the JIT fuses its multiply-adds (AVX2, AVX-512; on
// SSE it does not, and 1 ulp is allowed); a NaN on either side must be NaN
// on both. sum_squares must match a long double reference to 1e-12 relative
// and give the same bits on every run and at every alignment of the same
// values. The bandwidth of both at 256M parameters is printed, not checked.
// Skipped where no CUDA device is present.
#include <gtest/gtest.h>

#ifdef HORIZON_HAVE_CUDA

#include <cuda_runtime_api.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <limits>
#include <random>

#include "codegen/cpu/cpu_jit.h"
#include "codegen/cuda/kernels.h"
#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/device_memory.h"
#include "runtime/cuda/device_optimizer.h"
#include "support/bf16.h"

namespace horizon {
namespace {

using codegen::cpu::AdamWParams;
using codegen::cpu::MomentType;
using runtime::cuda::check_cuda;
using runtime::cuda::DeviceMemory;
using runtime::cuda::DeviceOptimizer;

std::string why_no_device() {
  int n = 0;
  if (cudaError_t e = cudaGetDeviceCount(&n); e != cudaSuccess)
    return std::string("cudaGetDeviceCount: ") + cudaGetErrorName(e);
  return n == 0 ? "cudaGetDeviceCount returned 0" : "";
}

/// Whether the CPU JIT fuses llvm.fmuladd (its AVX2 and AVX-512 targets require FMA).
bool jit_fuses() { return codegen::cpu::CpuJit::get().isa() != codegen::cpu::Isa::sse; }

void to_device(void* d, const void* h, size_t bytes) {
  check_cuda(cudaMemcpy(d, h, bytes, cudaMemcpyHostToDevice), "cudaMemcpy", "test upload");
}
void to_host(void* h, const void* d, size_t bytes) {
  check_cuda(cudaMemcpy(h, d, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy", "test download");
}

/// Optimizer state of n parameters as the host store holds it; moments as raw bytes.
struct State {
  MomentType moments;
  int64_t n;
  std::vector<uint16_t> hi, lo;
  std::vector<char> m, v;

  int moment_bytes() const { return moments == MomentType::bf16 ? 2 : 4; }
  float moment(const std::vector<char>& plane, int64_t i) const {
    if (moments == MomentType::f32) return std::bit_cast<float>(word<uint32_t>(plane, i));
    return bf16_to_float(word<uint16_t>(plane, i));
  }
  template <class T>
  static T word(const std::vector<char>& plane, int64_t i) {
    T t;
    std::memcpy(&t, plane.data() + i * static_cast<int64_t>(sizeof(T)), sizeof(T));
    return t;
  }
};

/// Random weights, moments and gradients, with a special value every few lanes.
State random_state(MomentType moments, int64_t n, std::vector<float>& grad, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  State s{moments, n, {}, {}, {}, {}};
  const int mb = s.moment_bytes();
  s.m.resize(n * mb), s.v.resize(n * mb);
  grad.resize(n);
  const float specials_w[] = {0.0f,
                              -0.0f,
                              1e-40f,                                  // denormal
                              3.3e38f,                                 // near the overflow clamp
                              std::bit_cast<float>(0x7F7F7FFFu),       // the clamp itself
                              std::bit_cast<float>(0x3F808000u),       // a bf16 rounding tie
                              std::bit_cast<float>(0xBF80FFFFu),       // just past one
                              std::bit_cast<float>(0x3F807FFFu),       // just before one
                              std::numeric_limits<float>::infinity(),  // 0 * inf: NaN on both
                              -1e30f};
  const float specials_g[] = {0.0f, -0.0f, std::nanf(""), 1e20f, -1e-41f, 3e38f};
  for (int64_t i = 0; i < n; ++i) {
    float w = normal(rng) * 0.05f, m = normal(rng) * 1e-3f, v = std::fabs(normal(rng)) * 1e-5f;
    float g = normal(rng) * 1e-2f;
    if (i % 13 == 5) w = specials_w[(i / 13) % std::size(specials_w)];
    if (i % 17 == 3) g = specials_g[(i / 17) % std::size(specials_g)];
    if (i % 29 == 7) m = -0.0f, v = 0.0f;
    const MasterPlanes p = split_master(w);
    s.hi.push_back(p.hi), s.lo.push_back(p.lo);
    if (moments == MomentType::bf16) {
      const uint16_t mb16 = float_to_bf16(m), vb16 = float_to_bf16(v);
      std::memcpy(&s.m[i * 2], &mb16, 2), std::memcpy(&s.v[i * 2], &vb16, 2);
    } else {
      std::memcpy(&s.m[i * 4], &m, 4), std::memcpy(&s.v[i * 4], &v, 4);
    }
    grad[i] = g;
  }
  return s;
}

/// "" if `got` and `want` agree: both NaN, or within `ulps` float ulps (as ordered integers).
std::string compare(float got, float want, int ulps) {
  if (std::isnan(got) || std::isnan(want)) return std::isnan(got) && std::isnan(want) ? "" : "NaN on one side";
  auto ordered = [](float f) {
    const int64_t b = std::bit_cast<uint32_t>(f);
    return b & 0x80000000 ? 0x80000000 - b : b;  // -0 and +0 meet at 0
  };
  return std::llabs(ordered(got) - ordered(want)) <= ulps ? "" : "differs";
}

/// Runs the GPU update on [offset, offset + n) of padded device planes (grad
/// at `grad_offset`), the rest poisoned; returns "" or the first failures.
std::string check_adamw(const DeviceOptimizer& opt, MomentType moments, int64_t n, int64_t offset, int64_t grad_offset,
                        const AdamWParams& p, uint32_t seed) {
  std::vector<float> grad;
  const State before = random_state(moments, n, grad, seed);
  State cpu = before;
  codegen::cpu::CpuJit::get().adamw(moments)(n, cpu.hi.data(), cpu.lo.data(), cpu.m.data(), cpu.v.data(), grad.data(),
                                             &p);

  const int64_t padded = n + 8, mb = before.moment_bytes();
  DeviceMemory hi(padded * 2, "w_hi"), lo(padded * 2, "w_lo"), m(padded * mb, "m"), v(padded * mb, "v"),
      g(padded * 4, "grad");
  for (const DeviceMemory* d : {&hi, &lo, &m, &v, &g})
    check_cuda(cudaMemset(d->get(), 0xff, d->bytes()), "cudaMemset", "poison");
  to_device(hi.at(offset * 2), before.hi.data(), n * 2);
  to_device(lo.at(offset * 2), before.lo.data(), n * 2);
  to_device(m.at(offset * mb), before.m.data(), n * mb);
  to_device(v.at(offset * mb), before.v.data(), n * mb);
  to_device(g.at(grad_offset * 4), grad.data(), n * 4);
  opt.adamw(n, reinterpret_cast<uint16_t*>(hi.at(offset * 2)), reinterpret_cast<uint16_t*>(lo.at(offset * 2)),
            m.at(offset * mb), v.at(offset * mb), reinterpret_cast<const float*>(g.at(grad_offset * 4)), p, nullptr);
  check_cuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize", "adamw_update");

  State gpu{moments,
            n,
            std::vector<uint16_t>(padded),
            std::vector<uint16_t>(padded),
            std::vector<char>(padded * mb),
            std::vector<char>(padded * mb)};
  to_host(gpu.hi.data(), hi.get(), padded * 2);
  to_host(gpu.lo.data(), lo.get(), padded * 2);
  to_host(gpu.m.data(), m.get(), padded * mb);
  to_host(gpu.v.data(), v.get(), padded * mb);
  std::string failures;
  int failed = 0;
  auto fail = [&](const std::string& what) {
    if (++failed <= 5) failures += "  " + what + "\n";
  };
  // Outside the sub-range: still poison.
  for (int64_t i = 0; i < padded; ++i) {
    if (i >= offset && i < offset + n) continue;
    bool poison = gpu.hi[i] == 0xffff && gpu.lo[i] == 0xffff;
    for (int b = 0; b < mb; ++b) poison = poison && gpu.m[i * mb + b] == '\xff' && gpu.v[i * mb + b] == '\xff';
    if (!poison) fail("[" + std::to_string(i) + "] outside the sub-range was written");
  }
  const int ulps = jit_fuses() ? 0 : 1;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t j = offset + i;
    const float w_got = join_master(gpu.hi[j], gpu.lo[j]), w_want = join_master(cpu.hi[i], cpu.lo[i]);
    std::string why = compare(w_got, w_want, ulps);
    // Same master, same split: the planes themselves must agree unless NaN.
    if (why.empty() && !std::isnan(w_want) && (gpu.hi[j] != cpu.hi[i] || gpu.lo[j] != cpu.lo[i]) && ulps == 0)
      why = "planes differ";
    if (!why.empty()) {
      char buf[200];
      std::snprintf(buf, sizeof buf, "[%lld] w %s: got %.9g (%04x %04x) want %.9g (%04x %04x), grad %.9g",
                    static_cast<long long>(i), why.c_str(), w_got, gpu.hi[j], gpu.lo[j], w_want, cpu.hi[i], cpu.lo[i],
                    grad[i]);
      fail(buf);
    }
    for (const char* name : {"m", "v"}) {
      const bool is_m = name[0] == 'm';
      const float got = gpu.moment(is_m ? gpu.m : gpu.v, j), want = cpu.moment(is_m ? cpu.m : cpu.v, i);
      const int moment_ulps = moments == MomentType::bf16 ? ulps << 16 : ulps;  // a bf16 ulp is 2^16 float ulps
      if (std::string why = compare(got, want, moment_ulps); !why.empty()) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "[%lld] %s %s: got %.9g want %.9g, grad %.9g", static_cast<long long>(i), name,
                      why.c_str(), got, want, grad[i]);
        fail(buf);
      }
    }
  }
  if (failed == 0) return "";
  return std::to_string(failed) + " wrong\n" + failures;
}

class CudaDeviceOptimizer : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string why = why_no_device(); !why.empty()) GTEST_SKIP() << "no CUDA device (" << why << ")";
  }
};

TEST_F(CudaDeviceOptimizer, AdamWMatchesTheCpuJit) {
  if (!jit_fuses())
    std::printf("  the CPU JIT targets %s (no FMA): allowing 1 ulp instead of equal bits\n",
                codegen::cpu::isa_name(codegen::cpu::CpuJit::get().isa()));
  AdamWParams p;
  p.lr = 1e-3f, p.beta1 = 0.9f, p.beta2 = 0.95f, p.eps = 1e-8f, p.weight_decay = 0.1f, p.grad_scale = 0.7f;
  p.bias_correction1 = 1.0f - std::pow(p.beta1, 3.0f);
  p.bias_correction2 = 1.0f - std::pow(p.beta2, 3.0f);
  AdamWParams fine = p;  // updates far below a bf16 ulp of w: only the low plane moves
  fine.lr = 1e-6f, fine.beta2 = 0.999f, fine.bias_correction2 = 1.0f - std::pow(fine.beta2, 500.0f);
  uint32_t seed = 1;
  for (MomentType moments : {MomentType::bf16, MomentType::f32}) {
    const DeviceOptimizer opt(moments, 1);
    // (offset, grad offset): aligned; sub-ranges sharing a phase; phases that differ.
    for (const auto& [offset, grad_offset] : {std::pair<int64_t, int64_t>{0, 0}, {1, 1}, {3, 3}, {2, 1}, {4, 0}})
      for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{4096 + 3}, int64_t{1} << 20})
        for (const AdamWParams* params : {&p, &fine}) {
          SCOPED_TRACE(std::string("moments ") + (moments == MomentType::bf16 ? "bf16" : "f32") + " n " +
                       std::to_string(n) + " offset " + std::to_string(offset) + " grad offset " +
                       std::to_string(grad_offset) + (params == &fine ? " fine-tuning" : ""));
          EXPECT_EQ(check_adamw(opt, moments, n, offset, grad_offset, *params, seed++), "");
        }
  }
}

TEST_F(CudaDeviceOptimizer, SumSquaresIsAccurateAndDeterministic) {
  const int64_t total = (3 << 20) + 64;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(total);
  for (int64_t i = 0; i < total; ++i) x[i] = normal(rng) * std::ldexp(1.0f, static_cast<int>(i % 41) - 20);
  // The same values at another alignment: [2^21 + 1, + 2^20) copies [0, 2^20).
  const int64_t copy = (int64_t{1} << 21) + 1;
  std::copy(x.begin(), x.begin() + (int64_t{1} << 20), x.begin() + copy);
  const std::vector<std::pair<int64_t, int64_t>> spans = {{0, 1},
                                                          {5, 7},
                                                          {13, 4096 + 3},
                                                          {0, int64_t{1} << 20},
                                                          {17, 0},
                                                          {100003, 1500001},
                                                          {copy, int64_t{1} << 20},
                                                          {total - 3, 3}};
  const int k = static_cast<int>(spans.size());

  DeviceMemory dx(total * 4, "x"), out(k * 8, "out");
  to_device(dx.get(), x.data(), total * 4);
  const DeviceOptimizer opt(MomentType::bf16, k);
  EXPECT_EQ(opt.scratch_bytes(), int64_t{8} * k * codegen::cuda::kSumSquaresBlocks);
  std::vector<double> first;
  for (int run = 0; run < 3; ++run) {
    check_cuda(cudaMemset(out.get(), 0xff, k * 8), "cudaMemset", "poison");
    opt.sum_squares(reinterpret_cast<const float*>(dx.get()), spans, reinterpret_cast<double*>(out.get()), nullptr);
    std::vector<double> got(k);
    to_host(got.data(), out.get(), k * 8);
    if (run == 0) {
      first = got;
      for (int s = 0; s < k; ++s) {
        long double want = 0;
        for (int64_t i = 0; i < spans[s].second; ++i) {
          const long double d = x[spans[s].first + i];
          want += d * d;
        }
        EXPECT_LE(std::fabs(got[s] - static_cast<double>(want)), 1e-12 * static_cast<double>(want))
            << "span " << s << ": got " << got[s] << " want " << static_cast<double>(want);
      }
      EXPECT_EQ(got[4], 0.0);
      EXPECT_EQ(std::bit_cast<uint64_t>(got[3]), std::bit_cast<uint64_t>(got[6])) << "the bits follow the values";
    } else {
      EXPECT_EQ(std::memcmp(got.data(), first.data(), k * 8), 0) << "run " << run << " gave other bits";
    }
  }
  std::vector<std::pair<int64_t, int64_t>> too_many(k + 1, {0, 1});
  try {
    opt.sum_squares(reinterpret_cast<const float*>(dx.get()), too_many, reinterpret_cast<double*>(out.get()), nullptr);
    ADD_FAILURE() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("max_spans=" + std::to_string(k)), std::string::npos) << e.what();
  }
}

/// Milliseconds per call of `fn` on the default stream (2 warm-ups, then 10).
template <class Fn>
double time_ms(Fn fn) {
  fn(), fn();
  cudaEvent_t start, stop;
  check_cuda(cudaEventCreate(&start), "cudaEventCreate", "timing");
  check_cuda(cudaEventCreate(&stop), "cudaEventCreate", "timing");
  check_cuda(cudaEventRecord(start), "cudaEventRecord", "timing");
  for (int r = 0; r < 10; ++r) fn();
  check_cuda(cudaEventRecord(stop), "cudaEventRecord", "timing");
  check_cuda(cudaEventSynchronize(stop), "cudaEventSynchronize", "timing");
  float ms = 0;
  check_cuda(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime", "timing");
  cudaEventDestroy(start), cudaEventDestroy(stop);
  return ms / 10;
}

TEST_F(CudaDeviceOptimizer, BandwidthAt256MParameters) {
  const int64_t n = int64_t{1} << 28;
  cudaDeviceProp prop{};
  check_cuda(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties", "device 0");
  for (MomentType moments : {MomentType::bf16, MomentType::f32}) {
    const int64_t mb = moments == MomentType::bf16 ? 2 : 4;
    DeviceMemory hi(n * 2, "w_hi"), lo(n * 2, "w_lo"), m(n * mb, "m"), v(n * mb, "v"), g(n * 4, "grad"), out(8, "out");
    check_cuda(cudaMemset(hi.get(), 0x3f, n * 2), "cudaMemset", "w_hi");  // 0x3f3f: 0.75
    check_cuda(cudaMemset(lo.get(), 0, n * 2), "cudaMemset", "w_lo");
    check_cuda(cudaMemset(m.get(), 0, n * mb), "cudaMemset", "m");
    check_cuda(cudaMemset(v.get(), 0, n * mb), "cudaMemset", "v");
    check_cuda(cudaMemset(g.get(), 0x3c, n * 4), "cudaMemset", "grad");  // 0x3c3c3c3c: 0.0115
    const DeviceOptimizer opt(moments, 1);
    AdamWParams p;
    const auto* grad = reinterpret_cast<const float*>(g.get());
    const double adamw_ms = time_ms([&] {
      opt.adamw(n, reinterpret_cast<uint16_t*>(hi.get()), reinterpret_cast<uint16_t*>(lo.get()), m.get(), v.get(), grad,
                p, nullptr);
    });
    const double sum_ms = time_ms([&] {
      opt.sum_squares(grad, {{0, n}}, reinterpret_cast<double*>(out.get()), nullptr);
    });
    const double adamw_bytes = static_cast<double>(n) * (4 + 2 * (2 + 2 + 2 * mb));  // grad in; planes in and out
    std::printf("  %s, %lld params, %s moments: adamw %.2f ms (%.0f GB/s), sum_squares %.2f ms (%.0f GB/s)\n",
                prop.name, static_cast<long long>(n), moments == MomentType::bf16 ? "bf16" : "f32", adamw_ms,
                adamw_bytes / adamw_ms * 1e-6, sum_ms, 4.0 * static_cast<double>(n) / sum_ms * 1e-6);
  }
}

}  // namespace
}  // namespace horizon

#else

TEST(CudaDeviceOptimizer, NeedsTheCudaToolkit) { GTEST_SKIP() << "built without the CUDA toolkit (CMake found none)"; }

#endif
