// jinja2's lexer rules for the settings transformers uses (see lexer.h).
#include "data/jinja/lexer.h"

#include <algorithm>
#include <cctype>

#include "data/jinja/unicode.h"

namespace horizon::data::jinja {
namespace {

bool is_ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

bool all_python_space(std::string_view s) {
  if (s.empty()) return false;
  for (char32_t c : utf8_decode(s))
    if (!is_python_space(c)) return false;
  return true;
}

// The template with \r\n and \r read as \n and one final newline dropped.
std::string normalize_newlines(const std::string& source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out.push_back(source[i]);
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

class Lexer {
 public:
  explicit Lexer(std::string source) : src_(std::move(source)) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < src_.size(); ++i)
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
  }

  std::vector<Token> run() {
    if (const size_t bad = find_invalid_utf8(src_); bad != std::string::npos)
      fail(bad, "the template is not valid UTF-8 here");
    while (pos_ < src_.size()) {
      const size_t tag = find_tag_start(pos_);
      if (tag == std::string::npos) {
        emit(TokenType::kData, src_.substr(pos_), pos_);
        break;
      }
      std::string text = src_.substr(pos_, tag - pos_);
      const size_t text_at = pos_;
      const char kind = src_[tag + 1];
      size_t after = tag + 2;
      char sign = 0;
      if (after < src_.size() && (src_[after] == '-' || src_[after] == '+')) sign = src_[after++];
      strip_before_tag(text, sign, kind != '{');
      if (!text.empty()) emit(TokenType::kData, text, text_at);
      pos_ = after;
      if (kind == '#') {
        skip_comment(tag);
      } else if (kind == '%' && starts_raw(after)) {
        lex_raw(tag);
      } else {
        const bool block = kind == '%';
        emit(block ? TokenType::kBlockBegin : TokenType::kVariableBegin, block ? "{%" : "{{", tag);
        lex_tag(block);
      }
    }
    emit(TokenType::kEnd, "", src_.size());
    return std::move(tokens_);
  }

