// jinja2's builtin filters that chat templates use, plus transformers' own
// tojson (json.dumps without HTML escaping, with indent / separators /
// sort_keys). Strings are taken with soft_str: Undefined reads as "".
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <unordered_map>

#include "data/jinja/builtins.h"
#include "data/jinja/interpreter.h"
#include "data/jinja/operators.h"
#include "data/jinja/python_text.h"
#include "data/jinja/unicode.h"

namespace horizon::data::jinja {

// First code point upper-cased, the rest lower-cased (str.capitalize).
std::string capitalized(const std::string& s) {
  const std::u32string text = utf8_decode(s);
  if (text.empty()) return "";
  return python_upper(utf8_encode(text.substr(0, 1))) + python_lower(utf8_encode(text.substr(1)));
}

namespace {

using Args = const CallArgs&;

Value f_tojson(Interpreter&, const Value& v, Args args) {
  ArgReader a(args, "tojson", {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonOptions o;
  o.ensure_ascii = a.bool_or(0, false);
  if (const Value* indent = a.get(1); indent && !indent->is_none()) {
    o.indent =
        indent->is_string()
            ? indent->as_string()
            : std::string(static_cast<size_t>(std::clamp<int64_t>(expect_int(*indent, "tojson() indent"), 0, 1 << 16)),
                          ' ');
    o.item_separator = ",";
  }
  if (const Value* sep = a.get(2); sep && !sep->is_none()) {
    if (!sep->is_list() || sep->as_list().items.size() != 2)
      throw Failure("tojson() separators must be a pair of strings");
    o.item_separator = expect_string(sep->as_list().items[0], "tojson() separators");
    o.key_separator = expect_string(sep->as_list().items[1], "tojson() separators");
  }
  o.sort_keys = a.bool_or(3, false);
  return Value(json_dumps(v, o));
}

Value f_length(Interpreter&, const Value& v, Args args) {
  ArgReader(args, "length", {});
  return Value(length_of(v));
}

Value f_string(Interpreter&, const Value& v, Args args) {
  ArgReader(args, "string", {});
  return Value(python_str(v));
}

Value f_trim(Interpreter&, const Value& v, Args args) {
  ArgReader a(args, "trim", {"chars"});
  const Value* chars = a.get(0);
  std::string set = chars && !chars->is_none() ? expect_string(*chars, "trim() chars") : "";
  return Value(python_strip(python_str(v), chars && !chars->is_none() ? &set : nullptr, true, true));
}

Value f_upper(Interpreter&, const Value& v, Args args) {
  ArgReader(args, "upper", {});
  return Value(python_upper(python_str(v)));
}

Value f_lower(Interpreter&, const Value& v, Args args) {
  ArgReader(args, "lower", {});
  return Value(python_lower(python_str(v)));
}

Value f_capitalize(Interpreter&, const Value& v, Args args) {
  ArgReader(args, "capitalize", {});
  return Value(capitalized(python_str(v)));
}

// jinja2's do_title: words begin after whitespace, '-', and opening brackets.
Value f_title(Interpreter&, const Value& v, Args args) {
  ArgReader(args, "title", {});
  std::string out;
  bool at_word_start = true;
  for (char32_t c : utf8_decode(python_str(v))) {
    const bool boundary = is_python_space(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
    std::string one;
    append_utf8(one, c);
    out += boundary ? one : at_word_start ? python_upper(one) : python_lower(one);
    at_word_start = boundary;
  }
  return Value(out);
}

Value f_default(Interpreter&, const Value& v, Args args) {
  ArgReader a(args, "default", {"default_value", "boolean"});
  const bool boolean = a.bool_or(1, false);
  if (v.is_undefined() || (boolean && !truthy(v))) return a.get(0) ? *a.get(0) : Value(std::string());
  return v;
}

Value f_first(Interpreter&, const Value& v, Args args) {
  ArgReader(args, "first", {});
  const std::vector<Value> items = iterate(v);
  return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
}

Value f_last(Interpreter&, const Value& v, Args args) {
  ArgReader(args, "last", {});
  const std::vector<Value> items = iterate(v);
  return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
}

Value f_list(Interpreter&, const Value& v, Args args) {
  ArgReader(args, "list", {});
  return Value::list(iterate(v));
}

Value f_items(Interpreter&, const Value& v, Args args) {
  ArgReader(args, "items", {});
  if (v.is_undefined()) return Value::list({});
  if (!v.is_dict()) throw Failure("Can only get item pairs from a mapping.");
  std::vector<Value> pairs;
  for (const auto& [k, item] : v.as_dict().entries) pairs.push_back(Value::list({Value(k), item}, true));
  return Value::list(std::move(pairs));
}

Value attribute_path(const Value& v, const std::string& path) {
  Value cur = v;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const bool numeric =
        !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    cur = numeric ? get_item(cur, Value(static_cast<int64_t>(std::stoll(part)))) : get_item(cur, Value(part));
    if (dot == std::string::npos) return cur;
    start = dot + 1;
  }
}

Value f_join(Interpreter&, const Value& v, Args args) {
  ArgReader a(args, "join", {"d", "attribute"});
  const std::string sep = a.get(0) ? python_str(*a.get(0)) : "";
  std::string out;
  bool first = true;
  for (const Value& item : iterate(v)) {
    if (!first) out += sep;
    first = false;
    out += python_str(a.get(1) ? attribute_path(item, python_str(*a.get(1))) : item);
    StringSizeLimit::check(out.size());
  }
  return Value(out);
}

Value f_reverse(Interpreter&, const Value& v, Args args) {
  ArgReader(args, "reverse", {});
  if (v.is_string()) {
    std::u32string s = utf8_decode(v.as_string());
    std::reverse(s.begin(), s.end());
    return Value(utf8_encode(s));
  }
  std::vector<Value> items = iterate(v);
  std::reverse(items.begin(), items.end());
  return Value::list(std::move(items));
}

Value f_replace(Interpreter&, const Value& v, Args args) {
  ArgReader a(args, "replace", {"old", "new", "count"});
  const std::string s = python_str(v);
  const std::string from = python_str(a.required(0)), to = python_str(a.required(1));
  int64_t count = a.int_or(2, -1);
  std::string out;
  size_t pos = 0;
  if (from.empty()) {  // Python inserts `to` around every code point
    const std::u32string text = utf8_decode(s);
    for (size_t i = 0; i <= text.size(); ++i) {
      if (count != 0) {
        out += to;
        if (count > 0) --count;
      }
      if (i < text.size()) append_utf8(out, text[i]);
      StringSizeLimit::check(out.size());
    }
    return Value(out);
  }
  while (count != 0) {
    const size_t hit = s.find(from, pos);
    if (hit == std::string::npos) break;
    out.append(s, pos, hit - pos);
    out += to;
    StringSizeLimit::check(out.size());
    pos = hit + from.size();
    if (count > 0) --count;
  }
  out.append(s, pos, std::string::npos);
  return Value(out);
}

Value f_int(Interpreter&, const Value& v, Args args) {
  ArgReader a(args, "int", {"default", "base"});
  const Value fallback = a.get(0) ? *a.get(0) : Value(0);
  if (v.kind() == Kind::kInt) return v;
  if (v.kind() == Kind::kBool) return Value(v.as_bool() ? 1 : 0);
  if (v.kind() == Kind::kFloat) {
    const double f = v.as_float();
    return std::isfinite(f) && std::fabs(f) < 9.2e18 ? Value(static_cast<int64_t>(f)) : fallback;
  }
  if (v.is_string()) {
    const std::string s = python_strip(v.as_string(), nullptr, true, true);
    try {
      size_t used = 0;
      const int64_t i = std::stoll(s, &used, static_cast<int>(a.int_or(1, 10)));
      if (used == s.size()) return Value(i);
    } catch (const std::exception&) {
    }
    try {
      size_t used = 0;
      const double f = std::stod(s, &used);
      if (used == s.size() && std::isfinite(f) && std::fabs(f) < 9.2e18) return Value(static_cast<int64_t>(f));
    } catch (const std::exception&) {
    }
  }
  return fallback;
}

Value f_float(Interpreter&, const Value& v, Args args) {
  ArgReader a(args, "float", {"default"});
  const Value fallback = a.get(0) ? *a.get(0) : Value(0.0);
  if (v.is_number()) return Value(v.to_double());
  if (v.is_string()) {
    const std::string s = python_strip(v.as_string(), nullptr, true, true);
    try {
      size_t used = 0;
      const double f = std::stod(s, &used);
      if (used == s.size()) return Value(f);
    } catch (const std::exception&) {
    }
  }
  return fallback;
}

Value f_abs(Interpreter&, const Value& v, Args args) {
  ArgReader(args, "abs", {});
  if (v.kind() == Kind::kFloat) return Value(std::fabs(v.as_float()));
  const Value neg = unary_op('-', v);
  return less_than(v, Value(0)) ? neg : unary_op('+', v);
}

Value f_round(Interpreter&, const Value& v, Args args) {
  ArgReader a(args, "round", {"precision", "method"});
  const int64_t precision = a.int_or(0, 0);
  const std::string method = a.string_or(1, "common");
  const double x = v.to_double();
  if (method == "common") {
    // Python's round(x, n): half to even on the exact binary value, which
    // glibc's printf rounding reproduces.
    if (!std::isfinite(x)) return Value(x);
    if (precision < 0 || precision > 300) throw Failure("round() precision must be between 0 and 300");
    char buf[1024];
    std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(precision), x);
    return Value(std::strtod(buf, nullptr));
  }
  const double scale = std::pow(10.0, static_cast<double>(precision));
  if (method == "ceil") return Value(std::ceil(x * scale) / scale);
  if (method == "floor") return Value(std::floor(x * scale) / scale);
  throw Failure("method must be common, ceil or floor");
}

Value f_escape(Interpreter&, const Value& v, Args args) {
  ArgReader(args, "escape", {});
  std::string out;
  for (char c : python_str(v)) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return Value(out);
}

Value f_safe(Interpreter&, const Value& v, Args args) {
  ArgReader(args, "safe", {});
  return v.is_string() ? v : Value(python_str(v));
}

// jinja2's do_indent, quirks included: a newline is appended before
// splitting, and with blank=false only empty lines stay unindented.
Value f_indent(Interpreter&, const Value& v, Args args) {
  ArgReader a(args, "indent", {"width", "first", "blank"});
  std::string pad;
  if (const Value* w = a.get(0); w && w->is_string())
    pad = w->as_string();
  else
    pad = std::string(static_cast<size_t>(std::clamp<int64_t>(a.int_or(0, 4), 0, 1 << 16)), ' ');
  const bool first = a.bool_or(1, false), blank = a.bool_or(2, false);
  const std::vector<std::string> lines = python_splitlines(python_str(v) + "\n", false);
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i) out += '\n';
    if (i > 0 && (blank || !lines[i].empty())) out += pad;
    out += lines[i];
    StringSizeLimit::check(out.size() + pad.size());
  }
  return Value(first ? pad + out : out);
}

Value f_dictsort(Interpreter&, const Value& v, Args args) {
  ArgReader a(args, "dictsort", {"case_sensitive", "by", "reverse"});
  if (!v.is_dict()) throw Failure("You can only sort by either \"key\" or \"value\"");
  const bool case_sensitive = a.bool_or(0, false), reverse = a.bool_or(2, false);
  const bool by_value = a.string_or(1, "key") == "value";
  std::vector<Value> pairs;
  for (const auto& [k, item] : v.as_dict().entries) pairs.push_back(Value::list({Value(k), item}, true));
  auto key_of = [&](const Value& pair) {
    const Value& k = pair.as_list().items[by_value ? 1 : 0];
    return !case_sensitive && k.is_string() ? Value(python_lower(k.as_string())) : k;
  };
  std::stable_sort(pairs.begin(), pairs.end(), [&](const Value& x, const Value& y) {
    return reverse ? less_than(key_of(y), key_of(x)) : less_than(key_of(x), key_of(y));
  });
  return Value::list(std::move(pairs));
}

Value f_sort(Interpreter&, const Value& v, Args args) {
  ArgReader a(args, "sort", {"reverse", "case_sensitive", "attribute"});
  const bool reverse = a.bool_or(0, false), case_sensitive = a.bool_or(1, false);
  std::vector<Value> items = iterate(v);
  auto key_of = [&](const Value& item) {
    const Value k = a.get(2) ? attribute_path(item, python_str(*a.get(2))) : item;
    return !case_sensitive && k.is_string() ? Value(python_lower(k.as_string())) : k;
  };
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    return reverse ? less_than(key_of(y), key_of(x)) : less_than(key_of(x), key_of(y));
  });
  return Value::list(std::move(items));
}

