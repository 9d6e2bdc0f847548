// Two consecutive steps of a schedule as one program, for predicting the
// steady state when a step's updates run into the next one (deferred
// updates, docs/schedule-ir.md): the executor starts step 2 once step 1's
// GPU streams are done and its cpu stream has passed the last grad_norm;
// step 2's cpu work follows step 1's; and a stream_in of step 2 waits for
// step 1's update of every region it copies from. Records and waits on
// events of their own express those rules, so the verifier can prove the
// overlap race-free and the simulator can time the steady state with
// nothing new.
#pragma once

#include <vector>

#include "ir/schedule.h"

namespace horizon::ir {

/// The cpu instructions after the schedule's last grad_norm, when all are
/// optimizer_steps (records right after the norm, which let resident
/// regions' GPU updates start, stay in the step): what the executor runs
/// after the step returns. Empty when nothing is deferred (no clipping).
std::vector<int> deferred_updates(const Schedule& s);

struct StepPair {
  Schedule schedule;
  /// Per instruction of `schedule`: the step (0 or 1) and the instruction of
  /// the original it copies, or -1 for the records and waits added.
  std::vector<int> step, original;
  /// The added records that mark where step 2 may begin (one per GPU stream
  /// and one after the last grad_norm).
  std::vector<int> joins;
};

/// `s` twice, joined as the executor joins steps. Requires deferred_updates(s)
/// to be non-empty.
StepPair step_pair(const Schedule& s);

}  // namespace horizon::ir
