#include "passes/lower_to_schedule.h"

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "passes/schedule_buffers.h"
#include "passes/schedule_builder.h"

namespace horizon::passes {
namespace {

using ir::Operand;
using ir::Range;
using ir::SchedInstr;
using ir::SchedOp;
using ir::Stream;

enum class UseKind { forward, recompute, backward };

struct WeightUse {
  int region;
  UseKind kind;
};

class Emitter {
 public:
  explicit Emitter(const StepPlan& p) : p_(p), b_(s_), buf_(p, s_) {}

  ir::Schedule run() {
    s_.model = p_.graph->name;
    s_.config = {p_.options.batch, p_.options.seq,    p_.options.micro_batches, p_.checkpoint_every,
                 p_.slots,         p_.prefetch,       p_.host_checkpoints,      p_.clip};
    s_.arena_plans = p_.arena_plans;
    plan_uses();
    forward();
    backward();
    if (p_.clip) {
      // Forward order (regions are numbered embedding, blocks, head): the
      // executor may run these while the next step begins, whose forward
      // then waits for each layer's update just before it streams it in.
      std::sort(update_order_.begin(), update_order_.end());
      for (int r : update_order_) optimizer_step(r);
    }
    b_.finish();
    return std::move(s_);
  }

 private:
  static Operand read(const char* role, Range r) { return Operand{role, r, false}; }
  static Operand write(const char* role, Range r) { return Operand{role, r, true}; }
  static SchedInstr instr(SchedOp op, Stream stream, const std::string& stage, int64_t instance, int64_t mb = -1) {
    SchedInstr in;
    in.op = op;
    in.stream = stream;
    in.stage = stage;
    in.instance = instance;
    in.micro_batch = mb;
    return in;
  }

  // ---- weight uses and slots ----
  int region(const std::string& stage, int64_t instance) const { return p_.params.region_of(stage, instance); }

  // The streamed regions' weight uses in program order (resident ones need no slot).
  void plan_uses() {
    const int64_t L = p_.layers, K = p_.checkpoint_every;
    auto use = [&](int r, UseKind kind) {
      if (!p_.is_resident(r)) uses_.push_back({r, kind});
    };
    use(region("embed", 0), UseKind::forward);
    for (int64_t l = 0; l < L; ++l) use(region("block", l), UseKind::forward);
    use(region("head", 0), UseKind::backward);
    for (int64_t a = (L - 1) / K * K; a >= 0; a -= K) {
      const int64_t b = std::min(a + K - 1, L - 1);
      for (int64_t j = a; j < b; ++j) use(region("block", j), UseKind::recompute);
      for (int64_t j = b; j >= a; --j) use(region("block", j), UseKind::backward);
    }
    use(region("embed", 0), UseKind::backward);
    slot_of_use_.assign(uses_.size(), -1);
    slot_region_.assign(static_cast<size_t>(p_.slots), -1);
    slot_last_use_.assign(static_cast<size_t>(p_.slots), -1);
  }

  size_t next_use(int region, size_t from) const {
    for (size_t i = from; i < uses_.size(); ++i)
      if (uses_[i].region == region) return i;
    return std::numeric_limits<size_t>::max();
  }

  // Issues stream_in for uses up to `current + prefetch` whose weights are not resident.
  void load_ahead(size_t current) {
    for (; next_load_ < uses_.size() && next_load_ <= current + static_cast<size_t>(p_.prefetch); ++next_load_) {
      const int r = uses_[next_load_].region;
      int slot = -1;
      for (int j = 0; j < p_.slots; ++j)
        if (slot_region_[static_cast<size_t>(j)] == r) slot = j;
      if (slot < 0) {
        // Least recently used among the slots not needed again before this
        // load's use (furthest-next-use would pin the embedding, used first
        // and last, and leave one slot for every block: no overlap).
        for (int j = 0; j < p_.slots; ++j) {
          const int held = slot_region_[static_cast<size_t>(j)];
          if (held >= 0 && next_use(held, current) <= next_load_) continue;
          if (slot < 0 || slot_last_use_[static_cast<size_t>(j)] < slot_last_use_[static_cast<size_t>(slot)]) slot = j;
        }
        if (slot < 0) return;  // every slot is still needed: load later
        stream_in(r, slot);
        slot_region_[static_cast<size_t>(slot)] = r;
      }
      slot_of_use_[next_load_] = slot;
      slot_last_use_[static_cast<size_t>(slot)] = static_cast<int64_t>(next_load_);
    }
  }

