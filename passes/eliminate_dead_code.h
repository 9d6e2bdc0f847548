// eliminate_dead_code: removes instructions none of whose results reach a
// stage output or a parameter gradient — in backward stages, the recomputed
// forward ops whose values the VJPs never read. Values left without a
// definition are dropped and the rest renumbered. Returns whether anything was
// removed.
#pragma once

#include "ir/module.h"

namespace horizon::passes {

bool eliminate_dead_code(ir::Module& m);
/// The same for one stage.
bool eliminate_dead_code_in_stage(ir::Stage& s);

}  // namespace horizon::passes
