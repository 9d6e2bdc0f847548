// 8-bit Adam moments (support/moment_quantization.h, `--moments 8bit`): the
// maps, the quantizer's error bounds, the JIT's block-wise AdamW against a
// scalar reference byte for byte, AdamW with 8-bit moments against fp32
// moments on a small problem, the host store's layout, checkpoints, and a
// planted difference that the byte comparison (also the GPU test's) must catch.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "cli/checkpoint.h"
#include "codegen/cpu/cpu_jit.h"
#include "runtime/host_store.h"
#include "runtime/optimizer.h"
#include "support/moment_quantization.h"
#include "tests/moments8_reference.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

using codegen::cpu::AdamWParams;
using codegen::cpu::CpuJit;
using codegen::cpu::MomentType;

bool jit_fuses() { return CpuJit::get().isa() != codegen::cpu::Isa::sse; }

TEST(Moments8, MapsAreSortedAndSpanTheirRange) {
  for (const QuantizationMap* map : {&signed_dynamic_map(), &unsigned_dynamic_map()}) {
    EXPECT_TRUE(std::is_sorted(map->values.begin(), map->values.end()));
    EXPECT_EQ(std::adjacent_find(map->values.begin(), map->values.end()), map->values.end());  // no repeats
    EXPECT_EQ(map->values.back(), 1.0f);
    EXPECT_NE(std::find(map->values.begin(), map->values.end(), 0.0f), map->values.end());
    for (size_t k = 0; k < 255; ++k)
      EXPECT_TRUE(map->values[k] < map->thresholds[k] && map->thresholds[k] < map->values[k + 1]);
  }
  EXPECT_EQ(unsigned_dynamic_map().values.front(), 0.0f);
  EXPECT_GT(signed_dynamic_map().values.front(), -1.0f);
  EXPECT_LT(signed_dynamic_map().values.front(), -0.99f);
  // The smallest non-zero magnitudes sit near 1e-6 of the block's largest.
  EXPECT_NEAR(unsigned_dynamic_map().values[1], 0.325e-6f, 1e-12f);
}

TEST(Moments8, QuantizeGivesTheNearestValue) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f), exponent(-8.0f, 0.0f);
  for (const QuantizationMap* map : {&signed_dynamic_map(), &unsigned_dynamic_map()}) {
    const bool is_signed = map == &signed_dynamic_map();
    for (int k = 0; k < 20000; ++k) {
      float x = std::pow(10.0f, exponent(rng)) * (is_signed ? unit(rng) : std::fabs(unit(rng)));
      if (k < 255) x = map->thresholds[k];  // exactly on a midpoint: the lower value
      const int code = quantize(*map, x);
      // The code counts the thresholds below x, and its value is the nearest
      // (up to the rounding of a midpoint to float).
      EXPECT_EQ(code, std::count_if(map->thresholds.begin(), map->thresholds.end(), [&](float t) { return x > t; }));
      if (k < 255) {
        EXPECT_EQ(code, k);
      }
      for (int c = 0; c < 256; ++c)
        EXPECT_LE(std::fabs(static_cast<double>(map->values[code]) - x),
                  std::fabs(static_cast<double>(map->values[c]) - x) + 1.2e-7 * std::fabs(x))
            << x;
    }
    EXPECT_EQ(quantize(*map, std::nanf("")), 0);
  }
}

// The bucket table (the JIT's encoder) gives quantize()'s code for every
// float near every threshold, at the edges of the buckets, for specials and
// at random.
TEST(Moments8, EncodeTableEqualsTheSearch) {
  std::mt19937 rng(8);
  std::uniform_int_distribution<uint32_t> any_bits;
  for (const QuantizationMap* map : {&signed_dynamic_map(), &unsigned_dynamic_map()}) {
    const EncodeTable& table = encode_table(*map);
    std::vector<float> xs = {0.0f,
                             -0.0f,
                             1.0f,
                             -1.0f,
                             2.0f,
                             -2.0f,
                             INFINITY,
                             -INFINITY,
                             std::nanf(""),
                             -std::nanf(""),
                             1e-30f,
                             -1e-30f,
                             1.0000001f,
                             -1.0000001f,
                             std::ldexp(1.0f, -25),
                             -std::ldexp(1.0f, -25)};
    for (float t : map->thresholds)
      for (float x = std::nextafter(std::nextafter(t, -2.0f), -2.0f);
           x <= std::nextafter(std::nextafter(t, 2.0f), 2.0f); x = std::nextafter(x, 2.0f))
        xs.push_back(x);
    for (int k = 0; k < 100000; ++k) xs.push_back(std::bit_cast<float>(any_bits(rng)));
    for (float x : xs) ASSERT_EQ(quantize_by_table(table, x), quantize(*map, x)) << x;
  }
}