Value f_unique(Interpreter&, const Value& v, Args args) {
  ArgReader a(args, "unique", {"case_sensitive", "attribute"});
  const bool case_sensitive = a.bool_or(0, false);
  std::vector<Value> seen, out;
  for (const Value& item : iterate(v)) {
    Value k = a.get(1) ? attribute_path(item, python_str(*a.get(1))) : item;
    if (!case_sensitive && k.is_string()) k = Value(python_lower(k.as_string()));
    if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return equals(s, k); })) {
      seen.push_back(k);
      out.push_back(item);
    }
  }
  return Value::list(std::move(out));
}

Value f_sum(Interpreter&, const Value& v, Args args) {
  ArgReader a(args, "sum", {"attribute", "start"});
  Value total = a.get(1) ? *a.get(1) : Value(0);
  for (const Value& item : iterate(v))
    total = binary_op("+", total, a.get(0) ? attribute_path(item, python_str(*a.get(0))) : item, size_t{1} << 30);
  return total;
}

Value min_max(const Value& v, Args args, bool want_max) {
  ArgReader a(args, want_max ? "max" : "min", {"case_sensitive", "attribute"});
  const bool case_sensitive = a.bool_or(0, false);
  const std::vector<Value> items = iterate(v);
  if (items.empty()) return Value::undefined(std::string("No aggregated item, sequence was empty."));
  auto key_of = [&](const Value& item) {
    const Value k = a.get(1) ? attribute_path(item, python_str(*a.get(1))) : item;
    return !case_sensitive && k.is_string() ? Value(python_lower(k.as_string())) : k;
  };
  size_t best = 0;
  for (size_t i = 1; i < items.size(); ++i)
    if (want_max ? less_than(key_of(items[best]), key_of(items[i])) : less_than(key_of(items[i]), key_of(items[best])))
      best = i;
  return items[best];
}
Value f_max(Interpreter&, const Value& v, Args args) { return min_max(v, args, true); }
Value f_min(Interpreter&, const Value& v, Args args) { return min_max(v, args, false); }

