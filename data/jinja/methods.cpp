// Methods of str, dict and list that templates call (`content.split('x')`,
// `message.get('k')`), with the immutable sandbox refusing the mutating ones.
#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "data/jinja/builtins.h"
#include "data/jinja/python_text.h"
#include "data/jinja/unicode.h"

namespace horizon::data::jinja {
namespace {

using Method = Value (*)(Interpreter&, const Value& self, const CallArgs& args);

Value bind(const Value& self, const std::string& name, Method method) {
  auto fn = std::make_shared<Function>();
  fn->name = name;
  fn->call = [self, method](Interpreter& in, CallArgs& args) { return method(in, self, args); };
  return Value(FunctionPtr(std::move(fn)));
}

// ---- str
bool affix_matches(const std::string& s, const Value& affix, bool prefix) {
  auto one = [&](const std::string& a) {
    return s.size() >= a.size() &&
           (prefix ? s.compare(0, a.size(), a) == 0 : s.compare(s.size() - a.size(), a.size(), a) == 0);
  };
  if (affix.is_list() && affix.as_list().tuple) {
    for (const Value& a : affix.as_list().items)
      if (one(expect_string(a, "startswith/endswith tuple item"))) return true;
    return false;
  }
  return one(expect_string(affix, prefix ? "startswith() argument" : "endswith() argument"));
}

// s[start:end] in code points, as startswith/endswith/find/count take them.
std::string substring(const std::string& s, const ArgReader& a, size_t first_index) {
  if (!a.get(first_index) && !a.get(first_index + 1)) return s;
  const std::u32string text = utf8_decode(s);
  const auto size = static_cast<int64_t>(text.size());
  auto clamp = [&](int64_t i) { return i < 0 ? std::max<int64_t>(0, i + size) : std::min(i, size); };
  const int64_t from = clamp(a.int_or(first_index, 0)), to = clamp(a.int_or(first_index + 1, size));
  return from >= to ? std::string() : utf8_encode(std::u32string_view(text).substr(from, to - from));
}

Value m_startswith(Interpreter&, const Value& self, const CallArgs& args) {
  ArgReader a(args, "startswith", {"prefix", "start", "end"});
  return Value(affix_matches(substring(self.as_string(), a, 1), a.required(0), true));
}
Value m_endswith(Interpreter&, const Value& self, const CallArgs& args) {
  ArgReader a(args, "endswith", {"suffix", "start", "end"});
  return Value(affix_matches(substring(self.as_string(), a, 1), a.required(0), false));
}

std::vector<Value> split_whitespace(const std::u32string& text, int64_t maxsplit, bool from_right) {
  std::vector<std::u32string> parts;
  const auto n = static_cast<int64_t>(text.size());
  if (!from_right) {
    int64_t i = 0;
    while (true) {
      while (i < n && is_python_space(text[i])) ++i;
      if (i >= n) break;
      if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
        parts.push_back(text.substr(i));  // the remainder keeps its trailing whitespace
        break;
      }
      int64_t j = i;
      while (j < n && !is_python_space(text[j])) ++j;
      parts.push_back(text.substr(i, j - i));
      i = j;
    }
  } else {
    int64_t i = n;
    while (true) {
      while (i > 0 && is_python_space(text[i - 1])) --i;
      if (i <= 0) break;
      if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
        parts.push_back(text.substr(0, i));  // the remainder keeps its leading whitespace
        break;
      }
      int64_t j = i;
      while (j > 0 && !is_python_space(text[j - 1])) --j;
      parts.push_back(text.substr(j, i - j));
      i = j;
    }
    std::reverse(parts.begin(), parts.end());
  }
  std::vector<Value> out;
  for (const auto& p : parts) out.emplace_back(utf8_encode(p));
  return out;
}

