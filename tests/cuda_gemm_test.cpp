// The cuBLASLt GEMMs of runtime/cuda/gemm.h, one test per linear form of the
// IR, against a double-precision host reference on odd shapes (N = 33, I = 7,
// O = 257, a single row...). Operands are bf16 on both sides, so the GPU
// differs from the reference only by fp32 accumulation: relative L2 below
// 1e-5. Outputs are poisoned with NaN first (beta = 0 must not read them);
// accumulate (beta = 1) must add to what is there. Skipped without a device.
#include <gtest/gtest.h>

#ifdef HORIZON_HAVE_CUDA

#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <random>

#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/device_memory.h"
#include "runtime/cuda/gemm.h"
#include "support/bf16.h"

namespace horizon {
namespace {

using runtime::cuda::CublasLtGemm;
using runtime::cuda::DeviceMemory;
using runtime::cuda::GemmForm;
using runtime::cuda::GemmShape;
using F = std::vector<float>;
constexpr double kTolerance = 1e-5;

std::string why_no_device() {
  int n = 0;
  if (cudaError_t e = cudaGetDeviceCount(&n); e != cudaSuccess)
    return std::string("cudaGetDeviceCount: ") + cudaGetErrorName(e);
  return n == 0 ? "cudaGetDeviceCount returned 0" : "";
}

double rel_l2(const F& got, const std::vector<double>& want) {
  double diff = 0, norm = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i])) return std::numeric_limits<double>::infinity();
    diff += (got[i] - want[i]) * (got[i] - want[i]);
    norm += want[i] * want[i];
  }
  return std::sqrt(diff / std::max(norm, 1e-300));
}

class CudaGemm : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string why = why_no_device(); !why.empty()) GTEST_SKIP() << "no CUDA device (" << why << ")";
  }

  /// Random values already rounded to bf16, and their bits.
  F operand(int64_t n, std::vector<uint16_t>& bits) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    F v(n);
    bits.resize(n);
    for (int64_t i = 0; i < n; ++i) {
      bits[i] = float_to_bf16(normal(rng_));
      v[i] = bf16_to_float(bits[i]);
    }
    return v;
  }

  DeviceMemory upload(const void* p, size_t bytes) {
    DeviceMemory d(static_cast<int64_t>(bytes), "test upload");
    runtime::cuda::check_cuda(cudaMemcpy(d.get(), p, bytes, cudaMemcpyHostToDevice), "cudaMemcpy", "test upload");
    return d;
  }

  /// Runs `form` on every odd shape, overwriting and then accumulating.
  void check_form(GemmForm form) {
    CublasLtGemm gemm;
    struct Case {
      int64_t N, I, O;
    };
    for (const Case& c : std::vector<Case>{{33, 7, 5}, {66, 129, 257}, {1, 64, 3}, {127, 300, 44}, {66, 128, 344}}) {
      const GemmShape shape{form, c.N, c.I, c.O};
      SCOPED_TRACE(shape.describe());
      // Operands in IR order and the result's extent.
      const int64_t na = form == GemmForm::linear ? c.N * c.I : c.N * c.O;
      const int64_t nb = form == GemmForm::linear_grad_w ? c.N * c.I : c.O * c.I;
      const int64_t ny = form == GemmForm::linear ? c.N * c.O : form == GemmForm::linear_grad_x ? c.N * c.I : c.O * c.I;
      std::vector<uint16_t> abits, bbits;
      const F a = operand(na, abits), b = operand(nb, bbits);
      std::vector<double> want(ny, 0.0);
      for (int64_t n = 0; n < c.N; ++n)
        for (int64_t o = 0; o < c.O; ++o)
          for (int64_t i = 0; i < c.I; ++i) {
            switch (form) {
              case GemmForm::linear:  // y[n,o] += x[n,i] w[o,i]
                want[n * c.O + o] += static_cast<double>(a[n * c.I + i]) * b[o * c.I + i];
                break;
              case GemmForm::linear_grad_x:  // dx[n,i] += dy[n,o] w[o,i]
                want[n * c.I + i] += static_cast<double>(a[n * c.O + o]) * b[o * c.I + i];
                break;
              case GemmForm::linear_grad_w:  // dw[o,i] += dy[n,o] x[n,i]
                want[o * c.I + i] += static_cast<double>(a[n * c.O + o]) * b[n * c.I + i];
                break;
            }
          }
      DeviceMemory da = upload(abits.data(), abits.size() * 2), db = upload(bbits.data(), bbits.size() * 2);
      DeviceMemory dy(ny * 4, "test result");
      ASSERT_EQ(cudaMemset(dy.get(), 0xff, ny * 4), cudaSuccess);  // NaN
      gemm.run(shape, da.get(), db.get(), static_cast<float*>(dy.get()), false, nullptr, "test");
      F got(ny);
      ASSERT_EQ(cudaMemcpy(got.data(), dy.get(), ny * 4, cudaMemcpyDeviceToHost), cudaSuccess);
      const double e = rel_l2(got, want);
      EXPECT_LT(e, kTolerance) << "overwrite: relative L2 " << e;

      // beta = 1 adds onto the first result: twice the product.
      gemm.run(shape, da.get(), db.get(), static_cast<float*>(dy.get()), true, nullptr, "test");
      ASSERT_EQ(cudaMemcpy(got.data(), dy.get(), ny * 4, cudaMemcpyDeviceToHost), cudaSuccess);
      for (double& w : want) w *= 2;
      const double e2 = rel_l2(got, want);
      EXPECT_LT(e2, kTolerance) << "accumulate: relative L2 " << e2;
      std::printf("[ gemm ] %-32s overwrite %.2e accumulate %.2e\n", shape.describe().c_str(), e, e2);
    }
  }

  std::mt19937 rng_{77};
};

TEST_F(CudaGemm, Linear) { check_form(GemmForm::linear); }
TEST_F(CudaGemm, LinearGradX) { check_form(GemmForm::linear_grad_x); }
TEST_F(CudaGemm, LinearGradW) { check_form(GemmForm::linear_grad_w); }

TEST_F(CudaGemm, MisalignedOperandNamesTheShape) {
  CublasLtGemm gemm;
  DeviceMemory buf(4096, "test");
  const GemmShape shape{GemmForm::linear, 3, 8, 8};
  try {
    gemm.run(shape, buf.at(2), buf.at(1024), reinterpret_cast<float*>(buf.at(2048)), false, nullptr, "q projection");
    FAIL() << "a misaligned operand was accepted";
  } catch (const runtime::cuda::CudaError& e) {
    EXPECT_NE(std::string(e.what()).find("q projection"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("linear N=3 I=8 O=8"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace horizon

#else

TEST(CudaGemm, NeedsTheCudaToolkit) { GTEST_SKIP() << "built without the CUDA toolkit (CMake found none)"; }

#endif
