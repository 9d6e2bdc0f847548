// Memory tables of a schedule. Every line sums buffers of one kind (and
// place), so the totals equal Schedule::bytes and nothing is counted twice
// or forgotten when lowering adds a buffer of a known kind.
#include "plan/memory_table.h"

#include <algorithm>
#include <cstdio>

#include "ir/param_layout.h"
#include "support/numbers.h"

namespace horizon::plan {
namespace {

struct KindSum {
  double bytes = 0;
  int count = 0;
};

KindSum sum_of(const ir::Schedule& s, ir::Place place, ir::BufferKind kind) {
  KindSum k;
  for (const ir::Buffer& b : s.buffers)
    if (b.place == place && b.kind == kind) k.bytes += static_cast<double>(b.bytes), ++k.count;
  return k;
}

void add(MemoryTable& t, const std::string& what, double bytes, const std::string& note = "") {
  t.lines.push_back({what, bytes, note});
  t.total += bytes;
}

std::string count_note(const KindSum& k) {
  if (k.count <= 1) return "";
  return std::to_string(k.count) + " buffers";
}

}  // namespace

int64_t stored_params(const ir::Module& graph) {
  int64_t n = 0;
  for (const ir::RegionLayout& r : ir::layout_params(graph).regions) n += r.elements;
  return n;
}

MemoryTable host_memory(const ir::Schedule& s, const ir::Module& graph, double budget) {
  using ir::BufferKind;
  MemoryTable t;
  t.title = "host memory";
  t.budget = budget;
  const double params = static_cast<double>(stored_params(graph));
  const double store = sum_of(s, ir::Place::host, BufferKind::store).bytes;
  if (params > 0 && store > 0) {
    double moments = store - 4 * params;
    add(t, "bf16 weights (w_hi)", 2 * params, "2 B/param");
    add(t, "fp32 master low halves (w_lo)", 2 * params, "2 B/param");
    char note[32];
    std::snprintf(note, sizeof note, "%.3g B/param", moments / params);
    add(t, "Adam moments (m, v)", moments, note);
  } else {
    add(t, "host store", store);
  }
  KindSum slabs = sum_of(s, ir::Place::host, BufferKind::grad_slab);
  add(t, s.config.bf16_gradients ? "pinned gradient slabs (bf16)" : "pinned gradient slabs (fp32)", slabs.bytes,
      count_note(slabs));
  KindSum ckpt = sum_of(s, ir::Place::host, BufferKind::checkpoint);
  if (ckpt.count) add(t, "host checkpoints (pinned)", ckpt.bytes);
  // Anything else a future lowering places on the host still counts.
  double other = static_cast<double>(s.bytes(ir::Place::host)) - t.total;
  if (other > 0) add(t, "other host buffers", other);
  return t;
}

MemoryTable gpu_memory(const ir::Schedule& s, double budget) {
  using ir::BufferKind;
  MemoryTable t;
  t.title = "GPU memory";
  t.budget = budget;
  const std::pair<BufferKind, const char*> kinds[] = {{BufferKind::resident, "resident layers (planes)"},
                                                      {BufferKind::weight_slot, "weight slots (bf16)"},
                                                      {BufferKind::activations, "activations (fp32)"},
                                                      {BufferKind::kept, "kept activations (fp32)"},
                                                      {BufferKind::checkpoint, "checkpoints"},
                                                      {BufferKind::gradient, "gradients (fp32)"},
                                                      {BufferKind::workspace, "workspace arena"},
                                                      {BufferKind::batch_data, "batch data"},
                                                      {BufferKind::store, "resident store"},
                                                      {BufferKind::grad_slab, "gradient slabs"}};
  for (const auto& [kind, what] : kinds) {
    KindSum k = sum_of(s, ir::Place::gpu, kind);
    if (k.count) add(t, what, k.bytes, count_note(k));
  }
  return t;
}

std::string format_memory_table(const MemoryTable& t) {
  std::string out;
  char line[200];
  std::snprintf(line, sizeof line, "%s\n", t.title.c_str());
  out += line;
  for (const MemoryLine& l : t.lines) {
    std::snprintf(line, sizeof line, "  %-32s %12s%s%s\n", l.what.c_str(), format_bytes(l.bytes).c_str(),
                  l.note.empty() ? "" : "  ", l.note.c_str());
    out += line;
  }
  std::snprintf(line, sizeof line, "  %-32s %12s  of %s: %s\n", "total", format_bytes(t.total).c_str(),
                format_bytes(t.budget).c_str(), t.fits() ? "fits" : "DOES NOT FIT");
  out += line;
  return out;
}

std::string format_memory_plan(const ir::Schedule& s, const ir::Module& graph) {
  std::string out;
  char line[256];
  const ir::ScheduleConfig& c = s.config;
  std::snprintf(line, sizeof line, "memory plan of %s: batch %lld x seq %lld, %lld micro-batch(es)\n\nbuffers\n",
                s.model.c_str(), static_cast<long long>(c.batch), static_cast<long long>(c.seq),
                static_cast<long long>(c.micro_batches));
  out += line;
  for (const ir::Buffer& b : s.buffers) {
    std::snprintf(line, sizeof line, "  %%%-12s %-5s %-12s %18s  %s\n", b.name.c_str(), ir::place_name(b.place),
                  ir::buffer_kind_name(b.kind), format_count(b.bytes).c_str(),
                  format_bytes(static_cast<double>(b.bytes)).c_str());
    out += line;
  }
  std::snprintf(line, sizeof line, "  total: gpu %s, host %s\n",
                format_bytes(static_cast<double>(s.bytes(ir::Place::gpu))).c_str(),
                format_bytes(static_cast<double>(s.bytes(ir::Place::host))).c_str());
  out += line;
  for (const ir::ArenaPlan& a : s.arena_plans) {
    const ir::Stage* stage = graph.find_stage(a.stage);
    std::snprintf(line, sizeof line, "\narena %s: %s bytes (%s)\n", a.stage.c_str(), format_count(a.bytes).c_str(),
                  format_bytes(static_cast<double>(a.bytes)).c_str());
    out += line;
    std::vector<size_t> placed;
    for (size_t v = 0; v < a.offsets.size(); ++v)
      if (a.offsets[v] >= 0) placed.push_back(v);
    std::stable_sort(placed.begin(), placed.end(), [&](size_t x, size_t y) { return a.offsets[x] < a.offsets[y]; });
    for (size_t v : placed) {
      std::string name = stage && v < stage->values.size() ? "%" + stage->values[v].name : "value " + std::to_string(v);
      int64_t size = v < a.sizes.size() ? a.sizes[v] : 0;
      std::snprintf(line, sizeof line, "  %-24s %16s + %s\n", name.c_str(), format_count(a.offsets[v]).c_str(),
                    format_count(size).c_str());
      out += line;
    }
    for (size_t i = 0; i < a.scratch_offsets.size(); ++i) {
      if (a.scratch_offsets[i] < 0) continue;
      std::string name = "scratch of instruction " + std::to_string(i);
      if (stage && i < stage->instrs.size()) name += std::string(" (") + ir::op_name(stage->instrs[i].op) + ")";
      std::snprintf(line, sizeof line, "  %-24s %16s + %s\n", name.c_str(), format_count(a.scratch_offsets[i]).c_str(),
                    format_count(a.scratch_size(static_cast<int>(i))).c_str());
      out += line;
    }
  }
  return out;
}

}  // namespace horizon::plan
