// The simulated step as a Chrome trace (JSON "traceEvents"), viewable in
// Perfetto or chrome://tracing: one lane per stream, one slice per
// instruction that takes time, and the time a wait holds its stream.
#pragma once

#include <string>

#include "ir/schedule.h"
#include "plan/simulator.h"

namespace horizon::plan {

/// The trace as JSON text; times in microseconds.
std::string chrome_trace_json(const ir::Schedule& s, const SimResult& r);

/// Writes chrome_trace_json to `path` (atomically); UserError if it cannot.
void write_chrome_trace(const std::string& path, const ir::Schedule& s, const SimResult& r);

}  // namespace horizon::plan
