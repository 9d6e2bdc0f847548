// insert_events: synchronizes the program. The instruction list is the
// intended order; for every range an instruction reads or writes, the
// earlier conflicting accesses on other streams that are not yet ordered
// before it get a record right after the latest of them and a wait on this
// stream just before it (passes/schedule_builder.h: vector clocks, so no
// redundant wait). Existing records and waits are dropped first, so the
// pass also re-derives the events of an edited schedule. Needs: every pass
// that adds instructions (it runs last). Returns whether the list changed.
#pragma once

#include "ir/schedule.h"

namespace horizon::passes {

bool insert_events(ir::Schedule& schedule);

}  // namespace horizon::passes