// "%s, %s"|format(a, b) or "%(x)s"|format(x=1)
Value f_format(Interpreter&, const Value& v, Args args) {
  const std::string& format = expect_string(v, "format filter subject");
  if (!args.keyword.empty()) {
    if (!args.positional.empty()) throw Failure("can't handle positional and keyword arguments at the same time");
    DictData mapping;
    for (const auto& [k, value] : args.keyword) mapping.set(k, value);
    return Value(percent_format(format, Value::dict(std::move(mapping))));
  }
  return Value(percent_format(format, Value::list(args.positional, true)));
}

Value f_attr(Interpreter&, const Value& v, Args args) {
  ArgReader a(args, "attr", {"name"});
  return get_attribute(v, expect_string(a.required(0), "attr() name"));
}

// map(attribute='x', default=...) or map('filter', args...)
Value f_map(Interpreter& in, const Value& v, Args args) {
  std::vector<Value> out;
  const Value* attribute = nullptr;
  const Value* fallback = nullptr;
  for (const auto& [k, value] : args.keyword) {
    if (k == "attribute")
      attribute = &value;
    else if (k == "default")
      fallback = &value;
  }
  if (attribute) {
    for (const Value& item : iterate(v)) {
      Value x = attribute_path(item, python_str(*attribute));
      out.push_back(x.is_undefined() && fallback ? *fallback : x);
    }
    return Value::list(std::move(out));
  }
  if (args.positional.empty()) throw Failure("map() requires a filter name or attribute=");
  const std::string name = expect_string(args.positional[0], "map() filter name");
  CallArgs rest;
  rest.positional.assign(args.positional.begin() + 1, args.positional.end());
  rest.keyword = args.keyword;
  for (const Value& item : iterate(v)) out.push_back(in.run_filter(name, item, rest));
  return Value::list(std::move(out));
}