std::vector<Value> split_on(const std::string& s, const std::string& sep, int64_t maxsplit, bool from_right) {
  if (sep.empty()) throw Failure("empty separator");
  std::vector<Value> out;
  if (!from_right) {
    size_t pos = 0;
    while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
      const size_t hit = s.find(sep, pos);
      if (hit == std::string::npos) break;
      out.emplace_back(s.substr(pos, hit - pos));
      pos = hit + sep.size();
    }
    out.emplace_back(s.substr(pos));
    return out;
  }
  size_t end = s.size();
  while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
    if (end < sep.size()) break;
    const size_t hit = s.rfind(sep, end - sep.size());
    if (hit == std::string::npos) break;
    out.emplace_back(s.substr(hit + sep.size(), end - hit - sep.size()));
    end = hit;
  }
  out.emplace_back(s.substr(0, end));
  std::reverse(out.begin(), out.end());
  return out;
}

Value split_method(const Value& self, const CallArgs& args, bool from_right) {
  ArgReader a(args, from_right ? "rsplit" : "split", {"sep", "maxsplit"});
  const int64_t maxsplit = a.int_or(1, -1);
  if (!a.get(0) || a.get(0)->is_none())
    return Value::list(split_whitespace(utf8_decode(self.as_string()), maxsplit, from_right));
  return Value::list(split_on(self.as_string(), expect_string(*a.get(0), "split() sep"), maxsplit, from_right));
}
Value m_split(Interpreter&, const Value& self, const CallArgs& args) { return split_method(self, args, false); }
Value m_rsplit(Interpreter&, const Value& self, const CallArgs& args) { return split_method(self, args, true); }

Value strip_method(const Value& self, const CallArgs& args, const char* name, bool left, bool right) {
  ArgReader a(args, name, {"chars"});
  if (!a.get(0) || a.get(0)->is_none()) return Value(python_strip(self.as_string(), nullptr, left, right));
  const std::string chars = expect_string(*a.get(0), std::string(name) + "() chars");
  return Value(python_strip(self.as_string(), &chars, left, right));
}
Value m_strip(Interpreter&, const Value& s, const CallArgs& a) { return strip_method(s, a, "strip", true, true); }
Value m_lstrip(Interpreter&, const Value& s, const CallArgs& a) { return strip_method(s, a, "lstrip", true, false); }
Value m_rstrip(Interpreter&, const Value& s, const CallArgs& a) { return strip_method(s, a, "rstrip", false, true); }

Value m_replace(Interpreter& in, const Value& self, const CallArgs& args) {
  ArgReader a(args, "replace", {"old", "new", "count"});
  expect_string(a.required(0), "replace() old");
  expect_string(a.required(1), "replace() new");
  return find_filter("replace")(in, self, args);
}

Value m_upper(Interpreter&, const Value& self, const CallArgs& args) {
  ArgReader(args, "upper", {});
  return Value(python_upper(self.as_string()));
}
Value m_lower(Interpreter&, const Value& self, const CallArgs& args) {
  ArgReader(args, "lower", {});
  return Value(python_lower(self.as_string()));
}
// str.title(): a cased letter after an uncased character starts a word.
Value m_title(Interpreter&, const Value& self, const CallArgs& args) {
  ArgReader(args, "title", {});
  std::string out;
  bool previous_cased = false;
  for (char32_t c : utf8_decode(self.as_string())) {
    std::string one;
    append_utf8(one, c);
    out += previous_cased ? python_lower(one) : python_upper(one);
    previous_cased = is_cased(c);
  }
  return Value(out);
}
Value m_capitalize(Interpreter&, const Value& self, const CallArgs& args) {
  ArgReader(args, "capitalize", {});
  return Value(capitalized(self.as_string()));
}

int64_t code_points_before(const std::string& s, size_t byte) {
  return static_cast<int64_t>(utf8_decode(std::string_view(s).substr(0, byte)).size());
}
Value find_method_impl(const Value& self, const CallArgs& args, const char* name, bool from_right, bool raise) {
  ArgReader a(args, name, {"sub", "start", "end"});
  const std::string& sub = expect_string(a.required(0), std::string(name) + "() argument");
  const std::string& s = self.as_string();
  if (a.get(1) || a.get(2)) throw Failure(std::string(name) + "() with start/end is not supported");
  const size_t hit = from_right ? s.rfind(sub) : s.find(sub);
  if (hit == std::string::npos) {
    if (raise) throw Failure("substring not found");
    return Value(-1);
  }
  return Value(code_points_before(s, hit));
}
Value m_find(Interpreter&, const Value& s, const CallArgs& a) { return find_method_impl(s, a, "find", false, false); }
Value m_rfind(Interpreter&, const Value& s, const CallArgs& a) { return find_method_impl(s, a, "rfind", true, false); }
Value m_index(Interpreter&, const Value& s, const CallArgs& a) { return find_method_impl(s, a, "index", false, true); }