// Round trip of one block: the error is at most half the widest gap of the
// map times the block's scale (0.9/128 of it for m: 64 intervals over the top
// decade, 0.9/256 for v), and within 7.1 % (m) / 3.6 % (v) of the value for
// values in the top decade of the block.
TEST(Moments8, RoundTripErrorIsBounded) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> decades(-7.0f, 0.0f);
  for (const QuantizationMap* map : {&signed_dynamic_map(), &unsigned_dynamic_map()}) {
    const bool is_signed = map == &signed_dynamic_map();
    const double absolute = is_signed ? 0.9 / 128 : 0.9 / 256, relative = is_signed ? 0.071 : 0.036;
    for (int trial = 0; trial < 200; ++trial) {
      const int64_t n = trial % 3 == 0 ? 1 + trial % 256 : kMomentBlock;
      std::vector<float> x(static_cast<size_t>(n)), back(static_cast<size_t>(n));
      for (float& e : x) e = normal(rng) * std::pow(10.0f, decades(rng));
      if (!is_signed)
        for (float& e : x) e = std::fabs(e);
      std::vector<uint8_t> codes(static_cast<size_t>(n));
      float scale = -1;
      quantize_block(*map, x.data(), n, codes.data(), &scale);
      dequantize_block(*map, codes.data(), n, scale, back.data());
      float most = 0;
      for (float e : x) most = std::max(most, std::fabs(e));
      EXPECT_EQ(scale, most);
      for (int64_t i = 0; i < n; ++i) {
        const double err = std::fabs(static_cast<double>(back[i]) - x[i]);
        EXPECT_LE(err, absolute * scale * (1 + 1e-5)) << "x " << x[i] << " scale " << scale;
        if (std::fabs(x[i]) >= 0.1 * scale) {
          EXPECT_LE(err, relative * std::fabs(x[i])) << x[i];
        }
        if (x[i] == 0.0f) {
          EXPECT_EQ(back[i], 0.0f);
        }
      }
    }
  }
  // A block of zeros keeps scale 0 and decodes to zeros.
  std::vector<float> zeros(10, 0.0f), back(10, 1.0f);
  std::vector<uint8_t> codes(10);
  float scale = 1;
  quantize_block(signed_dynamic_map(), zeros.data(), 10, codes.data(), &scale);
  dequantize_block(signed_dynamic_map(), codes.data(), 10, scale, back.data());
  EXPECT_EQ(scale, 0.0f);
  EXPECT_EQ(back, zeros);
}

AdamWParams step_params(int64_t step, float lr) {
  AdamWParams p;
  p.lr = lr, p.beta1 = 0.9f, p.beta2 = 0.95f, p.eps = 1e-8f, p.weight_decay = 0.1f, p.grad_scale = 0.7f;
  p.bias_correction1 = 1.0f - std::pow(p.beta1, static_cast<float>(step));
  p.bias_correction2 = 1.0f - std::pow(p.beta2, static_cast<float>(step));
  return p;
}

void run_jit(testing::Q8State& s, const std::vector<float>& grad, const AdamWParams& p, CpuJit& jit = CpuJit::get()) {
  jit.adamw_blockwise()(s.size(), s.hi.data(), s.lo.data(), s.m.data(), s.v.data(), s.m_scale.data(), s.v_scale.data(),
                        grad.data(), &p);
}

