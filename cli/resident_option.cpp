#include "cli/resident_option.h"

#include "support/error.h"
#ifdef HORIZON_HAVE_CUDA
#include "runtime/cuda/stage_scratch.h"
#endif

namespace horizon::cli {

int64_t parse_resident(const std::string& command, const std::string& value) {
  if (value == "auto") return -1;
  size_t used = 0;
  int64_t n = -1;
  try {
    n = std::stoll(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != value.size() || n < 0)
    throw UserError("horizon " + command + ": --resident must be auto, 0 or a number of layers, got '" + value + "'");
  return n;
}

int64_t resident_layers(const ir::Schedule& schedule) {
  int64_t n = 0;
  for (const ir::SchedInstr& in : schedule.instrs)
    n += in.op == ir::SchedOp::optimizer_step && in.stream == ir::Stream::compute ? 1 : 0;
  return n;
}

ir::Schedule lower_for_gpu(const ir::Module& graph, passes::StreamingOptions options, const std::string& stop_after,
                           std::ostream* log, bool evaluation) {
  if (options.resident != 0) {
    passes::StreamingOptions streamed = options;
    streamed.resident = 0;
    const ir::Schedule s = passes::lower_to_schedule(graph, streamed);
    double scratch = 0;
#ifdef HORIZON_HAVE_CUDA
    scratch = static_cast<double>(runtime::cuda::planned_stage_scratch(s, graph));
#endif
    options.gpu_reserve_bytes += scratch + kResidentMarginBytes;
    if (evaluation) {
      // An upper bound: the step's arena and scratch are at least the forward's.
      const auto bytes = [&](const char* name) {
        const int b = s.find_buffer(name);
        return b >= 0 ? static_cast<double>(s.buffers[static_cast<size_t>(b)].bytes) : 0.0;
      };
      options.gpu_reserve_bytes += scratch + bytes("arena") + bytes("slot0") + bytes("x0") + bytes("x1");
    }
  }
  return passes::lower_to_schedule(graph, options, stop_after, log);
}

}  // namespace horizon::cli
