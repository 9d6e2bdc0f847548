// The tokenizer and parsing helpers shared by the graph IR and schedule IR
// parsers: identifiers, %values, ^events, "strings", numbers (1e-05 too) and
// punctuation, with // comments; errors are UserErrors "FILE:LINE:COL: ...".
#pragma once

#include <string>

namespace horizon::ir {

struct Token {
  enum Kind { ident, value, event, string, number, punct, end } kind = end;
  std::string text;
  int line = 1, col = 1;
};

class Lexer {
 public:
  explicit Lexer(const std::string& text) : s_(text) {}
  Token next();

 private:
  char advance();
  void skip_space();
  const std::string& s_;
  size_t i_ = 0;
  int line_ = 1, col_ = 1;
};

/// Base of the IR parsers: the current token and the expect/error helpers.
class TextParser {
 protected:
  TextParser(const std::string& text, const std::string& file) : lex_(text), file_(file) { tok_ = lex_.next(); }

  Token take();
  bool is_punct(const char* p) const { return tok_.kind == Token::punct && tok_.text == p; }
  bool is_ident(const char* w) const { return tok_.kind == Token::ident && tok_.text == w; }
  void punct(const char* p);
  void keyword(const char* w);
  Token expect(Token::Kind k, const std::string& what);
  /// An error about what was expected here: says what was found instead.
  [[noreturn]] void error(const std::string& msg, const std::string& fix = "");
  /// An error about token `t` itself, whose text the message already quotes.
  [[noreturn]] void error_at(const Token& t, const std::string& msg, const std::string& fix = "");

  Lexer lex_;
  std::string file_;
  Token tok_;
};

}  // namespace horizon::ir