// On each FMA target this host has (SSE's multiply-adds round twice; the reference fuses them).
TEST(Moments8, JitMatchesTheReferenceByteForByte) {
  if (!jit_fuses()) GTEST_SKIP() << "the JIT targets SSE (no FMA): the reference fuses its multiply-adds";
  uint32_t seed = 1;
  for (codegen::cpu::Isa isa : {codegen::cpu::Isa::avx512, codegen::cpu::Isa::avx2}) {
    CpuJit* jit = nullptr;
    try {
      jit = &CpuJit::get(isa);
    } catch (const std::runtime_error&) {
      continue;  // not on this host
    }
    SCOPED_TRACE(codegen::cpu::isa_name(isa));
    for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{255}, int64_t{256}, int64_t{257}, int64_t{1000}, int64_t{4099}})
      for (bool specials : {false, true}) {
        SCOPED_TRACE("n " + std::to_string(n) + (specials ? " with special gradients" : ""));
        std::vector<float> grad;
        testing::Q8State state = testing::random_q8_state(n, grad, seed++, specials);
        testing::Q8State ref = state;
        for (int64_t step = 1; step <= 3; ++step) {
          run_jit(state, grad, step_params(step, 1e-3f), *jit);
          testing::reference_adamw_q8(ref, grad, step_params(step, 1e-3f));
        }
        EXPECT_EQ(testing::compare_q8(state, ref), "");
      }
  }
}

// The checker the CPU and GPU tests rely on must see a single flipped byte.
TEST(Moments8, PlantedDifferencesAreCaught) {
  std::vector<float> grad;
  const testing::Q8State a = testing::random_q8_state(700, grad, 9, false);
  EXPECT_EQ(testing::compare_q8(a, a), "");
  auto planted = [&](auto&& plant) {
    testing::Q8State b = a;
    plant(b);
    return testing::compare_q8(b, a);
  };
  EXPECT_NE(planted([](testing::Q8State& s) { s.m[300] ^= 1; }).find("m code [300]"), std::string::npos);
  EXPECT_NE(planted([](testing::Q8State& s) { s.v[699] ^= 0x80; }).find("v code [699]"), std::string::npos);
  EXPECT_NE(planted([](testing::Q8State& s) { s.lo[5] ^= 1; }).find("w[5]"), std::string::npos);
  EXPECT_NE(planted([](testing::Q8State& s) { s.v_scale[2] = std::nextafter(s.v_scale[2], 1.0f); }).find("v scale [2]"),
            std::string::npos);
  // A quantizer bug (v encoded with m's signed map) is caught as well.
  testing::Q8State jit = a, wrong = a;
  run_jit(jit, grad, step_params(1, 1e-3f));
  testing::reference_adamw_q8(wrong, grad, step_params(1, 1e-3f));
  for (int64_t b = 0; b < moment_blocks(wrong.size()); ++b) {
    const int64_t first = b * kMomentBlock, len = std::min(kMomentBlock, wrong.size() - first);
    std::vector<float> v(static_cast<size_t>(len));
    dequantize_block(unsigned_dynamic_map(), &wrong.v[first], len, wrong.v_scale[b], v.data());
    quantize_block(signed_dynamic_map(), v.data(), len, &wrong.v[first], &wrong.v_scale[b]);
  }
  if (jit_fuses()) {
    EXPECT_NE(testing::compare_q8(jit, wrong).find("v code"), std::string::npos);
  }
}

