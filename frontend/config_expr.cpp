#include "frontend/config_expr.h"

#include <cctype>
#include <cmath>
#include <stdexcept>

namespace horizon::frontend {
namespace {

struct Number {
  double v;
  bool is_int;
};

class ExprParser {
 public:
  ExprParser(const std::string& s, const ir::Config& c) : s_(s), config_(c) {}

  Number parse() {
    Number n = sum();
    skip();
    if (i_ != s_.size()) bad("unexpected '" + std::string(1, s_[i_]) + "'");
    return n;
  }

 private:
  Number sum() {
    Number a = product();
    for (skip(); i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-'); skip()) {
      char op = s_[i_++];
      Number b = product();
      a = {op == '+' ? a.v + b.v : a.v - b.v, a.is_int && b.is_int};
    }
    return a;
  }
  Number product() {
    Number a = atom();
    for (skip(); i_ < s_.size() && (s_[i_] == '*' || s_[i_] == '/'); skip()) {
      char op = s_[i_++];
      Number b = atom();
      if (op == '*') {
        a = {a.v * b.v, a.is_int && b.is_int};
      } else {
        if (b.v == 0) bad("division by zero");
        double q = a.v / b.v;
        a = {q, a.is_int && b.is_int && std::floor(q) == q};
      }
    }
    return a;
  }
  Number atom() {
    skip();
    if (i_ >= s_.size()) bad("expression ends early");
    char c = s_[i_];
    if (c == '(') {
      ++i_;
      Number n = sum();
      skip();
      if (i_ >= s_.size() || s_[i_] != ')') bad("missing ')'");
      ++i_;
      return n;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
      size_t used = 0;
      double v = std::stod(s_.substr(i_), &used);
      std::string lit = s_.substr(i_, used);
      i_ += used;
      return {v, lit.find_first_of(".eE") == std::string::npos};
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t start = i_;
      while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '_')) ++i_;
      std::string key = s_.substr(start, i_ - start);
      for (const auto& [k, v] : config_) {
        if (k != key) continue;
        if (auto* iv = std::get_if<int64_t>(&v)) return {static_cast<double>(*iv), true};
        if (auto* dv = std::get_if<double>(&v)) return {*dv, false};
        bad("config key '" + key + "' is a string, not a number");
      }
      bad("unknown config key '" + key + "'");
    }
    bad("unexpected '" + std::string(1, c) + "'");
  }
  void skip() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  [[noreturn]] void bad(const std::string& msg) { throw std::invalid_argument("in \"" + s_ + "\": " + msg); }

  const std::string& s_;
  const ir::Config& config_;
  size_t i_ = 0;
};

}  // namespace

ir::AttrValue eval_config_expr(const std::string& expr, const ir::Config& config) {
  Number n = ExprParser(expr, config).parse();
  if (n.is_int) return static_cast<int64_t>(std::llround(n.v));
  return n.v;
}

}  // namespace horizon::frontend
