// NVRTC, loaded on first use: this file defines the NVRTC functions Horizon
// calls, each forwarding to the library opened with dlopen
// (support/shared_library.h says why it is not linked). The definitions
// take their signatures from nvrtc.h, so a mismatch does not compile.
#include <nvrtc.h>

#include "support/shared_library.h"

namespace horizon::codegen::cuda {
namespace {

struct Nvrtc {
  SharedLibrary lib{{HORIZON_NVRTC_SONAME, HORIZON_CUDA_LIBRARY_DIR "/" HORIZON_NVRTC_SONAME},
                    "compiling CUDA kernels needs the CUDA toolkit's NVRTC (set LD_LIBRARY_PATH to its lib64 folder), "
                    "or use --device cpu"};
  decltype(&::nvrtcCompileProgram) compile;
  decltype(&::nvrtcCreateProgram) create;
  decltype(&::nvrtcDestroyProgram) destroy;
  decltype(&::nvrtcGetCUBIN) cubin;
  decltype(&::nvrtcGetCUBINSize) cubin_size;
  decltype(&::nvrtcGetErrorString) error_string;
  decltype(&::nvrtcGetProgramLog) log;
  decltype(&::nvrtcGetProgramLogSize) log_size;
  decltype(&::nvrtcVersion) version;

  Nvrtc() {
    resolve(lib, "nvrtcCompileProgram", compile);
    resolve(lib, "nvrtcCreateProgram", create);
    resolve(lib, "nvrtcDestroyProgram", destroy);
    resolve(lib, "nvrtcGetCUBIN", cubin);
    resolve(lib, "nvrtcGetCUBINSize", cubin_size);
    resolve(lib, "nvrtcGetErrorString", error_string);
    resolve(lib, "nvrtcGetProgramLog", log);
    resolve(lib, "nvrtcGetProgramLogSize", log_size);
    resolve(lib, "nvrtcVersion", version);
  }
};

const Nvrtc& api() {
  static const Nvrtc loaded;  // thread-safe, once
  return loaded;
}

}  // namespace
}  // namespace horizon::codegen::cuda

using horizon::codegen::cuda::api;

extern "C" {

nvrtcResult nvrtcCompileProgram(nvrtcProgram prog, int num_options, const char* const* options) {
  return api().compile(prog, num_options, options);
}
nvrtcResult nvrtcCreateProgram(nvrtcProgram* prog, const char* src, const char* name, int num_headers,
                               const char* const* headers, const char* const* include_names) {
  return api().create(prog, src, name, num_headers, headers, include_names);
}
nvrtcResult nvrtcDestroyProgram(nvrtcProgram* prog) { return api().destroy(prog); }
nvrtcResult nvrtcGetCUBIN(nvrtcProgram prog, char* cubin) { return api().cubin(prog, cubin); }
nvrtcResult nvrtcGetCUBINSize(nvrtcProgram prog, size_t* bytes) { return api().cubin_size(prog, bytes); }
const char* nvrtcGetErrorString(nvrtcResult result) { return api().error_string(result); }
nvrtcResult nvrtcGetProgramLog(nvrtcProgram prog, char* log) { return api().log(prog, log); }
nvrtcResult nvrtcGetProgramLogSize(nvrtcProgram prog, size_t* bytes) { return api().log_size(prog, bytes); }
nvrtcResult nvrtcVersion(int* major, int* minor) { return api().version(major, minor); }

}  // extern "C"