 private:
  Location where(size_t p) const {
    const auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), p) - 1;
    return {static_cast<int>(it - line_starts_.begin()) + 1, static_cast<int>(p - *it) + 1};
  }
  [[noreturn]] void fail(size_t p, const std::string& message) const { throw SyntaxError{where(p), message}; }
  void emit(TokenType type, std::string text, size_t at) { tokens_.push_back({type, std::move(text), where(at)}); }

  size_t find_tag_start(size_t from) const {
    for (size_t i = src_.find('{', from); i != std::string::npos; i = src_.find('{', i + 1))
      if (i + 1 < src_.size() && (src_[i + 1] == '%' || src_[i + 1] == '{' || src_[i + 1] == '#')) return i;
    return std::string::npos;
  }

  // `-` strips all whitespace before the tag; lstrip_blocks strips the spaces
  // between the line start and a block or comment tag alone on its line.
  void strip_before_tag(std::string& text, char sign, bool lstrip_applies) const {
    if (sign == '-') {
      text = python_strip(text, nullptr, false, true);
    } else if (sign != '+' && lstrip_applies) {
      const size_t line_pos = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
      if ((line_pos > 0 || line_starting_) && all_python_space(std::string_view(text).substr(line_pos)))
        text.resize(line_pos);
    }
  }

  // After %} or #}: `-` strips all following whitespace, `+` nothing, and
  // trim_blocks drops one newline.
  void consume_block_suffix(char sign) {
    if (sign == '-') {
      skip_python_space();
    } else if (sign != '+' && pos_ < src_.size() && src_[pos_] == '\n') {
      ++pos_;
    }
    line_starting_ = pos_ > 0 && src_[pos_ - 1] == '\n';
  }

  void skip_python_space() {
    while (pos_ < src_.size()) {
      if (is_ascii_space(src_[pos_])) {
        ++pos_;
        continue;
      }
      if (static_cast<unsigned char>(src_[pos_]) < 0x80) break;
      size_t len = 1;
      while (pos_ + len < src_.size() && (static_cast<unsigned char>(src_[pos_ + len]) >> 6) == 2) ++len;
      const std::u32string c = utf8_decode(std::string_view(src_).substr(pos_, len));
      if (c.size() != 1 || !is_python_space(c[0])) break;
      pos_ += len;
    }
  }

  void skip_comment(size_t tag) {
    const size_t end = src_.find("#}", pos_);
    if (end == std::string::npos) fail(tag, "missing end of comment tag");
    const char sign = end > pos_ && (src_[end - 1] == '-' || src_[end - 1] == '+') ? src_[end - 1] : 0;
    pos_ = end + 2;
    consume_block_suffix(sign);
  }

  // {% raw %} right after `{%` and its sign?
  bool starts_raw(size_t p) const {
    while (p < src_.size() && is_ascii_space(src_[p])) ++p;
    if (src_.compare(p, 3, "raw") != 0 || (p + 3 < src_.size() && is_name_char(src_[p + 3]))) return false;
    p += 3;
    while (p < src_.size() && is_ascii_space(src_[p])) ++p;
    return src_.compare(p, 2, "%}") == 0 || src_.compare(p, 3, "-%}") == 0;
  }

  void lex_raw(size_t tag) {
    pos_ = src_.find("%}", pos_);
    const bool strip_after = src_[pos_ - 1] == '-';
    pos_ += 2;
    if (strip_after) skip_python_space();
    line_starting_ = pos_ > 0 && src_[pos_ - 1] == '\n';
    for (size_t at = src_.find("{%", pos_); at != std::string::npos; at = src_.find("{%", at + 1)) {
      size_t p = at + 2;
      char sign = 0;
      if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) sign = src_[p++];
      while (p < src_.size() && is_ascii_space(src_[p])) ++p;
      if (src_.compare(p, 6, "endraw") != 0) continue;
      p += 6;
      while (p < src_.size() && is_ascii_space(src_[p])) ++p;
      char end_sign = 0;
      if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) end_sign = src_[p++];
      if (src_.compare(p, 2, "%}") != 0) continue;
      std::string text = src_.substr(pos_, at - pos_);
      const size_t text_at = pos_;
      strip_before_tag(text, sign, true);
      if (!text.empty()) emit(TokenType::kData, text, text_at);
      pos_ = p + 2;
      consume_block_suffix(end_sign);
      return;
    }
    fail(tag, "missing end of raw directive");
  }

  // Tokens up to the closing %} or }}, which only count outside brackets.
  void lex_tag(bool block) {
    std::vector<char> brackets;
    while (true) {
      if (pos_ >= src_.size())
        fail(pos_, std::string("unexpected end of template, expected '") + (block ? "%}" : "}}") + "'");
      if (brackets.empty() && lex_tag_end(block)) return;
      const char c = src_[pos_];
      const size_t start = pos_;
      if (is_ascii_space(c)) {
        ++pos_;
      } else if (is_digit(c)) {
        lex_number();
      } else if (is_name_start(c)) {
        while (pos_ < src_.size() && is_name_char(src_[pos_])) ++pos_;
        emit(TokenType::kName, src_.substr(start, pos_ - start), start);
      } else if (c == '\'' || c == '"') {
        lex_string();
      } else {
        static const char* const kOperators[] = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[",
                                                 "]",  "(",  ")",  "{",  "}",  ">",  "<", "=", ".", ":", "|", ",", ";"};
        const char* found = nullptr;
        for (const char* op : kOperators)
          if (src_.compare(pos_, std::char_traits<char>::length(op), op) == 0) {
            found = op;
            break;
          }
        if (!found) fail(pos_, std::string("unexpected char '") + c + "'");
        const std::string op = found;
        pos_ += op.size();
        if (op == "(" || op == "[" || op == "{") {
          brackets.push_back(op == "(" ? ')' : op == "[" ? ']' : '}');
        } else if (op == ")" || op == "]" || op == "}") {
          if (brackets.empty()) fail(start, "unexpected '" + op + "'");
          if (brackets.back() != op[0]) fail(start, "unexpected '" + op + "', expected '" + brackets.back() + "'");
          brackets.pop_back();
        }
        emit(TokenType::kOperator, op, start);
      }
    }
  }

  bool lex_tag_end(bool block) {
    const size_t start = pos_;
    if (block) {
      char sign = 0;
      if (src_.compare(pos_, 3, "+%}") == 0 || src_.compare(pos_, 3, "-%}") == 0) {
        sign = src_[pos_];
        pos_ += 3;
      } else if (src_.compare(pos_, 2, "%}") == 0) {
        pos_ += 2;
      } else {
        return false;
      }
      consume_block_suffix(sign);
      emit(TokenType::kBlockEnd, "%}", start);
      return true;
    }
    if (src_.compare(pos_, 3, "-}}") == 0) {
      pos_ += 3;
      skip_python_space();
    } else if (src_.compare(pos_, 2, "}}") == 0) {
      pos_ += 2;
    } else {
      return false;
    }
    line_starting_ = src_[pos_ - 1] == '\n';
    emit(TokenType::kVariableEnd, "}}", start);
    return true;
  }

  // Digits with `_` separators; returns the end of the run.
  size_t digit_run(size_t p) const {
    if (p >= src_.size() || !is_digit(src_[p])) return p;
    while (p < src_.size() && (is_digit(src_[p]) || (src_[p] == '_' && p + 1 < src_.size() && is_digit(src_[p + 1]))))
      ++p;
    return p;
  }

  void lex_number() {
    const size_t start = pos_;
    if (src_[pos_] == '0' && pos_ + 1 < src_.size() &&
        std::string("bBoOxX").find(src_[pos_ + 1]) != std::string::npos) {
      size_t p = pos_ + 2;
      while (p < src_.size() && (std::isxdigit(static_cast<unsigned char>(src_[p])) || src_[p] == '_')) ++p;
      pos_ = p;
      emit(TokenType::kInteger, src_.substr(start, pos_ - start), start);
      return;
    }
    size_t p = digit_run(pos_);
    bool is_float = false;
    if (p + 1 < src_.size() && src_[p] == '.' && is_digit(src_[p + 1])) {
      p = digit_run(p + 1);
      is_float = true;
    }
    if (p < src_.size() && (src_[p] == 'e' || src_[p] == 'E')) {
      size_t q = p + 1;
      if (q < src_.size() && (src_[q] == '+' || src_[q] == '-')) ++q;
      if (q < src_.size() && is_digit(src_[q])) {
        p = digit_run(q);
        is_float = true;
      }
    }
    pos_ = p;
    emit(is_float ? TokenType::kFloat : TokenType::kInteger, src_.substr(start, pos_ - start), start);
  }

  // Python's unicode-escape decoding, as jinja2 applies it to string literals.
  void lex_string() {
    const size_t start = pos_;
    const char quote = src_[pos_++];
    std::string value;
    while (true) {
      if (pos_ >= src_.size()) fail(start, "unterminated string literal");
      const char c = src_[pos_++];
      if (c == quote) break;
      if (c != '\\') {
        value.push_back(c);
        continue;
      }
      if (pos_ >= src_.size()) fail(start, "unterminated string literal");
      const char e = src_[pos_++];
      auto hex = [&](int digits) {
        char32_t v = 0;
        for (int k = 0; k < digits; ++k) {
          if (pos_ >= src_.size() || !std::isxdigit(static_cast<unsigned char>(src_[pos_])))
            fail(pos_, "truncated \\" + std::string(1, e) + " escape in a string literal");
          const char h = src_[pos_++];
          v = v * 16 + static_cast<char32_t>(is_digit(h) ? h - '0' : (std::tolower(h) - 'a' + 10));
        }
        return v;
      };
      switch (e) {
        case '\n':
          break;
        case '\\':
          value.push_back('\\');
          break;
        case '\'':
          value.push_back('\'');
          break;
        case '"':
          value.push_back('"');
          break;
        case 'a':
          value.push_back('\a');
          break;
        case 'b':
          value.push_back('\b');
          break;
        case 'f':
          value.push_back('\f');
          break;
        case 'n':
          value.push_back('\n');
          break;
        case 'r':
          value.push_back('\r');
          break;
        case 't':
          value.push_back('\t');
          break;
        case 'v':
          value.push_back('\v');
          break;
        case 'x':
          append_utf8(value, hex(2));
          break;
        case 'u': {
          const char32_t cp = hex(4);
          if (cp >= 0xD800 && cp <= 0xDFFF) fail(pos_, "a lone surrogate \\u escape cannot be written as UTF-8");
          append_utf8(value, cp);
          break;
        }
        case 'U': {
          const char32_t cp = hex(8);
          if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            fail(pos_, "illegal Unicode character in a string literal");
          append_utf8(value, cp);
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            char32_t v = static_cast<char32_t>(e - '0');
            for (int k = 0; k < 2 && pos_ < src_.size() && src_[pos_] >= '0' && src_[pos_] <= '7'; ++k)
              v = v * 8 + static_cast<char32_t>(src_[pos_++] - '0');
            append_utf8(value, v);
          } else {
            value.push_back('\\');
            value.push_back(e);
          }
      }
    }
    emit(TokenType::kString, value, start);
  }

  std::string src_;
  size_t pos_ = 0;
  std::vector<size_t> line_starts_;
  bool line_starting_ = true;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(const std::string& source) { return Lexer(normalize_newlines(source)).run(); }

std::string describe(const Token& token) {
  switch (token.type) {
    case TokenType::kData:
      return "template data";
    case TokenType::kVariableBegin:
      return "'{{'";
    case TokenType::kVariableEnd:
      return "end of print statement";
    case TokenType::kBlockBegin:
      return "'{%'";
    case TokenType::kBlockEnd:
      return "end of statement block";
    case TokenType::kEnd:
      return "end of template";
    case TokenType::kString:
      return "string";
    default:
      return "'" + token.text + "'";
  }
}

}  // namespace horizon::data::jinja
