// add_document_inputs: lets a model train on packed documents (several
// documents per row, none attending to another). The forward `block` stage
// gets two inputs, %positions and %segments (i32[B, S]: each token's
// position within its document and its document's index within the row);
// every rope takes %positions and every attention %segments as their
// optional last operand. Run before autodiff, which hands both on to the
// gradient ops. A model trained on whole rows skips this pass and keeps its
// plain IR (and kernels). Returns whether anything changed (false when the
// stage already has the inputs).
#pragma once

#include "ir/module.h"

namespace horizon::passes {

bool add_document_inputs(ir::Module& m);

}  // namespace horizon::passes