// select/reject(test, args...) and selectattr/rejectattr(attribute, test, args...)
Value select_items(Interpreter& in, const Value& v, Args args, bool keep_matches, bool by_attribute) {
  size_t next = 0;
  std::string attribute;
  if (by_attribute) {
    if (args.positional.empty()) throw Failure("selectattr/rejectattr require an attribute name");
    attribute = expect_string(args.positional[next++], "attribute name");
  }
  std::string test;
  CallArgs rest;
  if (next < args.positional.size()) {
    test = expect_string(args.positional[next++], "test name");
    rest.positional.assign(args.positional.begin() + static_cast<long>(next), args.positional.end());
  }
  rest.keyword = args.keyword;
  std::vector<Value> out;
  for (const Value& item : iterate(v)) {
    const Value subject = by_attribute ? attribute_path(item, attribute) : item;
    const bool match = test.empty() ? truthy(subject) : in.run_test(test, subject, rest);
    if (match == keep_matches) out.push_back(item);
  }
  return Value::list(std::move(out));
}
Value f_select(Interpreter& in, const Value& v, Args a) { return select_items(in, v, a, true, false); }
Value f_reject(Interpreter& in, const Value& v, Args a) { return select_items(in, v, a, false, false); }
Value f_selectattr(Interpreter& in, const Value& v, Args a) { return select_items(in, v, a, true, true); }
Value f_rejectattr(Interpreter& in, const Value& v, Args a) { return select_items(in, v, a, false, true); }

}  // namespace

