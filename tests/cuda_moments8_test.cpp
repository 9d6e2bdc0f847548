// The GPU optimizer with 8-bit moments (runtime/cuda/device_optimizer.h,
// codegen/cuda/optimizer_kernels.cpp adamw_update_blockwise) against the CPU
// JIT's block-wise AdamW: the same codes, scales and weight planes byte for
// byte (tests/moments8_reference.h compare_q8; a NaN weight or scale may
// differ in payload), over three steps, at sizes around the block (1, 255,
// 256, 257), a few thousand and 2^20 + 3, with and without special
// gradients (NaN, huge, denormal, signed zeros), and on a sub-range that
// starts at a block boundary inside poisoned buffers that must stay so.
// Skipped where no CUDA device is present (the kernel itself is compiled by
// NVRTC in tests/cuda_codegen_test.cpp on every machine).
#include <gtest/gtest.h>

#ifdef HORIZON_HAVE_CUDA

#include <cuda_runtime_api.h>

#include <bit>
#include <cmath>

#include "codegen/cpu/cpu_jit.h"
#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/device_memory.h"
#include "runtime/cuda/device_optimizer.h"
#include "tests/moments8_reference.h"

namespace horizon {
namespace {

using codegen::cpu::AdamWParams;
using runtime::cuda::check_cuda;
using runtime::cuda::DeviceMemory;
using runtime::cuda::DeviceOptimizer;

std::string why_no_device() {
  int n = 0;
  if (cudaError_t e = cudaGetDeviceCount(&n); e != cudaSuccess)
    return std::string("cudaGetDeviceCount: ") + cudaGetErrorName(e);
  return n == 0 ? "cudaGetDeviceCount returned 0" : "";
}

template <class T>
void up(const DeviceMemory& d, int64_t offset, const std::vector<T>& h) {
  check_cuda(cudaMemcpy(d.at(offset * static_cast<int64_t>(sizeof(T))), h.data(), h.size() * sizeof(T),
                        cudaMemcpyHostToDevice),
             "cudaMemcpy", "test upload");
}
template <class T>
std::vector<T> down(const DeviceMemory& d) {
  std::vector<T> h(static_cast<size_t>(d.bytes()) / sizeof(T));
  check_cuda(cudaMemcpy(h.data(), d.get(), static_cast<size_t>(d.bytes()), cudaMemcpyDeviceToHost), "cudaMemcpy",
             "test download");
  return h;
}

AdamWParams params(int64_t step) {
  AdamWParams p;
  p.lr = 1e-3f, p.beta1 = 0.9f, p.beta2 = 0.95f, p.eps = 1e-8f, p.weight_decay = 0.1f, p.grad_scale = 0.7f;
  p.bias_correction1 = 1.0f - std::pow(p.beta1, static_cast<float>(step));
  p.bias_correction2 = 1.0f - std::pow(p.beta2, static_cast<float>(step));
  return p;
}

// n parameters at element `offset` (a multiple of the block) of buffers padded by `pad` blocks.
std::string check(const DeviceOptimizer& opt, int64_t n, int64_t offset, bool specials, uint32_t seed) {
  std::vector<float> grad;
  const testing::Q8State before = testing::random_q8_state(n, grad, seed, specials);
  testing::Q8State cpu = before;
  const int64_t blocks = moment_blocks(n), first_block = offset / kMomentBlock, pad = 2 * kMomentBlock;
  const int64_t total = offset + n + pad, total_blocks = first_block + blocks + 2;
  DeviceMemory hi(total * 2, "w_hi"), lo(total * 2, "w_lo"), m(total, "m"), v(total, "v"), g(total * 4, "grad"),
      ms(total_blocks * 4, "m scales"), vs(total_blocks * 4, "v scales");
  for (const DeviceMemory* d : {&hi, &lo, &m, &v, &g, &ms, &vs})
    check_cuda(cudaMemset(d->get(), 0xff, static_cast<size_t>(d->bytes())), "cudaMemset", "poison");
  up(hi, offset, before.hi), up(lo, offset, before.lo), up(m, offset, before.m), up(v, offset, before.v);
  up(g, offset, grad), up(ms, first_block, before.m_scale), up(vs, first_block, before.v_scale);
  for (int64_t step = 1; step <= 3; ++step) {
    const AdamWParams p = params(step);
    codegen::cpu::CpuJit::get().adamw_blockwise()(n, cpu.hi.data(), cpu.lo.data(), cpu.m.data(), cpu.v.data(),
                                                  cpu.m_scale.data(), cpu.v_scale.data(), grad.data(), &p);
    opt.adamw(n, reinterpret_cast<uint16_t*>(hi.at(offset * 2)), reinterpret_cast<uint16_t*>(lo.at(offset * 2)),
              m.at(offset), v.at(offset), reinterpret_cast<const float*>(g.at(offset * 4)), p, nullptr,
              reinterpret_cast<float*>(ms.at(first_block * 4)), reinterpret_cast<float*>(vs.at(first_block * 4)));
  }
  check_cuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize", "adamw_update_blockwise");
  const auto h = down<uint16_t>(hi), l = down<uint16_t>(lo);
  const auto mc = down<uint8_t>(m), vc = down<uint8_t>(v);
  const auto msc = down<float>(ms), vsc = down<float>(vs);
  testing::Q8State gpu;
  gpu.hi.assign(h.begin() + offset, h.begin() + offset + n), gpu.lo.assign(l.begin() + offset, l.begin() + offset + n);
  gpu.m.assign(mc.begin() + offset, mc.begin() + offset + n),
      gpu.v.assign(vc.begin() + offset, vc.begin() + offset + n);
  gpu.m_scale.assign(msc.begin() + first_block, msc.begin() + first_block + blocks);
  gpu.v_scale.assign(vsc.begin() + first_block, vsc.begin() + first_block + blocks);
  std::string out = testing::compare_q8(gpu, cpu);
  for (int64_t i = 0; i < total; ++i)
    if ((i < offset || i >= offset + n) && (h[i] != 0xffff || l[i] != 0xffff || mc[i] != 0xff || vc[i] != 0xff)) {
      out += "  [" + std::to_string(i) + "] outside the range was written\n";
      break;
    }
  for (int64_t b = 0; b < total_blocks; ++b)
    if ((b < first_block || b >= first_block + blocks) &&
        (std::bit_cast<uint32_t>(msc[b]) != 0xffffffffu || std::bit_cast<uint32_t>(vsc[b]) != 0xffffffffu)) {
      out += "  scale [" + std::to_string(b) + "] outside the range was written\n";
      break;
    }
  return out;
}

TEST(CudaMoments8, BlockwiseAdamWMatchesTheCpuJit) {
  if (const std::string why = why_no_device(); !why.empty()) GTEST_SKIP() << "no CUDA device (" << why << ")";
  if (codegen::cpu::CpuJit::get().isa() == codegen::cpu::Isa::sse)
    GTEST_SKIP() << "the CPU JIT targets SSE (no FMA): its multiply-adds round twice";
  const DeviceOptimizer opt(codegen::cpu::MomentType::q8, 1);
  uint32_t seed = 1;
  for (int64_t n : {int64_t{1}, int64_t{255}, int64_t{256}, int64_t{257}, int64_t{4099}, (int64_t{1} << 20) + 3})
    for (int64_t offset : {int64_t{0}, 3 * kMomentBlock})
      for (bool specials : {false, true}) {
        SCOPED_TRACE("n " + std::to_string(n) + " offset " + std::to_string(offset) + (specials ? " specials" : ""));
        EXPECT_EQ(check(opt, n, offset, specials, seed++), "");
      }
}

}  // namespace
}  // namespace horizon

#endif  // HORIZON_HAVE_CUDA
