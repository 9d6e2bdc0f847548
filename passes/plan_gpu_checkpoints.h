// plan_gpu_checkpoints: --host-checkpoints auto's decision, made last among
// the planning passes so that checkpoints get only the GPU memory nothing
// more valuable wants. Resident layers save PCIe traffic and CPU optimizer
// time every step, kept activations a quarter of the step's FLOPs; moving
// the checkpoints onto the GPU saves only their copies over PCIe (a D2H per
// block in forward, an H2D in backward) and costs a device copy on the
// compute stream for each instead. That is a gain only where the link is
// busy with streamed weights, which the checkpoints' copies would slow; with
// every layer resident the link carries nothing else and host checkpoints
// are free (the simulator agrees: llama-1b and llama2-7b fully resident on
// the H200 run 0.4-0.6 % slower with GPU checkpoints, a streamed 70B 0.4 %
// faster). So: on the GPU when some layer streams and the step fits its
// budget with them there (buffers, arena, resident layers, kept
// activations, the executor's reserve); otherwise on the host. The plan
// records why (StepPlan::checkpoint_place_why, printed by `horizon plan`).
// Needs: plan_offload, plan_resident, plan_kept_activations. Returns
// whether it moved the checkpoints to the GPU.
#pragma once

#include "passes/step_plan.h"

namespace horizon::passes {

bool plan_gpu_checkpoints(StepPlan& plan);

}  // namespace horizon::passes
