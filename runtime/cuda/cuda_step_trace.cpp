// Slice names are the instruction without its operands ("stream_in
// block[3]", "launch block.bwd[3] mb=1"), as in the simulated trace; the
// full line goes to args.
#include "runtime/cuda/cuda_step_trace.h"

#include <nlohmann/json.hpp>

#include "support/atomic_file.h"

namespace horizon::runtime::cuda {
namespace {

using Json = nlohmann::ordered_json;

const char* lane_name(ir::Stream s) {
  switch (s) {
    case ir::Stream::compute:
      return "compute (GPU)";
    case ir::Stream::h2d:
      return "H2D (PCIe)";
    case ir::Stream::d2h:
      return "D2H (PCIe)";
    case ir::Stream::cpu:
      return "CPU optimizer";
  }
  return "?";
}

}  // namespace

std::string cuda_trace_json(const ir::Schedule& s, const CudaStepMeasurements& m, const std::string& title) {
  Json events = Json::array();
  events.push_back({{"name", "process_name"}, {"ph", "M"}, {"pid", 0}, {"args", {{"name", title}}}});
  for (int k = 0; k < ir::kNumStreams; ++k) {
    events.push_back({{"name", "thread_name"},
                      {"ph", "M"},
                      {"pid", 0},
                      {"tid", k},
                      {"args", {{"name", lane_name(static_cast<ir::Stream>(k))}}}});
    events.push_back(
        {{"name", "thread_sort_index"}, {"ph", "M"}, {"pid", 0}, {"tid", k}, {"args", {{"sort_index", k}}}});
  }
  for (size_t i = 0; i < s.instrs.size() && i < m.spans.size(); ++i) {
    const ir::SchedInstr& in = s.instrs[i];
    const InstrSpan& t = m.spans[i];
    if (t.start < 0 || t.end <= t.start) continue;
    events.push_back({{"name", ir::instr_label(in)},
                      {"cat", in.op == ir::SchedOp::wait ? "wait" : ir::sched_op_name(in.op)},
                      {"ph", "X"},
                      {"pid", 0},
                      {"tid", static_cast<int>(in.stream)},
                      {"ts", t.start * 1e6},
                      {"dur", (t.end - t.start) * 1e6},
                      {"args", {{"instruction", static_cast<int64_t>(i)}, {"text", ir::print_instr(s, in)}}}});
  }
  Json doc = {{"traceEvents", events}, {"displayTimeUnit", "ms"}};
  return doc.dump() + "\n";
}

void write_cuda_trace(const std::string& path, const ir::Schedule& s, const CudaStepMeasurements& m,
                      const std::string& title) {
  AtomicFileWriter out(path, "trace");
  out.write(cuda_trace_json(s, m, title));
  out.commit();
}

}  // namespace horizon::runtime::cuda
