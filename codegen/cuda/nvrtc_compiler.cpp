#include "codegen/cuda/nvrtc_compiler.h"

#include <nvrtc.h>

#include <chrono>
#include <cstdlib>
#include <regex>

#ifndef HORIZON_CUDA_INCLUDE_DIR
#error "CMake defines HORIZON_CUDA_INCLUDE_DIR (the toolkit's include folder) for this file"
#endif

namespace horizon::codegen::cuda {
namespace {

/// Frees the program on every path out of compile().
struct Program {
  nvrtcProgram handle = nullptr;
  ~Program() {
    if (handle) nvrtcDestroyProgram(&handle);
  }
};

std::string log_of(nvrtcProgram p) {
  size_t size = 0;
  if (nvrtcGetProgramLogSize(p, &size) != NVRTC_SUCCESS || size <= 1) return "(no log)";
  std::string log(size, '\0');
  if (nvrtcGetProgramLog(p, log.data()) != NVRTC_SUCCESS) return "(log unavailable)";
  log.resize(size - 1);  // drop the terminating NUL
  return log;
}

}  // namespace

std::string nvrtc_version() {
  int major = 0, minor = 0;
  if (nvrtcVersion(&major, &minor) != NVRTC_SUCCESS) return "unknown";
  return std::to_string(major) + "." + std::to_string(minor);
}

std::string cuda_include_dir() {
  if (const char* d = std::getenv("HORIZON_CUDA_INCLUDE"); d && *d) return d;
  return HORIZON_CUDA_INCLUDE_DIR;
}

NvrtcCompiler::NvrtcCompiler(CompileOptions options)
    : options_(std::move(options)),
      cache_(!options_.use_cache          ? std::string()
             : options_.cache_dir.empty() ? CubinCache::default_dir()
                                          : options_.cache_dir) {
  if (!std::regex_match(options_.arch, std::regex("sm_[0-9]+[a-z]?")))
    throw std::invalid_argument("NvrtcCompiler: architecture '" + options_.arch +
                                "' is not a real GPU architecture such as sm_80 or sm_90 (a cubin needs one)");
}

std::vector<std::string> NvrtcCompiler::nvrtc_options() const {
  // No fast math: the kernels must match the CPU reference to 1e-4, which
  // approximate exp, division and sqrt would not.
  return {"--gpu-architecture=" + options_.arch, "-default-device", "-std=c++17", "-I" + cuda_include_dir()};
}

std::string NvrtcCompiler::cache_key(const KernelSource& source) const {
  std::string key = "nvrtc " + nvrtc_version() + "\n";
  for (const std::string& o : nvrtc_options()) key += o + "\n";
  return key + source.code;
}

Cubin NvrtcCompiler::compile(const KernelSource& source) {
  const std::vector<std::string> opts = nvrtc_options();
  const std::string key = cache_key(source);
  if (auto hit = cache_.load(key)) {
    ++cache_hits_;
    return Cubin{std::move(*hit), options_.arch, true, 0};
  }

  const auto start = std::chrono::steady_clock::now();
  auto fail = [&](const char* call, nvrtcResult r, const std::string& log) -> CompileError {
    return CompileError("NVRTC could not compile kernel " + source.describe() + " for " + options_.arch + ": " + call +
                        " returned " + nvrtcGetErrorString(r) + (log.empty() ? "" : "\n" + log));
  };
  Program prog;
  const std::string file = source.name + ".cu";
  if (nvrtcResult r = nvrtcCreateProgram(&prog.handle, source.code.c_str(), file.c_str(), 0, nullptr, nullptr);
      r != NVRTC_SUCCESS)
    throw fail("nvrtcCreateProgram", r, "");
  std::vector<const char*> argv;
  for (const std::string& o : opts) argv.push_back(o.c_str());
  if (nvrtcResult r = nvrtcCompileProgram(prog.handle, static_cast<int>(argv.size()), argv.data()); r != NVRTC_SUCCESS)
    throw fail("nvrtcCompileProgram", r, log_of(prog.handle));
  size_t size = 0;
  if (nvrtcResult r = nvrtcGetCUBINSize(prog.handle, &size); r != NVRTC_SUCCESS || size == 0)
    throw fail("nvrtcGetCUBINSize", r, log_of(prog.handle));
  Cubin cubin{std::vector<char>(size), options_.arch, false, 0};
  if (nvrtcResult r = nvrtcGetCUBIN(prog.handle, cubin.image.data()); r != NVRTC_SUCCESS)
    throw fail("nvrtcGetCUBIN", r, log_of(prog.handle));
  cubin.compile_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  ++compilations_;
  cache_.store(key, cubin.image);
  return cubin;
}

}  // namespace horizon::codegen::cuda
