// The graph IR verifier: op arity, single definition, no use before
// definition, result types equal to the shape rules' (so a hand-edited dump
// with a wrong type is caught), and well-formed parameter and gradient lists.
#pragma once

#include <string>

#include "ir/module.h"

namespace horizon::ir {

/// Throws UserError naming the stage, the instruction and the problem.
void verify_module(const Module& m, const std::string& file = "");

}  // namespace horizon::ir