Value m_count(Interpreter&, const Value& self, const CallArgs& args) {
  ArgReader a(args, "count", {"sub", "start", "end"});
  const std::string s = substring(self.as_string(), a, 1);
  const std::string& sub = expect_string(a.required(0), "count() argument");
  if (sub.empty()) return Value(static_cast<int64_t>(utf8_decode(s).size()) + 1);
  int64_t n = 0;
  for (size_t pos = s.find(sub); pos != std::string::npos; pos = s.find(sub, pos + sub.size())) ++n;
  return Value(n);
}

Value m_join(Interpreter&, const Value& self, const CallArgs& args) {
  ArgReader a(args, "join", {"iterable"});
  std::string out;
  bool first = true;
  for (const Value& item : iterate(a.required(0))) {
    if (!first) out += self.as_string();
    first = false;
    out += expect_string(item, "join() item");
    StringSizeLimit::check(out.size());
  }
  return Value(out);
}

// str.format with {} / {0} / {name} fields; format specs are not supported.
Value m_format(Interpreter&, const Value& self, const CallArgs& args) {
  const std::string& s = self.as_string();
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '}') {
      if (i + 1 < s.size() && s[i + 1] == '}')
        ++i;
      else
        throw Failure("Single '}' encountered in format string");
      out += '}';
      continue;
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (i + 1 < s.size() && s[i + 1] == '{') {
      out += '{';
      ++i;
      continue;
    }
    const size_t close = s.find('}', i);
    if (close == std::string::npos) throw Failure("Single '{' encountered in format string");
    const std::string field = s.substr(i + 1, close - i - 1);
    if (field.find_first_of(":!.[") != std::string::npos)
      throw Failure("format() specs and conversions are not supported");
    const Value* v = nullptr;
    if (field.empty()) {
      if (auto_index >= args.positional.size())
        throw Failure("Replacement index out of range for positional args tuple");
      v = &args.positional[auto_index++];
    } else if (std::all_of(field.begin(), field.end(), [](char d) { return d >= '0' && d <= '9'; })) {
      const size_t k = std::stoul(field);
      if (k >= args.positional.size()) throw Failure("Replacement index out of range for positional args tuple");
      v = &args.positional[k];
    } else {
      for (const auto& [key, value] : args.keyword)
        if (key == field) v = &value;
      if (!v) throw Failure("format() has no argument '" + field + "'");
    }
    out += python_str(*v);
    StringSizeLimit::check(out.size());
    i = close;
  }
  return Value(out);
}

