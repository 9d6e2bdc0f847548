// The bridge from graph-IR instructions to the CPU kernels: a table of the
// stage's live tensors, and one dispatch that reads an instruction's
// attributes and shapes and calls the kernel of its op.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "ir/module.h"

namespace horizon::runtime {

/// The tensors of one stage run. Inputs and parameters are borrowed from the
/// caller; results are owned and freed after their last use — unless the
/// caller places them: a result given a home with place() is computed there,
/// and with a transient allocator every other result goes where it says (a
/// device runtime's arena), so a run allocates nothing itself.
class ValueTable {
 public:
  /// Storage of result `value` (`bytes` of fp32); must stay valid for the run.
  using TransientAllocator = std::function<float*(int value, int64_t bytes)>;

  ValueTable(const ir::Stage& stage, int64_t batch, int64_t seq);

  void bind(int value, const void* data);
  /// Result `value` is computed into `data` (a stage output or gradient).
  void place(int value, float* data);
  void set_transient_allocator(TransientAllocator allocator) { allocator_ = std::move(allocator); }
  /// What a loss divides its sum by: the targets >= 0 of the whole step
  /// (cpu/kernels.h), or -1 for those of this run's rows.
  void set_loss_count(int64_t count) { loss_count_ = count; }
  int64_t loss_count() const { return loss_count_; }
  float* allocate(int value);
  const float* f32(int value) const;
  const int32_t* i32(int value) const;
  /// Moves an owned tensor out (copies a borrowed one).
  std::vector<float> take(int value);
  /// Frees owned operands whose last use is instruction `index`, and results nobody reads.
  void release_dead(const ir::Instr& instr, int index, const std::vector<int>& last_use);

  int64_t elements(int value) const;
  int64_t live_bytes() const { return live_bytes_; }
  const ir::Stage& stage() const { return stage_; }
  int64_t batch() const { return batch_; }
  int64_t seq() const { return seq_; }

 private:
  const ir::Stage& stage_;
  int64_t batch_, seq_;
  std::vector<const void*> borrowed_;
  std::vector<float*> placed_;    // caller-provided homes of results (place())
  std::vector<float*> external_;  // results living in caller memory, null when not (yet) computed
  std::vector<std::vector<float>> owned_;
  TransientAllocator allocator_;
  int64_t live_bytes_ = 0;
  int64_t loss_count_ = -1;
};

/// Runs one instruction's kernel, allocating its results in `table`.
void dispatch_op(const ir::Instr& instr, ValueTable& table);

}  // namespace horizon::runtime
