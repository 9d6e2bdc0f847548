// fuse_elementwise: marks runs of two or more consecutive elementwise
// instructions over one [.., C] shape with a shared `group` attribute. Each
// group becomes one kernel (a JIT-compiled loop on the CPU, one NVRTC kernel
// on the GPU) whose internal values never reach memory. Only consecutive runs
// are grouped, so fusing never reorders work. Needs: autodiff and
// eliminate_dead_code (so backward elementwise chains are fused too).
// Returns whether any group was formed.
#pragma once

#include "ir/module.h"

namespace horizon::passes {

bool fuse_elementwise(ir::Module& m);

}  // namespace horizon::passes