template <bool (*Pred)(char32_t)>
Value char_class(Interpreter&, const Value& self, const CallArgs& args) {
  ArgReader(args, "is...", {});
  const std::u32string text = utf8_decode(self.as_string());
  return Value(!text.empty() && std::all_of(text.begin(), text.end(), Pred));
}
bool ascii_digit(char32_t c) { return c >= '0' && c <= '9'; }
bool ascii_alpha(char32_t c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool ascii_alnum(char32_t c) { return ascii_digit(c) || ascii_alpha(c); }

Value m_splitlines(Interpreter&, const Value& self, const CallArgs& args) {
  ArgReader a(args, "splitlines", {"keepends"});
  std::vector<Value> out;
  for (std::string& line : python_splitlines(self.as_string(), a.bool_or(0, false))) out.emplace_back(std::move(line));
  return Value::list(std::move(out));
}

// ---- dict
Value m_items(Interpreter&, const Value& self, const CallArgs& args) {
  ArgReader(args, "items", {});
  std::vector<Value> pairs;
  for (const auto& [k, v] : self.as_dict().entries) pairs.push_back(Value::list({Value(k), v}, true));
  return Value::list(std::move(pairs));
}
Value m_keys(Interpreter&, const Value& self, const CallArgs& args) {
  ArgReader(args, "keys", {});
  return Value::list(iterate(self));
}
Value m_values(Interpreter&, const Value& self, const CallArgs& args) {
  ArgReader(args, "values", {});
  std::vector<Value> values;
  for (const auto& [k, v] : self.as_dict().entries) values.push_back(v);
  return Value::list(std::move(values));
}
Value m_get(Interpreter&, const Value& self, const CallArgs& args) {
  ArgReader a(args, "get", {"key", "default"});
  const Value& key = a.required(0);
  const Value* found = key.is_string() ? self.as_dict().find(key.as_string()) : nullptr;
  return found ? *found : (a.get(1) ? *a.get(1) : Value(None{}));
}
Value m_copy(Interpreter&, const Value& self, const CallArgs& args) {
  ArgReader(args, "copy", {});
  return self;
}

// ---- list
Value m_list_index(Interpreter&, const Value& self, const CallArgs& args) {
  ArgReader a(args, "index", {"value"});
  const auto& items = self.as_list().items;
  for (size_t i = 0; i < items.size(); ++i)
    if (equals(items[i], a.required(0))) return Value(static_cast<int64_t>(i));
  throw Failure(python_repr(a.required(0)) + " is not in list");
}
Value m_list_count(Interpreter&, const Value& self, const CallArgs& args) {
  ArgReader a(args, "count", {"value"});
  int64_t n = 0;
  for (const Value& item : self.as_list().items) n += equals(item, a.required(0));
  return Value(n);
}

Value unsafe(const Value& self, const std::string& name) {
  return Value::undefined("access to attribute '" + name + "' of '" + type_name(self) + "' object is unsafe.");
}

}  // namespace

std::optional<Value> find_method(const Value& self, const std::string& name) {
  static const std::unordered_map<std::string, Method> kStr = {
      {"startswith", m_startswith},
      {"endswith", m_endswith},
      {"split", m_split},
      {"rsplit", m_rsplit},
      {"strip", m_strip},
      {"lstrip", m_lstrip},
      {"rstrip", m_rstrip},
      {"replace", m_replace},
      {"upper", m_upper},
      {"lower", m_lower},
      {"title", m_title},
      {"capitalize", m_capitalize},
      {"find", m_find},
      {"rfind", m_rfind},
      {"index", m_index},
      {"count", m_count},
      {"join", m_join},
      {"format", m_format},
      {"splitlines", m_splitlines},
      {"isdigit", char_class<ascii_digit>},
      {"isalpha", char_class<ascii_alpha>},
      {"isalnum", char_class<ascii_alnum>},
      {"isspace", char_class<is_python_space>},
  };
  static const std::unordered_map<std::string, Method> kDict = {
      {"items", m_items}, {"keys", m_keys}, {"values", m_values}, {"get", m_get}, {"copy", m_copy}};
  static const std::unordered_map<std::string, Method> kList = {
      {"index", m_list_index}, {"count", m_list_count}, {"copy", m_copy}};
  static const std::unordered_set<std::string> kDictUnsafe = {"pop", "popitem", "setdefault", "update", "clear"};
  static const std::unordered_set<std::string> kListUnsafe = {"append", "extend",  "insert", "pop",
                                                              "remove", "reverse", "sort",   "clear"};
  const std::unordered_map<std::string, Method>* table = nullptr;
  if (self.is_string()) table = &kStr;
  if (self.is_dict()) {
    if (kDictUnsafe.count(name)) return unsafe(self, name);
    table = &kDict;
  }
  if (self.is_list() && !self.as_list().tuple) {
    if (kListUnsafe.count(name)) return unsafe(self, name);
    table = &kList;
  }
  if (self.is_list() && self.as_list().tuple) {
    if (name == "index") return bind(self, name, m_list_index);
    if (name == "count") return bind(self, name, m_list_count);
  }
  if (!table) return std::nullopt;
  const auto it = table->find(name);
  if (it == table->end()) return std::nullopt;
  return bind(self, name, it->second);
}

}  // namespace horizon::data::jinja
