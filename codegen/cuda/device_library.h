// The device code every generated kernel source starts with: vector loads
// and stores that widen bf16 to float, and warp, lane-group and block
// reductions whose summation order is fixed by the launch shape alone (so a
// kernel gives the same bits on every run).
#pragma once

namespace horizon::codegen::cuda {

/// CUDA C++ text; expects <cuda_bf16.h> to be included before it.
const char* device_library();

}  // namespace horizon::codegen::cuda
