// The packed-document inputs seen from the model as written. A model lowered
// for packed data (passes/add_document_inputs) has %positions and %segments
// block inputs that rope and attention read; readers that need the graph the
// model file describes — a Hugging Face export — take them out again.
#pragma once

#include "ir/module.h"

namespace horizon::ir {

/// Removes %positions and %segments from `s`: the stage inputs, the values and
/// the optional last operand of each rope, attention and their gradients.
/// Returns whether the stage had them.
bool remove_document_inputs(Stage& s);

}  // namespace horizon::ir
