// Parser of the graph IR text form (see printer.h). Errors are UserErrors of
// the form "FILE:LINE:COL: problem; fix".
#pragma once

#include <string>

#include "ir/module.h"

namespace horizon::ir {

/// `file` only names the source in error messages.
Module parse_module(const std::string& text, const std::string& file = "<ir>");

}  // namespace horizon::ir