FilterFn find_filter(const std::string& name) {
  static const std::unordered_map<std::string, FilterFn> kFilters = {
      {"tojson", f_tojson},
      {"length", f_length},
      {"count", f_length},
      {"string", f_string},
      {"trim", f_trim},
      {"upper", f_upper},
      {"lower", f_lower},
      {"capitalize", f_capitalize},
      {"title", f_title},
      {"default", f_default},
      {"d", f_default},
      {"first", f_first},
      {"last", f_last},
      {"list", f_list},
      {"items", f_items},
      {"join", f_join},
      {"reverse", f_reverse},
      {"replace", f_replace},
      {"int", f_int},
      {"float", f_float},
      {"abs", f_abs},
      {"round", f_round},
      {"escape", f_escape},
      {"e", f_escape},
      {"safe", f_safe},
      {"indent", f_indent},
      {"dictsort", f_dictsort},
      {"sort", f_sort},
      {"unique", f_unique},
      {"sum", f_sum},
      {"max", f_max},
      {"min", f_min},
      {"attr", f_attr},
      {"format", f_format},
      {"map", f_map},
      {"select", f_select},
      {"reject", f_reject},
      {"selectattr", f_selectattr},
      {"rejectattr", f_rejectattr},
  };
  const auto it = kFilters.find(name);
  return it == kFilters.end() ? nullptr : it->second;
}

}  // namespace horizon::data::jinja
