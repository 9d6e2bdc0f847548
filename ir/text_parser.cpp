#include "ir/text_parser.h"

#include <cctype>

#include "support/error.h"

namespace horizon::ir {
namespace {

bool name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'; }
bool number_char(char c) { return name_char(c) || c == '-' || c == '+'; }

}  // namespace

char Lexer::advance() {
  char c = s_[i_++];
  if (c == '\n') {
    ++line_;
    col_ = 1;
  } else {
    ++col_;
  }
  return c;
}

void Lexer::skip_space() {
  while (i_ < s_.size()) {
    if (std::isspace(static_cast<unsigned char>(s_[i_]))) {
      advance();
    } else if (s_.compare(i_, 2, "//") == 0) {
      while (i_ < s_.size() && s_[i_] != '\n') advance();
    } else {
      break;
    }
  }
}

Token Lexer::next() {
  skip_space();
  Token t;
  t.line = line_;
  t.col = col_;
  if (i_ >= s_.size()) return t;
  const char c = s_[i_];
  auto take_while = [&](bool (*f)(char)) {
    std::string out;
    while (i_ < s_.size() && f(s_[i_])) out += advance();
    return out;
  };
  if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
    t.kind = Token::ident;
    t.text = take_while(name_char);
  } else if (c == '%' || c == '^') {
    advance();
    t.kind = c == '%' ? Token::value : Token::event;
    t.text = take_while(name_char);
  } else if (c == '"') {
    advance();
    t.kind = Token::string;
    while (i_ < s_.size() && s_[i_] != '"' && s_[i_] != '\n') t.text += advance();
    if (i_ < s_.size() && s_[i_] == '"') {
      advance();
    } else {
      t.kind = Token::end;  // unterminated: reported as an unexpected end
      t.text = "\"";
    }
  } else if (std::isdigit(static_cast<unsigned char>(c)) ||
             ((c == '-' || c == '+') && i_ + 1 < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_ + 1])))) {
    t.kind = Token::number;
    t.text = std::string(1, advance());  // a sign may only lead
    t.text += take_while(number_char);
  } else {
    t.kind = Token::punct;
    t.text = std::string(1, advance());
  }
  return t;
}

Token TextParser::take() {
  Token t = tok_;
  tok_ = lex_.next();
  return t;
}

void TextParser::punct(const char* p) {
  if (!is_punct(p)) error(std::string("expected '") + p + "'");
  take();
}

void TextParser::keyword(const char* w) {
  if (!is_ident(w)) error(std::string("expected '") + w + "'");
  take();
}

Token TextParser::expect(Token::Kind k, const std::string& what) {
  if (tok_.kind != k) error("expected " + what);
  return take();
}

void TextParser::error(const std::string& msg, const std::string& fix) {
  std::string found = tok_.kind == Token::end ? "end of input" : "'" + tok_.text + "'";
  error_at(tok_, msg + " (found " + found + ")", fix);
}

void TextParser::error_at(const Token& t, const std::string& msg, const std::string& fix) {
  throw_user_error(file_ + ":" + std::to_string(t.line) + ":" + std::to_string(t.col), "", msg, fix);
}

}  // namespace horizon::ir
