// The step simulator. Time advances from one completion to the next: at each
// instant every stream that is not busy retires what takes no time (records,
// satisfied waits, binds, frees) until it starts real work or blocks on a
// wait, repeated until nothing changes, because a record retired on one
// stream may release a wait on a stream visited before it. Transfers are
// fluid: each PCIe lane runs at its one-direction rate, and while both lanes
// carry data their rates are scaled down together so their sum stays within
// the both-directions rate — the measured link shares that way, and it makes
// a long offload slow the stream_in it overlaps rather than queue behind it.
#include "plan/simulator.h"

#include <algorithm>
#include <limits>

#include "ir/step_pair.h"
#include "plan/cost_model.h"
#include "support/error.h"
#include "support/numbers.h"

namespace horizon::plan {
namespace {

struct StreamState {
  std::vector<int> program;  // instruction indices in program order
  size_t pc = 0;
  bool running = false;
  double remaining = 0;  // seconds, or bytes on a link
  bool done() const { return pc >= program.size(); }
  int current() const { return program[pc]; }
};

bool is_link(Resource r) { return r == Resource::h2d_link || r == Resource::d2h_link; }

std::string where(const ir::Schedule& s, int i) {
  return "instruction " + std::to_string(i) + " (" + ir::print_instr(s, s.instrs[i]).substr(0, 80) + ")";
}

[[noreturn]] void deadlock(const ir::Schedule& s, const std::vector<StreamState>& streams,
                           const std::vector<int>& recorded_by, double now) {
  std::string why;
  for (size_t k = 0; k < streams.size(); ++k) {
    const StreamState& st = streams[k];
    if (st.done()) continue;
    const ir::SchedInstr& w = s.instrs[st.current()];
    why += why.empty() ? "" : "; ";
    why += std::string(ir::stream_name(static_cast<ir::Stream>(k))) + " is held at " + where(s, st.current()) + ": ";
    int rec = w.event >= 0 && w.event < static_cast<int>(recorded_by.size()) ? recorded_by[w.event] : -1;
    if (rec < 0)
      why += "^e" + std::to_string(w.event) + " is never recorded";
    else
      why += "its record is " + where(s, rec) + ", which its stream has not reached";
  }
  throw_user_error("schedule \"" + s.model + "\"", "", "deadlock after " + format_double(now * 1e3) + " ms: " + why,
                   "a wait needs a record that its stream reaches without waiting on the waiter");
}

// Idle time, memory and the bottleneck, once times and busy are known.
void finish(SimResult& r, const ir::Schedule& s) {
  for (StreamUse& u : r.streams) u.idle = r.step_seconds - u.busy;
  r.gpu_bytes = s.bytes(ir::Place::gpu);
  r.host_bytes = s.bytes(ir::Place::host);
  const std::pair<ir::Stream, const char*> candidates[] = {{ir::Stream::h2d, "PCIe H2D"},
                                                           {ir::Stream::d2h, "PCIe D2H"},
                                                           {ir::Stream::compute, "GPU compute"},
                                                           {ir::Stream::cpu, "CPU optimizer"}};
  if (r.step_seconds > 0)
    for (const auto& [stream, name] : candidates) {
      double share = r.stream(stream).busy / r.step_seconds;
      if (share > r.bottleneck_share) r.bottleneck_share = share, r.bottleneck = name;
    }
}

SimResult simulate_once(const ir::Schedule& s, const ir::Module& graph, const Machine& machine) {
  const CostModel model(graph, s.config, machine);
  const int n = static_cast<int>(s.instrs.size());
  std::vector<InstrCost> costs(n);
  std::vector<StreamState> streams(ir::kNumStreams);
  int events = s.events;
  for (const ir::SchedInstr& in : s.instrs) events = std::max(events, in.event + 1);
  std::vector<int> recorded_by(events, -1);
  for (int i = 0; i < n; ++i) {
    const ir::SchedInstr& in = s.instrs[i];
    costs[i] = model.cost(in);
    streams[static_cast<size_t>(in.stream)].program.push_back(i);
    if (in.op == ir::SchedOp::record) {
      if (in.event < 0) throw_user_error("schedule \"" + s.model + "\"", where(s, i), "a record names no event");
      if (recorded_by[in.event] >= 0)
        throw_user_error("schedule \"" + s.model + "\"", where(s, i),
                         "^e" + std::to_string(in.event) + " is already recorded by " + where(s, recorded_by[in.event]),
                         "give every record its own event");
      recorded_by[in.event] = i;
    }
    if (in.op == ir::SchedOp::wait && in.event < 0)
      throw_user_error("schedule \"" + s.model + "\"", where(s, i), "a wait names no event");
  }

  SimResult r;
  r.times.assign(n, InstrTime{});
  std::vector<bool> reached(n, false);
  std::vector<double> event_time(events, -1);
  const double h2d_rate = machine.h2d_gbps * 1e9, d2h_rate = machine.d2h_gbps * 1e9;
  double now = 0;
  auto retire = [&](StreamState& st) {
    int i = st.current();
    r.times[i].end = now;
    if (costs[i].resource != Resource::none)
      r.streams[static_cast<size_t>(&st - streams.data())].busy += now - r.times[i].start;
    st.running = false;
    ++st.pc;
  };
  for (;;) {
    for (bool moved = true; moved;) {
      moved = false;
      for (StreamState& st : streams) {
        while (!st.running && !st.done()) {
          int i = st.current();
          const ir::SchedInstr& in = s.instrs[i];
          if (!reached[i]) reached[i] = true, r.times[i].start = now;
          if (in.op == ir::SchedOp::wait && event_time[in.event] < 0) break;  // blocked
          if (in.op == ir::SchedOp::record) event_time[in.event] = now;
          const InstrCost& c = costs[i];
          st.remaining = is_link(c.resource) ? c.bytes : c.seconds;
          if (c.resource == Resource::none || st.remaining <= 0) {
            retire(st);
            moved = true;
            continue;
          }
          st.running = true;
        }
      }
    }
    int lanes[2] = {0, 0};
    bool any = false, all_done = true;
    for (const StreamState& st : streams) {
      all_done &= st.done();
      if (!st.running) continue;
      any = true;
      Resource res = costs[st.current()].resource;
      if (res == Resource::h2d_link) ++lanes[0];
      if (res == Resource::d2h_link) ++lanes[1];
    }
    if (all_done) break;
    if (!any) deadlock(s, streams, recorded_by, now);
    double scale = lanes[0] && lanes[1] ? std::min(1.0, machine.bidir_gbps * 1e9 / (h2d_rate + d2h_rate)) : 1.0;
    auto rate = [&](const StreamState& st) {
      Resource res = costs[st.current()].resource;
      if (res == Resource::h2d_link) return h2d_rate * scale / lanes[0];
      if (res == Resource::d2h_link) return d2h_rate * scale / lanes[1];
      return 1.0;
    };
    double dt = std::numeric_limits<double>::infinity();
    for (const StreamState& st : streams)
      if (st.running) dt = std::min(dt, st.remaining / rate(st));
    now += dt;
    for (StreamState& st : streams) {
      if (!st.running) continue;
      double v = rate(st);
      st.remaining -= v * dt;
      if (st.remaining <= v * 1e-12) retire(st);  // within a picosecond of done
    }
  }

  r.step_seconds = now;
  for (int i = 0; i < n; ++i) {
    r.gemm_flops += costs[i].gemm_flops;
    if (costs[i].resource == Resource::h2d_link) r.h2d_bytes += costs[i].bytes;
    if (costs[i].resource == Resource::d2h_link) r.d2h_bytes += costs[i].bytes;
  }
  finish(r, s);
  return r;
}

// The second of two back-to-back steps: its window runs from the moment
// the executor may start it (the first step's joins) to its last GPU
// instruction or its own join, whichever is later; busy time is what any
// instruction of either step spent inside the window.
SimResult steady_state(const ir::Schedule& s, const ir::Module& graph, const Machine& machine) {
  const ir::StepPair pair = ir::step_pair(s);
  const SimResult both = simulate_once(pair.schedule, graph, machine);
  double begin = 0, end = 0;
  for (int j : pair.joins) begin = std::max(begin, both.times[static_cast<size_t>(j)].end);
  const int n = static_cast<int>(s.instrs.size());
  const std::vector<int> tail = ir::deferred_updates(s);
  SimResult r;
  r.times.assign(static_cast<size_t>(n), InstrTime{});
  for (size_t i = 0; i < pair.schedule.instrs.size(); ++i) {
    if (pair.step[i] != 1 || pair.original[i] < 0) continue;
    const int o = pair.original[i];
    const InstrTime& t = both.times[i];
    r.times[static_cast<size_t>(o)] = {t.start - begin, t.end - begin};
    const bool deferred = std::find(tail.begin(), tail.end(), o) != tail.end();
    if (!deferred) end = std::max(end, t.end);
  }
  r.step_seconds = end - begin;
  const CostModel model(graph, s.config, machine);
  for (size_t i = 0; i < pair.schedule.instrs.size(); ++i) {
    const ir::SchedInstr& in = pair.schedule.instrs[i];
    const InstrCost c = model.cost(in);
    if (c.resource == Resource::none || in.op == ir::SchedOp::wait) continue;
    const double overlap = std::min(end, both.times[i].end) - std::max(begin, both.times[i].start);
    if (overlap > 0) r.streams[static_cast<size_t>(in.stream)].busy += overlap;
    if (pair.step[i] != 1) continue;
    r.gemm_flops += c.gemm_flops;
    if (c.resource == Resource::h2d_link) r.h2d_bytes += c.bytes;
    if (c.resource == Resource::d2h_link) r.d2h_bytes += c.bytes;
  }
  finish(r, s);
  return r;
}

}  // namespace

SimResult simulate(const ir::Schedule& s, const ir::Module& graph, const Machine& machine) {
  return ir::deferred_updates(s).empty() ? simulate_once(s, graph, machine) : steady_state(s, graph, machine);
}

}  // namespace horizon::plan
