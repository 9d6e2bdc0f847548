// The schedule IR: the straight-line program of one training step over
// concrete resources — weight slots, activation and gradient buffers, host
// slabs — on four streams (compute, h2d, d2h, cpu) ordered by events. It is
// what the streaming runtime executes, what the simulator times and what the
// verifier proves race-free. Every instruction lists the byte ranges it reads
// and writes, so the verifier needs no knowledge of individual ops.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace horizon::ir {

enum class Stream { compute, h2d, d2h, cpu };
inline constexpr int kNumStreams = 4;
/// Bytes per micro-batch in a buffer of one float per row (DPO's %reference
/// and %logps): its rows, padded so every micro-batch's share starts 16-byte
/// aligned, as the CUDA kernels load 16 bytes at a time.
inline constexpr int64_t row_share_bytes(int64_t rows) { return (rows * 4 + 15) / 16 * 16; }
const char* stream_name(Stream s);
std::optional<Stream> parse_stream(const std::string& s);

/// Where a buffer lives.
enum class Place { gpu, host };
const char* place_name(Place p);
std::optional<Place> parse_place(const std::string& s);

/// What a buffer holds; drives the planner's memory table.
enum class BufferKind {
  store,        // the host store: weights, master, moments (host)
  weight_slot,  // one block instance's bf16 weights (gpu)
  activations,  // residual stream and its gradient per micro-batch (gpu)
  checkpoint,   // saved block inputs (gpu or pinned host)
  gradient,     // fp32 gradient accumulators (gpu)
  grad_slab,    // pinned host landing area of offloaded gradients
  workspace,    // the transient arena of stage launches (gpu)
  batch_data,   // tokens, targets and losses (gpu); norm shares and the clip factor (host)
  resident,     // the planes (w_hi, w_lo, m, v) of regions that stay on the GPU (gpu)
  kept,         // kept blocks' saved values, from their forward to their backward (gpu)
};
const char* buffer_kind_name(BufferKind k);
std::optional<BufferKind> parse_buffer_kind(const std::string& s);

struct Buffer {
  std::string name;  // without the leading '%'
  Place place = Place::gpu;
  BufferKind kind = BufferKind::workspace;
  int64_t bytes = 0;
};

/// A byte range [offset, offset + bytes) of a buffer.
struct Range {
  int buffer = -1;
  int64_t offset = 0;
  int64_t bytes = 0;
  bool operator==(const Range&) const = default;
  bool overlaps(const Range& o) const {
    return buffer == o.buffer && offset < o.offset + o.bytes && o.offset < offset + bytes;
  }
};

enum class SchedOp {
  stream_in,       // H2D of a stage instance's bf16 weights from the store into a slot
  bind,            // point a stage template at a slot (no data moves)
  launch,          // run a stage instance (forward, or backward incl. its internal recompute) on one micro-batch
  save,            // copy a block input to its checkpoint
  restore,         // copy a checkpoint back into an activation buffer
  recompute,       // rerun a block's forward from a restored checkpoint to regenerate the next block's input
  cast,            // on compute: a gradient accumulator's fp32 into bf16 in place, in the pair layout
                   // of support/bf16_gradient.h, right before its offload (config.bf16_gradients)
  offload,         // D2H of a stage instance's gradient accumulator into a host slab
  optimizer_step,  // AdamW on one stage instance: on cpu from its slab into the store, on compute
                   // from its GPU gradient into its %resident planes
  grad_norm,       // a share of the global gradient norm: on cpu of slabs, or collecting the
                   // shares compute measured (per tensor, into host memory) of resident regions
  record,          // record event on this stream
  wait,            // this stream waits for an event
  free,            // a buffer range is dead from here on (documentation for the planner and readers)
};
const char* sched_op_name(SchedOp op);
std::optional<SchedOp> parse_sched_op(const std::string& s);

/// A named operand: a role ("weights", "x", "y", "dy", "dx", "grad", "tokens",
/// "targets", "loss", "src", "dst", "slab", "params", "norms", "scale") and its range.
struct Operand {
  std::string role;
  Range range;
  bool write = false;  // false: read; true: written (a read-modify-write lists the range twice)
};

struct SchedInstr {
  SchedOp op = SchedOp::launch;
  Stream stream = Stream::compute;
  std::string stage;      // graph-IR stage ("block", "block.bwd", ...); empty for record/wait/free
  int64_t instance = -1;  // stage instance (layer), -1 when not applicable
  int64_t micro_batch = -1;
  int event = -1;           // record / wait
  bool accumulate = false;  // launch of a backward stage: add into the gradient accumulator instead of overwriting it
  std::vector<Operand> operands;
};

