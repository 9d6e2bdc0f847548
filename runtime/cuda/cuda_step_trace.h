// A measured CUDA step as a Chrome trace (JSON "traceEvents", viewable in
// Perfetto or chrome://tracing), in the format of plan/chrome_trace.h so the
// simulated and the real step of one schedule open side by side: one lane
// per stream — compute, H2D and D2H from CUDA event timestamps, the CPU
// optimizer from the host clock — and one slice per instruction that took
// time, waits included as the time they held their stream.
#pragma once

#include <string>

#include "ir/schedule.h"
#include "runtime/cuda/cuda_schedule_executor.h"

namespace horizon::runtime::cuda {

/// The trace as JSON text; times in microseconds since the step began.
/// `title` names the process lane ("step 20 of tiny on NVIDIA H100").
std::string cuda_trace_json(const ir::Schedule& s, const CudaStepMeasurements& m, const std::string& title);

/// Writes cuda_trace_json to `path` atomically; UserError if it cannot.
void write_cuda_trace(const std::string& path, const ir::Schedule& s, const CudaStepMeasurements& m,
                      const std::string& title);

}  // namespace horizon::runtime::cuda
