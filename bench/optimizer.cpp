// bench_optimizer: throughput of the JIT-compiled AdamW (codegen/cpu) over a
// large parameter count, split across the global thread pool the runtime
// uses, next to the host's memory bandwidth measured in the same run. The
// optimizer is meant to be memory bound (DESIGN.md), so the figure that
// matters is achieved GB/s over the bandwidth of a kernel with the same
// access pattern (read-modify-write in place plus a read-only stream).
//
//   bench_optimizer [--params N] [--threads T] [--moments bf16|f32|8bit] [--iters K] [--isa auto|avx512|avx2|sse]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "codegen/cpu/cpu_jit.h"
#include "runtime/thread_pool.h"
#include "support/moment_quantization.h"

namespace {

namespace jit = horizon::codegen::cpu;
using horizon::runtime::ThreadPool;

struct Options {
  int64_t params = 256'000'000;
  int threads = 0;  // 0: the pool's default ($HORIZON_THREADS or all cores)
  jit::MomentType moments = jit::MomentType::bf16;
  int iters = 7;
  jit::Isa isa = jit::Isa::automatic;
};

[[noreturn]] void usage_error(const std::string& problem) {
  std::fprintf(
      stderr,
      "bench_optimizer: %s\nusage: bench_optimizer [--params N[k|M|G]] [--threads T] [--moments bf16|f32|8bit] "
      "[--iters K>=5] [--isa auto|avx512|avx2|sse]\n",
      problem.c_str());
  std::exit(1);
}

int64_t parse_count(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  std::string suffix = end ? end : "";
  double scale = suffix.empty() ? 1 : suffix == "k" ? 1e3 : suffix == "M" ? 1e6 : suffix == "G" ? 1e9 : 0;
  if (end == text.c_str() || scale == 0 || !(value * scale >= 1))
    usage_error(flag + " " + text + ": expected a positive count such as 1000000, 256M or 1.5G");
  return static_cast<int64_t>(value * scale);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc) usage_error(flag + ": missing value (or unknown flag)");
    std::string value = argv[++i];
    if (flag == "--params") {
      o.params = parse_count(flag, value);
    } else if (flag == "--threads") {
      o.threads = static_cast<int>(parse_count(flag, value));
    } else if (flag == "--iters") {
      o.iters = static_cast<int>(parse_count(flag, value));
      if (o.iters < 5) usage_error("--iters " + value + ": need at least 5 timed iterations for a median");
    } else if (flag == "--moments") {
      if (value != "bf16" && value != "f32" && value != "8bit")
        usage_error("--moments " + value + ": expected bf16, f32 or 8bit");
      o.moments = value == "bf16" ? jit::MomentType::bf16 : value == "f32" ? jit::MomentType::f32 : jit::MomentType::q8;
    } else if (flag == "--isa") {
      if (value == "auto")
        o.isa = jit::Isa::automatic;
      else if (value == "avx512")
        o.isa = jit::Isa::avx512;
      else if (value == "avx2")
        o.isa = jit::Isa::avx2;
      else if (value == "sse")
        o.isa = jit::Isa::sse;
      else
        usage_error("--isa " + value + ": expected auto, avx512, avx2 or sse");
    } else {
      usage_error("unknown flag " + flag);
    }
  }
  return o;
}

// Page-aligned, uninitialized: the first touch happens in the parallel fill,
// so pages land near the threads that stream them.
template <class T>
struct Buffer {
  std::unique_ptr<T, decltype(&std::free)> data{nullptr, &std::free};
  explicit Buffer(int64_t n) {
    size_t bytes = (static_cast<size_t>(n) * sizeof(T) + 4095) / 4096 * 4096;
    data.reset(static_cast<T*>(std::aligned_alloc(4096, bytes)));
    if (!data) throw std::runtime_error("bench_optimizer: cannot allocate " + std::to_string(bytes >> 20) + " MiB");
  }
  T* get() const { return data.get(); }
};

// Work is split in blocks of 4096 elements so every thread's range starts on a
// cache line (and a page for 4-byte elements).
constexpr int64_t kBlock = 4096;

void parallel_blocks(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  int64_t blocks = (n + kBlock - 1) / kBlock;
  ThreadPool::global().parallel_for(blocks, 1,
                                    [&](int64_t b0, int64_t b1) { fn(b0 * kBlock, std::min(n, b1 * kBlock)); });
}