  void stream_in(int r, int slot) {
    SchedInstr in = instr(SchedOp::stream_in, Stream::h2d, p_.params.regions[static_cast<size_t>(r)].stage,
                          p_.params.regions[static_cast<size_t>(r)].instance);
    const auto& region = p_.params.regions[static_cast<size_t>(r)];
    in.operands.push_back(read("src", Range{buf_.store, buf_.store_offset[static_cast<size_t>(r)], region.elements * 2}));
    in.operands.push_back(write("dst", Range{buf_.slots[static_cast<size_t>(slot)], 0, region.elements * 2}));
    // Tied tensors of other regions follow the region's own weights in the slot.
    std::vector<int64_t> offsets = ir::slot_offsets(p_.params, r);
    for (size_t k = 0; k < region.bound.size(); ++k) {
      const auto& t = p_.params.tensors[static_cast<size_t>(region.bound[k])];
      if (t.region == r) continue;
      in.operands.push_back(read("src", Range{buf_.store, buf_.store_offset[static_cast<size_t>(t.region)] + t.offset * 2, t.elements * 2}));
      in.operands.push_back(write("dst", Range{buf_.slots[static_cast<size_t>(slot)], offsets[k] * 2, t.elements * 2}));
    }
    b_.emit(in);
  }

  // Binds region r's weights for its next use: a resident region's own
  // planes, or a streamed region's slot (loaded ahead as the uses allow).
  Range weights(int r) {
    if (p_.is_resident(r)) {
      const auto& region = p_.params.regions[static_cast<size_t>(r)];
      Range w = buf_.resident_planes(r);
      w.bytes = region.elements * 2;  // the w_hi plane comes first
      SchedInstr bind = instr(SchedOp::bind, Stream::compute, region.stage, region.instance);
      bind.operands.push_back(read("weights", w));
      b_.emit(bind);
      return w;
    }
    if (next_use_ >= uses_.size() || uses_[next_use_].region != r)
      throw std::logic_error("lower_to_schedule: weight uses out of order");
    return acquire(next_use_++);
  }

  // Makes use `u`'s weights present in a slot and bound; returns the weights range.
  Range acquire(size_t u) {
    load_ahead(u);
    if (slot_of_use_[u] < 0) throw std::logic_error("lower_to_schedule: no weight slot for use " + std::to_string(u));
    int64_t n = 0;
    ir::slot_offsets(p_.params, uses_[u].region, &n);
    Range weights{buf_.slots[static_cast<size_t>(slot_of_use_[u])], 0, n * 2};
    const auto& region = p_.params.regions[static_cast<size_t>(uses_[u].region)];
    SchedInstr bind = instr(SchedOp::bind, Stream::compute, region.stage, region.instance);
    bind.operands.push_back(read("weights", weights));
    b_.emit(bind);
    return weights;
  }

  Operand arena() const { return write("arena", buf_.whole(buf_.arena)); }

  // A block's packed documents (micro-batch mb's rows), when the model has them.
  void add_documents(std::vector<Operand>& operands, int64_t mb) const {
    if (buf_.segments < 0) return;
    operands.push_back(read("positions", buf_.batch(buf_.positions, mb)));
    operands.push_back(read("segments", buf_.batch(buf_.segments, mb)));
  }

  // ---- forward ----
  void forward() {
    const int64_t M = p_.options.micro_batches;
    Range w = weights(region("embed", 0));
    for (int64_t mb = 0; mb < M; ++mb) {
      SchedInstr in = instr(SchedOp::launch, Stream::compute, "embed", 0, mb);
      in.operands = {read("weights", w), read("tokens", buf_.batch(buf_.tokens, mb)), write("y", buf_.act(buf_.x[0], mb)), arena()};
      b_.emit(in);
    }
    for (int64_t l = 0; l < p_.layers; ++l) {
      w = weights(region("block", l));
      for (int64_t mb = 0; mb < M; ++mb) {
        const Range x = buf_.act(buf_.x[l % 2], mb);
        if (l % p_.checkpoint_every == 0) {
          SchedInstr save = instr(SchedOp::save, p_.host_checkpoints ? Stream::d2h : Stream::compute, "block", l, mb);
          save.operands = {read("src", x), write("dst", buf_.checkpoint(l / p_.checkpoint_every, mb))};
          b_.emit(save);
        }
        SchedInstr in = instr(SchedOp::launch, Stream::compute, "block", l, mb);
        in.operands = {read("weights", w), read("x", x)};
        add_documents(in.operands, mb);
        in.operands.insert(in.operands.end(), {write("y", buf_.act(buf_.x[(l + 1) % 2], mb)), arena()});
        b_.emit(in);
      }
    }
  }

  // ---- backward ----
  // Host checkpoints: segments alternate between two halves of %seg, so a
  // restore overlaps the previous segment's backward instead of waiting for it.
  int64_t segment_base(int64_t a) const { return (a / p_.checkpoint_every) % 2 * p_.checkpoint_every; }