// AdamW on a noisy diagonal quadratic whose curvatures span four decades
// (so a block's moments span decades too, the hard case for a per-block
// scale): 400 steps with 8-bit moments must reach the same loss as with fp32
// moments within 2 % and keep the weights within 2 % (RMS) of theirs. The
// quantization error of an update is at most ~0.7 % of the block's largest m
// and 0.35 % of its largest v per step, and Adam's averaging shrinks it; 2 %
// leaves room for the noise the two runs see differently once they diverge.
TEST(Moments8, AdamWTracksFp32Moments) {
  const int64_t n = 8192;
  std::mt19937 rng(17);
  std::uniform_real_distribution<float> decades(-3.0f, 1.0f);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> curvature(n), target(n);
  for (int64_t i = 0; i < n; ++i) curvature[i] = std::pow(10.0f, decades(rng)), target[i] = normal(rng);
  struct Run {
    std::vector<uint16_t> hi, lo;
    std::vector<char> m, v;  // fp32 moments
    testing::Q8State q;
  };
  auto init = [&] {
    Run r;
    for (int64_t i = 0; i < n; ++i) {
      const MasterPlanes p = split_master(0.0f);
      r.hi.push_back(p.hi), r.lo.push_back(p.lo);
    }
    r.m.assign(n * 4, 0), r.v.assign(n * 4, 0);
    r.q.hi = r.hi, r.q.lo = r.lo, r.q.m.assign(n, 0), r.q.v.assign(n, 0);
    r.q.m_scale.assign(moment_blocks(n), 0.0f), r.q.v_scale.assign(moment_blocks(n), 0.0f);
    return r;
  };
  Run f32 = init(), q8 = init();
  auto loss = [&](const std::vector<uint16_t>& hi, const std::vector<uint16_t>& lo) {
    double l = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double d = join_master(hi[i], lo[i]) - target[i];
      l += 0.5 * curvature[i] * d * d;
    }
    return l;
  };
  const double start = loss(f32.hi, f32.lo);
  std::vector<float> g_f32(n), g_q8(n);
  for (int64_t step = 1; step <= 400; ++step) {
    for (int64_t i = 0; i < n; ++i) {
      const float noise = 0.1f * curvature[i] * normal(rng);
      g_f32[i] = curvature[i] * (join_master(f32.hi[i], f32.lo[i]) - target[i]) + noise;
      g_q8[i] = curvature[i] * (join_master(q8.q.hi[i], q8.q.lo[i]) - target[i]) + noise;
    }
    AdamWParams p = step_params(step, 1e-2f);
    p.weight_decay = 0.0f, p.grad_scale = 1.0f;
    CpuJit::get().adamw(MomentType::f32)(n, f32.hi.data(), f32.lo.data(), f32.m.data(), f32.v.data(), g_f32.data(), &p);
    run_jit(q8.q, g_q8, p);
  }
  const double l_f32 = loss(f32.hi, f32.lo), l_q8 = loss(q8.q.hi, q8.q.lo);
  double diff = 0, norm = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double a = join_master(f32.hi[i], f32.lo[i]), b = join_master(q8.q.hi[i], q8.q.lo[i]);
    diff += (a - b) * (a - b), norm += a * a;
  }
  std::printf("  loss %.6g -> fp32 moments %.6g, 8-bit %.6g (%+.3f %%); weights differ by %.3f %% RMS\n", start, l_f32,
              l_q8, 100 * (l_q8 / l_f32 - 1), 100 * std::sqrt(diff / norm));
  EXPECT_LT(l_f32, 0.05 * start);
  EXPECT_NEAR(l_q8 / l_f32, 1.0, 0.02);
  EXPECT_LT(std::sqrt(diff / norm), 0.02);
}

TEST(Moments8, HostStoreKeepsScalesPerTensorBlock) {
  const ir::Module m = testing::lowered("tiny-qwen.json");
  runtime::HostStore store(m, MomentType::q8);
  EXPECT_EQ(store.bytes_per_parameter(), 6);
  EXPECT_EQ(store.moment_bytes(), 1);
  int64_t blocks = 0;
  for (size_t t = 0; t < store.tensors().size(); ++t) {
    const auto& st = store.tensors()[t];
    ASSERT_NE(store.m_scale(static_cast<int>(t)), nullptr);
    EXPECT_EQ(store.v_scale(static_cast<int>(t)) - store.m_scale(static_cast<int>(t)),
              store.regions()[static_cast<size_t>(st.region)].scale_blocks +
                  (store.regions()[static_cast<size_t>(st.region)].v_scale -
                   store.regions()[static_cast<size_t>(st.region)].m_scale -
                   store.regions()[static_cast<size_t>(st.region)].scale_blocks));
    blocks += moment_blocks(st.elements);
  }
  EXPECT_EQ(store.bytes(), store.parameter_count() * 6 + blocks * 8);
  runtime::HostStore bf16(m, MomentType::bf16);
  EXPECT_EQ(bf16.m_scale(0), nullptr);
}