// A per-element hash mapped to [lo, hi): deterministic, parallel and not zero.
float random_uniform(uint64_t i, uint64_t stream, float lo, float hi) {
  uint64_t z = i * 0x9E3779B97F4A7C15ull + stream * 0xD1B54A32D192ED03ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return lo + (hi - lo) * static_cast<float>(z >> 40) * 0x1p-24f;
}

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double seconds_of(const std::function<void()>& run) {
  auto t0 = std::chrono::steady_clock::now();
  run();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Two 512 MiB float arrays for the bandwidth kernels: a copy (8 bytes counted
// per element; the write-allocate read of `a` is real traffic but not
// counted, as STREAM does) and an in-place triad a = a + s*b (12 bytes, all
// of it real: the access pattern of the optimizer).
struct BandwidthProbe {
  static constexpr int64_t n = int64_t{1} << 27;
  Buffer<float> a{n}, b{n};

  BandwidthProbe() {
    parallel_blocks(n, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i)
        a.get()[i] = random_uniform(i, 1, -1, 1), b.get()[i] = random_uniform(i, 2, -1, 1);
    });
  }
  void copy() {
    float* pa = a.get();
    const float* pb = b.get();
    parallel_blocks(n, [&](int64_t i0, int64_t i1) { std::memcpy(pa + i0, pb + i0, (i1 - i0) * sizeof(float)); });
  }
  void triad() {
    float* pa = a.get();
    const float* pb = b.get();
    parallel_blocks(n, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) pa[i] = pa[i] + 0.5f * pb[i];
    });
  }
};