  // Where block j's input lives during the backward of its segment [a, b].
  Range block_input(int64_t j, int64_t a, int64_t mb) const {
    if (p_.host_checkpoints) return buf_.segment(segment_base(a) + j - a, mb);
    return j == a ? buf_.checkpoint(a / p_.checkpoint_every, mb) : buf_.segment(j - a - 1, mb);
  }

  void backward_launch(const std::string& stage, int64_t instance, Range w, std::vector<Operand> data, int q) {
    const int64_t M = p_.options.micro_batches;
    const int r = region(stage == "head.bwd" ? "head" : stage == "embed.bwd" ? "embed" : "block", instance);
    for (int64_t mb = 0; mb < M; ++mb) {
      SchedInstr in = instr(SchedOp::launch, Stream::compute, stage, instance, mb);
      in.accumulate = mb > 0;
      in.operands = {read("weights", w)};
      for (Operand& o : data) {
        Operand op = o;
        if (op.role == "x" || op.role == "dy" || op.role == "dx" || op.role == "tokens" || op.role == "targets" ||
            op.role == "loss" || op.role == "positions" || op.role == "segments" || op.role == "reference" ||
            op.role == "logps")
          op.range.offset = o.range.offset + mb * o.range.bytes;  // data operands are given for micro-batch 0
        in.operands.push_back(op);
      }
      const Range grad = p_.is_resident(r) ? buf_.resident_grad(r) : buf_.region_elements(buf_.gacc[q], r, 4);
      if (in.accumulate) in.operands.push_back(read("grad", grad));
      in.operands.push_back(write("grad", grad));
      if (stage == "head.bwd" && p_.tied_elements > 0) {
        if (in.accumulate) in.operands.push_back(read("grad_tied", buf_.whole(buf_.gacc_tied)));
        in.operands.push_back(write("grad_tied", buf_.whole(buf_.gacc_tied)));
      }
      in.operands.push_back(arena());
      b_.emit(in);
    }
    update_order_.push_back(r);
    if (p_.is_resident(r)) {
      // It stays: measured where it is, and without clipping updated at once.
      device_grad_norm(r);
      if (!p_.clip) optimizer_step(r);
      return;
    }
    // The gradient leaves the GPU as soon as the last micro-batch is done.
    const int slab = p_.clip ? buf_.slabs[static_cast<size_t>(r)] : buf_.slabs[static_cast<size_t>(next_slab_++ % 2)];
    SchedInstr off = instr(SchedOp::offload, Stream::d2h, p_.params.regions[static_cast<size_t>(r)].stage, instance);
    off.operands = {read("src", buf_.region_elements(buf_.gacc[q], r, 4)), write("dst", buf_.region_elements(slab, r, 4))};
    b_.emit(off);
    if (stage == "head.bwd" && p_.tied_elements > 0) {
      SchedInstr tied = instr(SchedOp::offload, Stream::d2h, "head", 0);
      tied.operands = {read("src", buf_.whole(buf_.gacc_tied)), write("dst", buf_.whole(buf_.tied_slab))};
      b_.emit(tied);
    }
    if (p_.clip)
      grad_norm(r, slab);
    else
      host_optimizer_step(r, slab);
  }

  // A resident region's per-tensor sums of squares, measured by the GPU
  // into host memory, where the CPU collects them into the global norm.
  void device_grad_norm(int r) {
    const auto& region = p_.params.regions[static_cast<size_t>(r)];
    SchedInstr in = instr(SchedOp::grad_norm, Stream::compute, region.stage, region.instance);
    in.operands = {read("grad", buf_.resident_grad(r)), write("norms", buf_.norm_shares(r))};
    b_.emit(in);
  }

  // The CPU's share of the norm from what the GPU measured; with clipping it
  // is the last grad_norm and hands the clip factor to the GPU's updates.
  void collect_norms() {
    if (buf_.norms < 0) return;
    SchedInstr in = instr(SchedOp::grad_norm, Stream::cpu, "", -1);
    in.operands.push_back(read("norms", buf_.whole(buf_.norms)));
    if (buf_.clip_scale >= 0) in.operands.push_back(write("scale", buf_.whole(buf_.clip_scale)));
    b_.emit(in);
  }

  // The region's share of the global norm, measured as soon as its slab
  // lands (the CPU is idle in the backward when clipping): only the last
  // share is left between the backward's end and the first update.
  void grad_norm(int r, int slab) {
    const auto& region = p_.params.regions[static_cast<size_t>(r)];
    SchedInstr in = instr(SchedOp::grad_norm, Stream::cpu, region.stage, region.instance);
    in.operands.push_back(read("grad", buf_.region_elements(slab, r, 4)));
    if (buf_.tied_slab >= 0 && r == region_of_tied()) in.operands.push_back(read("grad_tied", buf_.whole(buf_.tied_slab)));
    b_.emit(in);
  }

