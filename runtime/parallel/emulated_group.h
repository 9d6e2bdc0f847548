// Several ranks in one process, each a thread, joined by shared memory:
// what the CPU test suite runs the data-parallel step on (the same code that
// NCCL serves across GPUs). Collectives block until every rank has called
// them, as NCCL's do. A rank that throws leaves the group, so the others
// finish instead of waiting forever (with wrong sums: run() rethrows, and the
// group cannot run again).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "runtime/parallel/communicator.h"

namespace horizon::runtime {

class EmulatedGroup {
 public:
  explicit EmulatedGroup(int ranks);
  ~EmulatedGroup();
  int size() const { return static_cast<int>(slots_.size()); }
  /// The communicator of `rank`; valid while the group lives.
  Communicator& rank(int r);
  /// Runs fn(rank) on one thread per rank and joins them; rethrows the first
  /// rank's exception (the others are released from their collectives).
  void run(const std::function<void(Communicator&)>& fn);

 private:
  class Rank;
  friend class Rank;
  void sync();
  void leave(int rank);
  std::vector<const void*> slots_;  // what each rank publishes for the collective in flight (null: left)
  // A barrier that ranks can leave (std::barrier's arrive_and_drop, which
  // libstdc++ 12 does not release reliably).
  std::mutex mu_;
  std::condition_variable cv_;
  int expected_, arrived_ = 0;
  uint64_t phase_ = 0;
  std::vector<std::unique_ptr<Rank>> ranks_;
  bool broken_ = false;  // a rank threw and left the barrier
};

}  // namespace horizon::runtime
