// The filters, tests, methods and global functions a template can call, and
// the helper that binds their arguments the way Python binds a signature.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>

#include "data/jinja/value.h"

namespace horizon::data::jinja {

/// Binds positional and keyword arguments to parameter names; Failure on
/// unknown keywords, too many arguments or a missing required one.
class ArgReader {
 public:
  ArgReader(const CallArgs& args, std::string function, std::initializer_list<const char*> names);
  /// Argument `i` (by position or name), or null.
  const Value* get(size_t i) const;
  const Value& required(size_t i) const;
  std::string string_or(size_t i, const std::string& fallback) const;
  int64_t int_or(size_t i, int64_t fallback) const;
  bool bool_or(size_t i, bool fallback) const;

 private:
  std::string function_;
  std::vector<const char*> names_;
  std::vector<const Value*> bound_;
};

/// The argument as a str, or Failure naming `what`.
const std::string& expect_string(const Value& v, const std::string& what);
/// int (or bool) argument, or Failure naming `what`.
int64_t expect_int(const Value& v, const std::string& what);

using FilterFn = Value (*)(Interpreter&, const Value& subject, const CallArgs& args);
using TestFn = bool (*)(Interpreter&, const Value& subject, const CallArgs& args);
/// Null when jinja2 has no such filter / test (or we do not implement it).
FilterFn find_filter(const std::string& name);
TestFn find_test(const std::string& name);

/// A bound method of a str, dict or list (`s.startswith`); nullopt when the
/// type has no such attribute; the sandbox's unsafe Undefined for mutating ones.
std::optional<Value> find_method(const Value& self, const std::string& name);

/// str.capitalize(): the first code point upper-cased, the rest lower-cased.
std::string capitalized(const std::string& s);

/// Python's `format % values` (a tuple is several arguments, a dict names them).
std::string percent_format(const std::string& format, const Value& values);

/// range, namespace, dict, raise_exception, strftime_now.
DictData builtin_globals();

/// A raise_exception() call: its message is reported as it is.
struct RaisedException {
  std::string message;
};

struct JsonOptions {
  bool ensure_ascii = false;
  std::optional<std::string> indent;  // null: one line
  std::string item_separator = ", ", key_separator = ": ";
  bool sort_keys = false;
};
/// Python's json.dumps(v, ...) byte for byte; Failure for values JSON cannot hold.
std::string json_dumps(const Value& v, const JsonOptions& options);

}  // namespace horizon::data::jinja