  void optimizer_step(int r) {
    if (!p_.is_resident(r)) return host_optimizer_step(r, buf_.slabs[static_cast<size_t>(r)]);
    const auto& region = p_.params.regions[static_cast<size_t>(r)];
    SchedInstr in = instr(SchedOp::optimizer_step, Stream::compute, region.stage, region.instance);
    in.operands.push_back(read("grad", buf_.resident_grad(r)));
    if (buf_.clip_scale >= 0) in.operands.push_back(read("scale", buf_.whole(buf_.clip_scale)));
    in.operands.push_back(write("params", buf_.resident_planes(r)));
    b_.emit(in);
  }

  void host_optimizer_step(int r, int slab) {
    const auto& region = p_.params.regions[static_cast<size_t>(r)];
    SchedInstr in = instr(SchedOp::optimizer_step, Stream::cpu, region.stage, region.instance);
    in.operands.push_back(read("grad", buf_.region_elements(slab, r, 4)));
    if (buf_.tied_slab >= 0 && r == region_of_tied()) in.operands.push_back(read("grad_tied", buf_.whole(buf_.tied_slab)));
    in.operands.push_back(write("params", Range{buf_.store, buf_.store_offset[static_cast<size_t>(r)], region.elements * p_.bytes_per_param}));
    b_.emit(in);
  }

  int region_of_tied() const {
    const auto& head = p_.params.regions[static_cast<size_t>(region("head", 0))];
    for (int t : head.bound)
      if (p_.params.tensors[static_cast<size_t>(t)].region != region("head", 0)) return p_.params.tensors[static_cast<size_t>(t)].region;
    return -1;
  }

  void backward() {
    const int64_t M = p_.options.micro_batches, L = p_.layers, K = p_.checkpoint_every;
    int q = 0, d = 0;  // gradient accumulator and dx buffer in rotation
    Range w = weights(region("head", 0));
    std::vector<Operand> head{read("x", buf_.act(buf_.x[L % 2], 0)), read("targets", buf_.batch(buf_.targets, 0))};
    if (buf_.reference >= 0) head.push_back(read("reference", buf_.rows(buf_.reference, 0)));
    head.insert(head.end(), {write("loss", Range{buf_.loss, 0, 4}), write("dx", buf_.act(buf_.dx[d], 0))});
    if (buf_.logps >= 0) head.push_back(write("logps", buf_.rows(buf_.logps, 0)));
    backward_launch("head.bwd", 0, w, head, q);
    q ^= 1;
    for (int64_t a = (L - 1) / K * K; a >= 0; a -= K) {
      const int64_t b = std::min(a + K - 1, L - 1);
      if (p_.host_checkpoints)
        for (int64_t mb = 0; mb < M; ++mb) {
          SchedInstr in = instr(SchedOp::restore, Stream::h2d, "block", a, mb);
          in.operands = {read("src", buf_.checkpoint(a / K, mb)), write("dst", buf_.segment(segment_base(a), mb))};
          b_.emit(in);
        }
      for (int64_t j = a; j < b; ++j) {
        w = weights(region("block", j));
        for (int64_t mb = 0; mb < M; ++mb) {
          SchedInstr in = instr(SchedOp::recompute, Stream::compute, "block", j, mb);
          in.operands = {read("weights", w), read("x", block_input(j, a, mb))};
          add_documents(in.operands, mb);
          in.operands.insert(in.operands.end(), {write("y", block_input(j + 1, a, mb)), arena()});
          b_.emit(in);
        }
      }
      for (int64_t j = b; j >= a; --j) {
        w = weights(region("block", j));
        std::vector<Operand> data = {read("x", block_input(j, a, 0))};
        add_documents(data, 0);
        data.insert(data.end(), {read("dy", buf_.act(buf_.dx[d], 0)), write("dx", buf_.act(buf_.dx[d ^ 1], 0))});
        backward_launch("block.bwd", j, w, data, q);
        q ^= 1;
        d ^= 1;
      }
    }
    w = weights(region("embed", 0));
    backward_launch("embed.bwd", 0, w, {read("tokens", buf_.batch(buf_.tokens, 0)), read("dy", buf_.act(buf_.dx[d], 0))}, q);
    collect_norms();
  }

  const StepPlan& p_;
  ir::Schedule s_;
  ScheduleBuilder b_;
  ScheduleBuffers buf_;
  std::vector<WeightUse> uses_;
  std::vector<int> slot_of_use_, slot_region_;
  std::vector<int64_t> slot_last_use_;
  size_t next_load_ = 0, next_use_ = 0;
  int64_t next_slab_ = 0;
  std::vector<int> update_order_;
};

}  // namespace

ir::Schedule emit_schedule(const StepPlan& plan) { return Emitter(plan).run(); }

}  // namespace horizon::passes
