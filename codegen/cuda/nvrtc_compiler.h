// Compiles generated kernel sources to cubins with NVRTC, for one GPU
// architecture, through the on-disk CubinCache. NVRTC needs no GPU and no
// driver, so every test run compiles every generated kernel; loading the
// cubins is the runtime's business (the CUDA runtime's library API), which
// keeps libcuda out of this library.
#pragma once

#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "codegen/cuda/cubin_cache.h"
#include "codegen/cuda/kernel_source.h"

namespace horizon::codegen::cuda {

struct CompileOptions {
  std::string arch = "sm_90";  // a real architecture: "sm_80", "sm_90", ...
  /// Where cubins are cached; empty uses CubinCache::default_dir().
  std::string cache_dir;
  bool use_cache = true;
};

struct Cubin {
  std::vector<char> image;
  std::string arch;
  bool from_cache = false;
  double compile_ms = 0;  // NVRTC time (0 on a cache hit)
};

/// A kernel NVRTC rejected: the message names the kernel, its shape
/// constants, the architecture, the failing NVRTC call and NVRTC's log.
class CompileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class NvrtcCompiler {
 public:
  explicit NvrtcCompiler(CompileOptions options = {});

  /// The cubin of `source` for options().arch: the cached one when an entry
  /// for the same source, architecture, NVRTC version and options exists,
  /// else compiled now and stored. Thread-safe. Throws CompileError.
  Cubin compile(const KernelSource& source);

  /// Everything that decides the cubin of `source`: NVRTC version, options, code.
  std::string cache_key(const KernelSource& source) const;

  const CompileOptions& options() const { return options_; }
  /// The resolved cache folder ("" when caching is off).
  const std::string& cache_dir() const { return cache_.dir(); }
  /// NVRTC compilations run so far (cache misses) and cache hits.
  int64_t compilations() const { return compilations_; }
  int64_t cache_hits() const { return cache_hits_; }

 private:
  std::vector<std::string> nvrtc_options() const;

  CompileOptions options_;
  CubinCache cache_;
  std::atomic<int64_t> compilations_{0}, cache_hits_{0};
};

/// NVRTC's version, "13.0".
std::string nvrtc_version();
/// The folder holding cuda_bf16.h: $HORIZON_CUDA_INCLUDE, else the toolkit's
/// include folder found at build time.
std::string cuda_include_dir();

}  // namespace horizon::codegen::cuda
