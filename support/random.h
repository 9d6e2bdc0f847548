// A small deterministic random generator (SplitMix64) with our own normal and
// bounded draws. The standard library's distributions differ between
// implementations; ours give the same numbers on every machine, so seeded
// initialization and sampling reproduce exactly.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

namespace horizon {

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}

  uint64_t next_u64() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  /// Uniform integer in [0, n), without modulo bias.
  uint64_t below(uint64_t n) {
    uint64_t limit = ~0ull - (~0ull % n);
    for (;;) {
      uint64_t r = next_u64();
      if (r < limit) return r % n;
    }
  }
  /// Standard normal (Box–Muller, one value per call).
  double normal() {
    double u1 = uniform(), u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  uint64_t state_;
};

/// A seed derived from a base seed and a name (FNV-1a), so per-tensor streams
/// do not depend on the order tensors are visited.
inline uint64_t seed_for(uint64_t base, const std::string& name) {
  uint64_t h = 1469598103934665603ull ^ base;
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  return h;
}

}  // namespace horizon
