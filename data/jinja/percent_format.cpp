// Python's printf-style `format % values`, used by the `%` operator on
// strings and by jinja2's `format` filter.
#include <cstdio>

#include "data/jinja/builtins.h"
#include "data/jinja/python_text.h"

namespace horizon::data::jinja {

std::string percent_format(const std::string& format, const Value& values) {
  std::vector<Value> args;
  const DictData* mapping = nullptr;
  if (values.is_list() && values.as_list().tuple)
    args = values.as_list().items;
  else if (values.is_dict())
    mapping = &values.as_dict();
  else
    args.push_back(values);
  size_t next = 0;
  std::string out;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      out += format[i];
      continue;
    }
    if (++i >= format.size()) throw Failure("incomplete format");
    const Value* arg = nullptr;
    if (format[i] == '(') {
      const size_t close = format.find(')', i);
      if (close == std::string::npos || !mapping) throw Failure("format requires a mapping");
      arg = mapping->find(format.substr(i + 1, close - i - 1));
      if (!arg) throw Failure("KeyError: '" + format.substr(i + 1, close - i - 1) + "'");
      i = close + 1;
    }
    std::string flags;
    while (i < format.size() && std::string("-+ #0").find(format[i]) != std::string::npos) flags += format[i++];
    std::string width;
    while (i < format.size() && format[i] >= '0' && format[i] <= '9') width += format[i++];
    std::string precision;
    if (i < format.size() && format[i] == '.') {
      ++i;
      while (i < format.size() && format[i] >= '0' && format[i] <= '9') precision += format[i++];
      if (precision.empty()) precision = "0";
    }
    if (i >= format.size()) throw Failure("incomplete format");
    const char conversion = format[i];
    if (conversion == '%') {
      out += '%';
      continue;
    }
    if (!arg) {
      if (mapping) throw Failure("format requires a mapping");
      if (next >= args.size()) throw Failure("not enough arguments for format string");
      arg = &args[next++];
    }
    std::string text;
    char buf[512];
    const std::string spec =
        "%" + flags + (width.size() > 3 ? "" : width) + (precision.empty() ? "" : "." + precision.substr(0, 3));
    switch (conversion) {
      case 's':
        text = python_str(*arg);
        break;
      case 'r':
        text = python_repr(*arg);
        break;
      case 'd':
      case 'i':
        if (!arg->is_number())
          throw Failure("%" + std::string(1, conversion) + " format: a real number is required, not " +
                        type_name(*arg));
        std::snprintf(buf, sizeof buf, (spec + "lld").c_str(), static_cast<long long>(arg->to_int()));
        out += buf;
        continue;
      case 'f':
      case 'F':
      case 'e':
      case 'g':
        if (!arg->is_number()) throw Failure("must be real number, not " + type_name(*arg));
        std::snprintf(buf, sizeof buf, (spec + conversion).c_str(), arg->to_double());
        out += buf;
        continue;
      case 'x':
      case 'X':
      case 'o':
        if (arg->kind() != Kind::kInt && arg->kind() != Kind::kBool) throw Failure("%x format: an integer is required");
        std::snprintf(buf, sizeof buf, (spec + "ll" + conversion).c_str(),
                      static_cast<long long>(arg->kind() == Kind::kInt ? arg->as_int() : arg->as_bool()));
        out += buf;
        continue;
      default:
        throw Failure(std::string("unsupported format character '") + conversion + "'");
    }
    // %s and %r: width pads, precision truncates (in bytes; templates pad ASCII).
    if (!precision.empty() && text.size() > std::stoul(precision)) text.resize(std::stoul(precision));
    const size_t w = width.empty() ? 0 : std::stoul(width.substr(0, 4));
    if (text.size() < w)
      text = flags.find('-') != std::string::npos ? text + std::string(w - text.size(), ' ')
                                                  : std::string(w - text.size(), ' ') + text;
    out += text;
    StringSizeLimit::check(out.size());
  }
  if (!mapping && next < args.size()) throw Failure("not all arguments converted during string formatting");
  return out;
}

}  // namespace horizon::data::jinja
