// The tail of a step's optimizer work, run while the next step begins.
//
// With clipping, every update waits for the global gradient norm, so it
// cannot start before the whole backward is done; run in the step, the
// updates would leave the GPU idle for as long as they take. The schedule
// puts them after the norm in forward order (embedding, block 0, ...), and
// the executor returns from the step once the norm is known while this
// thread runs them. The next step's weight copies are the only readers of
// what they write: a copy of region r waits for the previous step's update
// of r and nothing else, so the next forward follows the updates layer by
// layer instead of waiting for all of them.
//
// Ordering rules the executors rely on (docs/schedule-ir.md, "Deferred
// updates"): the tail holds only optimizer_steps that follow the schedule's
// last synchronization with the GPU streams; a tail finishes before the
// next step's own CPU work starts (wait_idle), and anything else that reads
// the store — validation, checkpoints, the end of training — calls
// wait_idle first.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace horizon::runtime {

class UpdateTail {
 public:
  /// `region_done(r)` is how the work passed to start() reports that region
  /// r's update is complete.
  using RegionDone = std::function<void(int region)>;
  using Work = std::function<void(const RegionDone& region_done)>;

  explicit UpdateTail(int regions);
  /// Waits for queued work (its failure is dropped: nobody is left to tell).
  ~UpdateTail();
  UpdateTail(const UpdateTail&) = delete;
  UpdateTail& operator=(const UpdateTail&) = delete;

  /// Runs `work` on the tail thread as the updates of step `step`. The
  /// previous tail must be finished (call wait_idle first).
  void start(int64_t step, Work work);
  /// Blocks until every region in `regions` is updated through step `step`.
  /// Returns at once for a step that started no tail (it ran its updates
  /// inside it) or a negative one. Throws on the tail's failure instead of
  /// waiting for an update that will not come.
  void wait_regions(const std::vector<int>& regions, int64_t step);
  /// Blocks until no tail is running; rethrows (once) a failure of the last one.
  void wait_idle();

 private:
  void loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int64_t> updated_through_;  // per region: the last step whose update of it completed
  Work pending_;
  int64_t pending_step_ = -1;
  int64_t started_through_ = -1;  // the last step that started a tail
  bool busy_ = false, stop_ = false;
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace horizon::runtime
