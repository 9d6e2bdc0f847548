// The probe never throws, so `--device auto` can ask on a machine without
// the NVIDIA driver; only an explicit cuda turns "no device" into an error.
#include "cli/device_option.h"

#include "support/error.h"
#ifdef HORIZON_HAVE_CUDA
#include "runtime/cuda/cuda_step.h"
#endif

namespace horizon::cli {

std::string resolve_device(const std::string& command, const std::string& requested) {
  if (requested != "cpu" && requested != "auto" && requested != "cuda")
    throw UserError("horizon " + command + ": --device must be cpu, cuda or auto, got '" + requested + "'");
  if (requested == "cpu") return "cpu";
#ifdef HORIZON_HAVE_CUDA
  std::string why;
  if (runtime::cuda::cuda_device_count(&why) > 0) return "cuda";
  if (requested == "cuda")
    throw UserError("horizon " + command + ": --device cuda: no usable CUDA device (" + why + "); use --device cpu");
#else
  if (requested == "cuda")
    throw UserError("horizon " + command +
                    ": --device cuda: this build has no CUDA backend (no CUDA toolkit at build time); "
                    "use --device cpu");
#endif
  return "cpu";
}

}  // namespace horizon::cli
