// Splits a template into tokens with jinja2's lexing rules as transformers
// configures them: trim_blocks (one newline after %} or #} is dropped),
// lstrip_blocks (spaces before {% or {# on their own line are dropped), `-`
// and `+` whitespace control, {% raw %}, and the newline at the very end of
// the template removed (keep_trailing_newline off).
#pragma once

#include <string>
#include <vector>

namespace horizon::data::jinja {

/// 1-based position in the template.
struct Location {
  int line = 1;
  int column = 1;
};

/// A syntax error at a template position.
struct SyntaxError {
  Location where;
  std::string message;
};

enum class TokenType {
  kData,
  kVariableBegin,
  kVariableEnd,
  kBlockBegin,
  kBlockEnd,
  kName,
  kString,
  kInteger,
  kFloat,
  kOperator,
  kEnd
};

struct Token {
  TokenType type;
  std::string text;  // data, name, operator, the unescaped string, the number's digits
  Location where;
};

/// Tokens of `source` ending with kEnd; throws SyntaxError.
std::vector<Token> tokenize(const std::string& source);

/// "'%}'", "end of template", ... for messages.
std::string describe(const Token& token);

}  // namespace horizon::data::jinja