// The optimizer's exact memory traffic with next to no arithmetic: reads the
// five streams, writes four back, each element moved by d in {0, +-1} (from
// the gradient's sign, so the gradient must be read). Running it with +1 then
// -1 restores the data. On few cores this is a better ceiling than the triad:
// a core's bandwidth is limited by its outstanding misses, and five streams
// keep more in flight than two.
template <class Moment>
void same_traffic(int64_t n, uint16_t* hi, uint16_t* lo, Moment* m, Moment* v, const float* grad, int sign) {
  parallel_blocks(n, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      int32_t d = sign * static_cast<int32_t>(bits(grad[i]) >> 31);
      hi[i] = static_cast<uint16_t>(hi[i] + d);
      lo[i] = static_cast<uint16_t>(lo[i] + d);
      m[i] = static_cast<Moment>(m[i] + d);
      v[i] = static_cast<Moment>(v[i] + d);
    }
  });
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  // The global pool reads $HORIZON_THREADS when first used; nothing has used it yet.
  if (o.threads > 0) setenv("HORIZON_THREADS", std::to_string(o.threads).c_str(), 1);
  const int threads = ThreadPool::global().size();
  const int64_t n = o.params;
  const bool bf16 = o.moments == jit::MomentType::bf16;
  const bool q8 = o.moments == jit::MomentType::q8;
  const int64_t moment_bytes = jit::moment_plane_bytes(o.moments);

  jit::CpuJit* compiler = nullptr;
  try {
    compiler = &jit::CpuJit::get(o.isa);
  } catch (const std::runtime_error& e) {
    usage_error(e.what());
  }
  jit::AdamWFn adamw = q8 ? nullptr : compiler->adamw(o.moments);
  jit::BlockwiseAdamWFn adamw_blockwise = q8 ? compiler->adamw_blockwise() : nullptr;
  static_assert(kBlock % horizon::kMomentBlock == 0, "bench chunks must hold whole quantization blocks");

  // Exactly what the kernel loads and stores per parameter: both weight
  // planes, m and v are read and written back, the fp32 gradient only read.
  const int64_t read_bytes = 2 + 2 + moment_bytes + moment_bytes + 4;
  const int64_t write_bytes = 2 + 2 + moment_bytes + moment_bytes;
  const int64_t bytes_per_param = read_bytes + write_bytes;

  std::printf("AdamW, JIT %s, %s moments: %lld params, %d threads, %.2f GiB of state and gradient\n",
              jit::isa_name(compiler->isa()), jit::moment_type_name(o.moments), static_cast<long long>(n), threads,
              static_cast<double>(n) * read_bytes / (1 << 30));
  std::fflush(stdout);

  Buffer<uint16_t> hi(n), lo(n);
  Buffer<char> m(n * moment_bytes), v(n * moment_bytes);
  Buffer<float> grad(n);
  const int64_t scale_blocks = horizon::moment_blocks(n);
  Buffer<float> m_scale(q8 ? scale_blocks : 1), v_scale(q8 ? scale_blocks : 1);
  for (int64_t b = 0; q8 && b < scale_blocks; ++b) m_scale.get()[b] = 1e-3f, v_scale.get()[b] = 1e-3f;
  parallel_blocks(n, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      uint32_t w = bits(random_uniform(i, 3, -0.05f, 0.05f));
      hi.get()[i] = static_cast<uint16_t>(w >> 16);
      lo.get()[i] = static_cast<uint16_t>(w);
      float mi = random_uniform(i, 4, -1e-3f, 1e-3f), vi = random_uniform(i, 5, 0.0f, 1e-6f);
      if (q8) {
        reinterpret_cast<uint8_t*>(m.get())[i] = static_cast<uint8_t>(bits(mi) >> 13);
        reinterpret_cast<uint8_t*>(v.get())[i] = static_cast<uint8_t>(bits(vi) >> 13);
      } else if (bf16) {
        reinterpret_cast<uint16_t*>(m.get())[i] = static_cast<uint16_t>(bits(mi) >> 16);
        reinterpret_cast<uint16_t*>(v.get())[i] = static_cast<uint16_t>(bits(vi) >> 16);
      } else {
        reinterpret_cast<float*>(m.get())[i] = mi;
        reinterpret_cast<float*>(v.get())[i] = vi;
      }
      grad.get()[i] = random_uniform(i, 6, -1e-2f, 1e-2f);
    }
  });

  jit::AdamWParams p;
  p.weight_decay = 0.1f;
  auto step = [&](int t) {
    p.bias_correction1 = 1.0f - std::pow(p.beta1, static_cast<float>(t + 1));
    p.bias_correction2 = 1.0f - std::pow(p.beta2, static_cast<float>(t + 1));
    parallel_blocks(n, [&](int64_t i0, int64_t i1) {
      if (q8) {
        const int64_t b = i0 / horizon::kMomentBlock;
        adamw_blockwise(i1 - i0, hi.get() + i0, lo.get() + i0, reinterpret_cast<uint8_t*>(m.get()) + i0,
                        reinterpret_cast<uint8_t*>(v.get()) + i0, m_scale.get() + b, v_scale.get() + b, grad.get() + i0,
                        &p);
        return;
      }
      adamw(i1 - i0, hi.get() + i0, lo.get() + i0, m.get() + i0 * moment_bytes, v.get() + i0 * moment_bytes,
            grad.get() + i0, &p);
    });
  };
  // Bandwidth and optimizer iterations alternate, so a neighbour's load on a
  // shared machine skews both alike and the ratio stays meaningful.
  BandwidthProbe probe;
  step(0);  // warm-up: page faults, caches, branch predictors
  probe.copy();
  probe.triad();
  auto traffic = [&](int sign) {
    if (q8)
      same_traffic(n, hi.get(), lo.get(), reinterpret_cast<uint8_t*>(m.get()), reinterpret_cast<uint8_t*>(v.get()),
                   grad.get(), sign);
    else if (bf16)
      same_traffic(n, hi.get(), lo.get(), reinterpret_cast<uint16_t*>(m.get()), reinterpret_cast<uint16_t*>(v.get()),
                   grad.get(), sign);
    else
      same_traffic(n, hi.get(), lo.get(), reinterpret_cast<uint32_t*>(m.get()), reinterpret_cast<uint32_t*>(v.get()),
                   grad.get(), sign);
  };
  std::vector<double> step_s, copy_s, triad_s, traffic_s;
  for (int it = 1; it <= o.iters; ++it) {
    copy_s.push_back(seconds_of([&] { probe.copy(); }));
    triad_s.push_back(seconds_of([&] { probe.triad(); }));
    traffic_s.push_back(seconds_of([&] { traffic(it % 2 ? 1 : -1); }));
    step_s.push_back(seconds_of([&] { step(it); }));
  }
  if (o.iters % 2) traffic(-1);
  double seconds = median(step_s);
  double copy_gbs = 8.0 * BandwidthProbe::n / median(copy_s) / 1e9;
  double triad_gbs = 12.0 * BandwidthProbe::n / median(triad_s) / 1e9;
  double traffic_gbs = static_cast<double>(n * bytes_per_param) / median(traffic_s) / 1e9;
  double gparams = static_cast<double>(n) / seconds / 1e9;
  double gbs = gparams * static_cast<double>(bytes_per_param);

  std::printf("  bytes per param: %lld = read %lld (w_hi 2, w_lo 2, m %lld, v %lld, grad 4) + write %lld\n",
              static_cast<long long>(bytes_per_param), static_cast<long long>(read_bytes),
              static_cast<long long>(moment_bytes), static_cast<long long>(moment_bytes),
              static_cast<long long>(write_bytes));
  std::printf("  median of %d steps: %.1f ms (fastest %.1f)  ->  %.3f Gparam/s, %.1f GB/s\n", o.iters, seconds * 1e3,
              *std::min_element(step_s.begin(), step_s.end()) * 1e3, gparams, gbs);
  std::printf("memory bandwidth, medians of %d runs interleaved with the steps, %d threads, 2 x 512 MiB:\n", o.iters,
              threads);
  std::printf("  copy   a = b        %.1f GB/s (8 B/elt counted, write-allocate not)\n", copy_gbs);
  std::printf("  triad  a = a + s*b  %.1f GB/s (12 B/elt, in place like the optimizer)\n", triad_gbs);
  std::printf("  same traffic as AdamW, no math: %.1f GB/s (%lld B/param, on the optimizer's buffers)\n", traffic_gbs,
              static_cast<long long>(bytes_per_param));
  std::printf("AdamW achieved / triad: %.2f, / same-traffic: %.2f (1.0 = memory bound)\n", gbs / triad_gbs,
              gbs / traffic_gbs);
  return 0;
}
