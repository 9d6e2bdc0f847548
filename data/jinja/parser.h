// Parses jinja2 template syntax (the statements and expression grammar of
// jinja2's own parser, with its operator precedence) into a syntax tree.
#pragma once

#include <string>

#include "data/jinja/ast.h"

namespace horizon::data::jinja {

/// Nesting deeper than this (brackets, operators, blocks) is a SyntaxError,
/// so no input can exhaust the stack.
constexpr int kMaxNestingDepth = 128;

/// Throws SyntaxError.
Template parse_template(const std::string& source);

}  // namespace horizon::data::jinja
