// The global functions of a chat template: jinja2's range, dict and
// namespace, and the two transformers adds, raise_exception and strftime_now.
#include <algorithm>
#include <cmath>
#include <ctime>

#include "data/jinja/builtins.h"
#include "data/jinja/interpreter.h"
#include "data/jinja/python_text.h"

namespace horizon::data::jinja {
namespace {

Value function(const std::string& name, Value (*body)(Interpreter&, CallArgs&)) {
  auto fn = std::make_shared<Function>();
  fn->name = name;
  fn->call = body;
  return Value(FunctionPtr(std::move(fn)));
}

Value g_range(Interpreter& in, CallArgs& args) {
  if (!args.keyword.empty()) throw Failure("range() takes no keyword arguments");
  const auto& p = args.positional;
  if (p.empty() || p.size() > 3) throw Failure("range expected 1 to 3 arguments, got " + std::to_string(p.size()));
  int64_t start = 0, stop, step = 1;
  if (p.size() == 1) {
    stop = expect_int(p[0], "range() argument");
  } else {
    start = expect_int(p[0], "range() argument");
    stop = expect_int(p[1], "range() argument");
    if (p.size() == 3) step = expect_int(p[2], "range() argument");
  }
  if (step == 0) throw Failure("range() arg 3 must not be zero");
  // jinja2's sandbox refuses ranges over MAX_RANGE (100000) items.
  const __int128 span = static_cast<__int128>(stop) - start;
  const __int128 count = span == 0 || (span > 0) != (step > 0) ? 0 : (span + step + (step > 0 ? -1 : 1)) / step;
  if (count > 100000) throw Failure("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
  in.count_iterations(static_cast<int64_t>(count));
  std::vector<Value> items;
  for (int64_t k = 0; k < static_cast<int64_t>(count); ++k)
    items.emplace_back(static_cast<int64_t>(start + static_cast<__int128>(k) * step));
  return Value::list(std::move(items));
}

Value g_namespace(Interpreter& in, CallArgs& args) {
  auto ns = std::make_shared<ObjectData>();
  in.track(ns);
  ns->type_name = "Namespace";
  for (const Value& p : args.positional) {
    if (!p.is_dict()) throw Failure("namespace() takes a mapping or keyword arguments");
    for (const auto& [k, v] : p.as_dict().entries) ns->attributes.set(k, v);
  }
  for (const auto& [k, v] : args.keyword) ns->attributes.set(k, v);
  return Value(ObjectPtr(std::move(ns)));
}

Value g_dict(Interpreter&, CallArgs& args) {
  DictData d;
  for (const Value& p : args.positional) {
    if (!p.is_dict()) throw Failure("dict() takes a mapping or keyword arguments");
    for (const auto& [k, v] : p.as_dict().entries) d.set(k, v);
  }
  for (const auto& [k, v] : args.keyword) d.set(k, v);
  return Value::dict(std::move(d));
}

Value g_raise_exception(Interpreter&, CallArgs& args) {
  ArgReader a(args, "raise_exception", {"message"});
  throw RaisedException{python_str(a.required(0))};
}

// datetime.now().strftime(format): local time, as transformers calls it.
Value g_strftime_now(Interpreter&, CallArgs& args) {
  ArgReader a(args, "strftime_now", {"format"});
  const std::string& format = expect_string(a.required(0), "strftime_now() format");
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  std::string out(format.size() * 8 + 64, '\0');
  const size_t n = std::strftime(out.data(), out.size(), format.c_str(), &local);
  if (n == 0 && !format.empty()) throw Failure("strftime_now(): the format expands to nothing or too much");
  out.resize(n);
  return Value(out);
}

}  // namespace

DictData builtin_globals() {
  DictData g;
  g.set("range", function("range", g_range));
  g.set("namespace", function("namespace", g_namespace));
  g.set("dict", function("dict", g_dict));
  g.set("raise_exception", function("raise_exception", g_raise_exception));
  g.set("strftime_now", function("strftime_now", g_strftime_now));
  return g;
}

}  // namespace horizon::data::jinja