// One optimizer update of a tensor through AdamWOptimizer (whole blocks per
// thread) gives the single-call JIT's bytes.
TEST(Moments8, OptimizerSplitsTensorsAtBlockBoundaries) {
  const ir::Module m = testing::lowered("tiny-qwen.json");
  runtime::HostStore store(m, MomentType::q8);
  store.init_random(4);
  int biggest = 0;
  for (size_t t = 0; t < store.tensors().size(); ++t)
    if (store.tensors()[t].elements > store.tensors()[static_cast<size_t>(biggest)].elements)
      biggest = static_cast<int>(t);
  const int64_t n = store.tensors()[static_cast<size_t>(biggest)].elements;
  std::vector<float> grad(static_cast<size_t>(n));
  std::mt19937 rng(2);
  std::normal_distribution<float> normal(0.0f, 1e-2f);
  for (float& g : grad) g = normal(rng);
  runtime::AdamWOptimizer opt(store, {});
  for (int step = 0; step < 2; ++step) {
    opt.begin_step();
    testing::Q8State want;
    want.hi.assign(store.w_hi(biggest), store.w_hi(biggest) + n);
    want.lo.assign(store.w_lo(biggest), store.w_lo(biggest) + n);
    want.m.assign(static_cast<uint8_t*>(store.m(biggest)), static_cast<uint8_t*>(store.m(biggest)) + n);
    want.v.assign(static_cast<uint8_t*>(store.v(biggest)), static_cast<uint8_t*>(store.v(biggest)) + n);
    want.m_scale.assign(store.m_scale(biggest), store.m_scale(biggest) + moment_blocks(n));
    want.v_scale.assign(store.v_scale(biggest), store.v_scale(biggest) + moment_blocks(n));
    const AdamWParams p = opt.params(biggest, 1e-3f, 1.0f, store.step());
    run_jit(want, grad, p);
    opt.update(biggest, grad.data(), 1e-3f, 1.0f);
    testing::Q8State got = want;
    got.hi.assign(store.w_hi(biggest), store.w_hi(biggest) + n);
    got.lo.assign(store.w_lo(biggest), store.w_lo(biggest) + n);
    got.m.assign(static_cast<uint8_t*>(store.m(biggest)), static_cast<uint8_t*>(store.m(biggest)) + n);
    got.v.assign(static_cast<uint8_t*>(store.v(biggest)), static_cast<uint8_t*>(store.v(biggest)) + n);
    got.m_scale.assign(store.m_scale(biggest), store.m_scale(biggest) + moment_blocks(n));
    got.v_scale.assign(store.v_scale(biggest), store.v_scale(biggest) + moment_blocks(n));
    EXPECT_EQ(testing::compare_q8(got, want), "");
  }
}

TEST(Moments8, CheckpointsKeepCodesAndScalesAndRefuseOtherMoments) {
  const ir::Module m = testing::lowered("tiny-qwen.json");
  runtime::HostStore store(m, MomentType::q8);
  store.init_random(6);
  {
    runtime::AdamWOptimizer opt(store, {});
    opt.begin_step();
    for (size_t t = 0; t < store.tensors().size(); ++t) {
      std::vector<float> g(static_cast<size_t>(store.tensors()[t].elements));
      for (size_t i = 0; i < g.size(); ++i) g[i] = 1e-3f * static_cast<float>(static_cast<int64_t>(i % 17) - 8);
      opt.update(static_cast<int>(t), g.data(), 1e-3f, 1.0f);
    }
  }
  testing::TempDir dir;
  cli::save_checkpoint(dir.path(), m, store);
  runtime::HostStore back(m, MomentType::q8);
  back.init_random(99);
  EXPECT_EQ(cli::resume_checkpoint(dir.path(), back).step, 1);
  for (size_t t = 0; t < store.tensors().size(); ++t) {
    const int i = static_cast<int>(t);
    const size_t n = static_cast<size_t>(store.tensors()[t].elements), blocks = static_cast<size_t>(moment_blocks(n));
    EXPECT_EQ(0, std::memcmp(store.m(i), back.m(i), n));
    EXPECT_EQ(0, std::memcmp(store.v(i), back.v(i), n));
    EXPECT_EQ(0, std::memcmp(store.m_scale(i), back.m_scale(i), blocks * 4));
    EXPECT_EQ(0, std::memcmp(store.v_scale(i), back.v_scale(i), blocks * 4));
  }
  runtime::HostStore bf16(m, MomentType::bf16);
  testing::expect_user_error([&] { cli::resume_checkpoint(dir.path(), bf16); },
                             {".exp_avg", "U8 (--moments 8bit)", "resume with --moments 8bit"});
  testing::TempDir other;
  cli::save_checkpoint(other.path(), m, bf16);
  runtime::HostStore q8(m, MomentType::q8);
  testing::expect_user_error([&] { cli::resume_checkpoint(other.path(), q8); },
                             {"BF16 (--moments bf16)", "resume with --moments bf16"});
}

}  // namespace
}  // namespace horizon
