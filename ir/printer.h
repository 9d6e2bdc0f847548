// The stable text form of the graph IR. parse_module(print_module(m)) == m and
// printing again gives the same bytes; golden tests depend on both.
#pragma once

#include <string>

#include "ir/module.h"

namespace horizon::ir {

std::string print_module(const Module& m);
std::string print_stage(const Stage& s);

}  // namespace horizon::ir
