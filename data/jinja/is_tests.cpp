// jinja2's builtin tests (`x is defined`, `x is string`, ...), with Python's
// view of types: a bool is a number but not an integer, a dict is a
// sequence, and Undefined is iterable.
#include <unordered_map>

#include "data/jinja/builtins.h"
#include "data/jinja/operators.h"
#include "data/jinja/python_text.h"
#include "data/jinja/unicode.h"

namespace horizon::data::jinja {
namespace {

using Args = const CallArgs&;

const Value& other(Args args, const char* test) {
  if (args.positional.size() != 1 || !args.keyword.empty())
    throw Failure(std::string("test '") + test + "' takes one argument");
  return args.positional[0];
}
void no_args(Args args, const char* test) {
  if (!args.positional.empty() || !args.keyword.empty())
    throw Failure(std::string("test '") + test + "' takes no arguments");
}

bool t_defined(Interpreter&, const Value& v, Args a) { return no_args(a, "defined"), !v.is_undefined(); }
bool t_undefined(Interpreter&, const Value& v, Args a) { return no_args(a, "undefined"), v.is_undefined(); }
bool t_none(Interpreter&, const Value& v, Args a) { return no_args(a, "none"), v.is_none(); }
bool t_boolean(Interpreter&, const Value& v, Args a) { return no_args(a, "boolean"), v.kind() == Kind::kBool; }
bool t_true(Interpreter&, const Value& v, Args a) { return no_args(a, "true"), v.kind() == Kind::kBool && v.as_bool(); }
bool t_false(Interpreter&, const Value& v, Args a) {
  return no_args(a, "false"), v.kind() == Kind::kBool && !v.as_bool();
}
bool t_integer(Interpreter&, const Value& v, Args a) { return no_args(a, "integer"), v.kind() == Kind::kInt; }
bool t_float(Interpreter&, const Value& v, Args a) { return no_args(a, "float"), v.kind() == Kind::kFloat; }
bool t_number(Interpreter&, const Value& v, Args a) { return no_args(a, "number"), v.is_number(); }
bool t_string(Interpreter&, const Value& v, Args a) { return no_args(a, "string"), v.is_string(); }
bool t_mapping(Interpreter&, const Value& v, Args a) { return no_args(a, "mapping"), v.is_dict(); }
bool t_iterable(Interpreter&, const Value& v, Args a) {
  no_args(a, "iterable");
  return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
}
bool t_sequence(Interpreter&, const Value& v, Args a) {
  no_args(a, "sequence");
  return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
}
bool t_callable(Interpreter&, const Value& v, Args a) { return no_args(a, "callable"), v.kind() == Kind::kFunction; }
bool t_eq(Interpreter&, const Value& v, Args a) { return equals(v, other(a, "eq")); }
bool t_ne(Interpreter&, const Value& v, Args a) { return !equals(v, other(a, "ne")); }
bool t_lt(Interpreter&, const Value& v, Args a) { return less_than(v, other(a, "lt")); }
bool t_gt(Interpreter&, const Value& v, Args a) { return less_than(other(a, "gt"), v); }
bool t_le(Interpreter&, const Value& v, Args a) { return less_than(v, other(a, "le")) || equals(v, a.positional[0]); }
bool t_ge(Interpreter&, const Value& v, Args a) { return less_than(other(a, "ge"), v) || equals(v, a.positional[0]); }
bool t_in(Interpreter&, const Value& v, Args a) { return contains(other(a, "in"), v); }
bool t_sameas(Interpreter&, const Value& v, Args a) {
  const Value& o = other(a, "sameas");
  // `is` identity: singletons (None, True, False) and the same container object.
  if (v.kind() != o.kind()) return false;
  if (v.is_none()) return true;
  if (v.kind() == Kind::kBool) return v.as_bool() == o.as_bool();
  if (v.is_list()) return &v.as_list() == &o.as_list();
  if (v.is_dict()) return &v.as_dict() == &o.as_dict();
  return equals(v, o) && (v.kind() == Kind::kObject || v.kind() == Kind::kFunction);
}
int64_t int_arg(const Value& v, const char* test) {
  require_defined(v);
  if (v.kind() != Kind::kInt && v.kind() != Kind::kBool)
    throw Failure(std::string("test '") + test + "' needs an integer, got " + type_name(v));
  return v.kind() == Kind::kBool ? v.as_bool() : v.as_int();
}
bool t_odd(Interpreter&, const Value& v, Args a) { return no_args(a, "odd"), int_arg(v, "odd") % 2 != 0; }
bool t_even(Interpreter&, const Value& v, Args a) { return no_args(a, "even"), int_arg(v, "even") % 2 == 0; }
bool t_divisibleby(Interpreter&, const Value& v, Args a) {
  const int64_t n = int_arg(other(a, "divisibleby"), "divisibleby");
  if (n == 0) throw Failure("integer division or modulo by zero");
  return int_arg(v, "divisibleby") % n == 0;
}
// str.islower() / isupper(): some cased letter, and none of the other case.
bool cased(const Value& v, bool want_lower) {
  bool any_cased = false;
  for (char32_t c : utf8_decode(python_str(v))) {
    if (!is_cased(c)) continue;
    any_cased = true;
    if ((want_lower ? lower_of(c) : upper_of(c)) != c) return false;
  }
  return any_cased;
}
bool t_lower(Interpreter&, const Value& v, Args a) { return no_args(a, "lower"), cased(v, true); }
bool t_upper(Interpreter&, const Value& v, Args a) { return no_args(a, "upper"), cased(v, false); }
bool t_filter(Interpreter&, const Value& v, Args a) {
  return no_args(a, "filter"), v.is_string() && find_filter(v.as_string()) != nullptr;
}
bool t_test(Interpreter&, const Value& v, Args a) {
  return no_args(a, "test"), v.is_string() && find_test(v.as_string()) != nullptr;
}
bool t_escaped(Interpreter&, const Value&, Args a) { return no_args(a, "escaped"), false; }

}  // namespace

TestFn find_test(const std::string& name) {
  static const std::unordered_map<std::string, TestFn> kTests = {
      {"defined", t_defined},
      {"undefined", t_undefined},
      {"none", t_none},
      {"boolean", t_boolean},
      {"true", t_true},
      {"false", t_false},
      {"integer", t_integer},
      {"float", t_float},
      {"number", t_number},
      {"string", t_string},
      {"mapping", t_mapping},
      {"iterable", t_iterable},
      {"sequence", t_sequence},
      {"callable", t_callable},
      {"eq", t_eq},
      {"equalto", t_eq},
      {"==", t_eq},
      {"ne", t_ne},
      {"!=", t_ne},
      {"lt", t_lt},
      {"lessthan", t_lt},
      {"<", t_lt},
      {"gt", t_gt},
      {"greaterthan", t_gt},
      {">", t_gt},
      {"le", t_le},
      {"<=", t_le},
      {"ge", t_ge},
      {">=", t_ge},
      {"in", t_in},
      {"sameas", t_sameas},
      {"odd", t_odd},
      {"even", t_even},
      {"divisibleby", t_divisibleby},
      {"lower", t_lower},
      {"upper", t_upper},
      {"filter", t_filter},
      {"test", t_test},
      {"escaped", t_escaped},
  };
  const auto it = kTests.find(name);
  return it == kTests.end() ? nullptr : it->second;
}

}  // namespace horizon::data::jinja
