// Chrome trace export of a simulated step. Slice names are the instruction
// without its operands ("stream_in block[3]", "launch block.bwd[3] mb=1"),
// which is what a reader scans for; the full line and the bytes go to args.
#include "plan/chrome_trace.h"

#include <nlohmann/json.hpp>

#include "support/atomic_file.h"

namespace horizon::plan {
using Json = nlohmann::ordered_json;

std::string chrome_trace_json(const ir::Schedule& s, const SimResult& r) {
  Json events = Json::array();
  events.push_back({{"name", "process_name"}, {"ph", "M"}, {"pid", 0}, {"args", {{"name", "step of " + s.model}}}});
  for (int k = 0; k < ir::kNumStreams; ++k) {
    events.push_back({{"name", "thread_name"},
                      {"ph", "M"},
                      {"pid", 0},
                      {"tid", k},
                      {"args", {{"name", ir::stream_name(static_cast<ir::Stream>(k))}}}});
    events.push_back(
        {{"name", "thread_sort_index"}, {"ph", "M"}, {"pid", 0}, {"tid", k}, {"args", {{"sort_index", k}}}});
  }
  for (size_t i = 0; i < s.instrs.size() && i < r.times.size(); ++i) {
    const ir::SchedInstr& in = s.instrs[i];
    double dur = r.times[i].end - r.times[i].start;
    if (dur <= 0) continue;
    events.push_back({{"name", ir::instr_label(in)},
                      {"cat", in.op == ir::SchedOp::wait ? "wait" : ir::sched_op_name(in.op)},
                      {"ph", "X"},
                      {"pid", 0},
                      {"tid", static_cast<int>(in.stream)},
                      {"ts", r.times[i].start * 1e6},
                      {"dur", dur * 1e6},
                      {"args", {{"instruction", static_cast<int64_t>(i)}, {"text", ir::print_instr(s, in)}}}});
  }
  Json doc = {{"traceEvents", events}, {"displayTimeUnit", "ms"}};
  return doc.dump() + "\n";
}

void write_chrome_trace(const std::string& path, const ir::Schedule& s, const SimResult& r) {
  AtomicFileWriter out(path, "trace");
  out.write(chrome_trace_json(s, r));
  out.commit();
}

}  // namespace horizon::plan
