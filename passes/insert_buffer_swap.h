// insert_buffer_swap: gives every streamed weight use of the plain schedule
// a GPU slot and streams the weights into it. The uses are the binds of
// store ranges, in program order; each takes the slot already holding its
// region, else the least recently used slot not needed again before it
// (furthest-next-use would pin the embedding, used first and last, and
// leave one slot for every block: no overlap). Its stream_in (the region's
// bf16 weights and the tied tensors it binds from other regions) is issued
// up to `prefetch` uses ahead, right before the bind that first may; a use
// whose slot is still needed waits for a later bind. The bind and the
// launches that read the weights then name the slot. Adds the slots after
// %store. Needs: lower_to_schedule and plan_buffer_slots' slots and
// prefetch. Returns whether it inserted anything (not when every region is
// resident).
#pragma once

#include "ir/schedule.h"
#include "passes/step_plan.h"

namespace horizon::passes {

bool insert_buffer_swap(const StepPlan& plan, ir::Schedule& schedule);

}  // namespace horizon::passes