/// An instruction of `stage` instance `instance` (and micro-batch `mb`), no operands yet.
inline SchedInstr make_instr(SchedOp op, Stream stream, const std::string& stage, int64_t instance, int64_t mb = -1) {
  SchedInstr in;
  in.op = op;
  in.stream = stream;
  in.stage = stage;
  in.instance = instance;
  in.micro_batch = mb;
  return in;
}

struct ScheduleConfig {
  int64_t batch = 0;  // sequences per step (all micro-batches)
  int64_t seq = 0;
  int64_t micro_batches = 1;      // layer-major: each block's weights stream once for all of them
  int64_t checkpoint_every = 1;   // K: block inputs saved every K blocks
  int64_t slots = 2;              // weight slots on the GPU
  int64_t prefetch = 1;           // blocks streamed ahead of the one computing
  bool host_checkpoints = false;  // checkpoints offloaded to pinned host memory
  // Global-norm clipping needs every gradient before any update: each stage
  // instance then gets its own host slab and all optimizer steps follow the
  // last grad_norm (and may run into the next step: docs/schedule-ir.md).
  // Without clipping a layer is updated as soon as its gradient lands.
  bool clip = true;
  // Streamed gradients cross PCIe and land in their slabs as bf16 (a cast
  // before each offload; support/bf16_gradient.h), half the bytes of fp32.
  bool bf16_gradients = false;
};

/// plan_memory's placement of one stage's transient values in `%arena`.
/// A launch's stage inputs, outputs and gradients live in the schedule's
/// buffers (its operands); every other instruction result is a transient.
struct ArenaPlan {
  std::string stage;             // graph-IR stage: "block", "block.bwd", ...
  std::vector<int64_t> offsets;  // per graph-IR value of the stage: byte offset in %arena, -1 if not a transient
  std::vector<int64_t> sizes;    // per value: bytes (0 if not a transient)
  int64_t bytes = 0;             // high-water mark: max offset + size
  /// Per instruction of the stage (empty: none has any): byte offset of the
  /// scratch it uses only while it runs (the logits chunks of a fused lm
  /// head loss), -1 if none; and its bytes.
  std::vector<int64_t> scratch_offsets = {}, scratch_sizes = {};

  int64_t scratch_offset(int instr) const {
    return instr < static_cast<int>(scratch_offsets.size()) ? scratch_offsets[instr] : -1;
  }
  int64_t scratch_size(int instr) const {
    return instr < static_cast<int>(scratch_sizes.size()) ? scratch_sizes[instr] : 0;
  }
};

struct Schedule {
  std::string model;
  ScheduleConfig config;
  std::vector<Buffer> buffers;
  int events = 0;
  std::vector<SchedInstr> instrs;
  std::vector<ArenaPlan> arena_plans;

  int find_buffer(const std::string& name) const;
  int add_buffer(const std::string& name, Place place, BufferKind kind, int64_t bytes);
  /// Inserts a buffer at index `at`, renumbering the operands of the
  /// buffers after it (a pass that adds buffers keeps the documented order).
  int insert_buffer(int at, const std::string& name, Place place, BufferKind kind, int64_t bytes);
  /// Removes buffer `index`, which no operand may name, renumbering the operands of the buffers after it.
  void remove_buffer(int index);
  int64_t bytes(Place place) const;
};

/// Stable text form; parse_schedule(print_schedule(s)) prints identically.
std::string print_schedule(const Schedule& s);
/// One instruction's line of the text form, without indentation
/// ("h2d      stream_in block[0] (src: %store[0:64] r, dst: %slot0[0:64] w)").
std::string print_instr(const Schedule& s, const SchedInstr& in);
/// An instruction's short name, as traces label it: the op, the stage
/// instance, the micro-batch and the event ("stream_in block[3]",
/// "launch block.bwd[2] mb=1", "record ^e4").
std::string instr_label(const SchedInstr& in);
/// UserError "FILE:LINE:COL: problem" on malformed text.
Schedule parse_schedule(const std::string& text, const std::string& file = "<schedule>");

/// The verifier. Builds the happens-before order (program order per stream,
/// record -> wait edges) and proves: every range read is written by an
/// instruction ordered before the read (or is an input the step starts with:
/// store, batch data); no range is written while an unordered instruction may
/// read or write it; every gradient accumulator is offloaded before it is
/// overwritten; every stored stage instance gets exactly one optimizer_step.
/// Throws UserError naming both instructions of a race.
void verify_schedule(const Schedule& s);

}  // namespace horizon::ir
