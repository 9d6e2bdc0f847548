// Python operators, indexing and attribute access in jinja2's immutable
// sandbox (see operators.h).
#include "data/jinja/operators.h"

#include <cmath>

#include "data/jinja/builtins.h"
#include "data/jinja/python_text.h"
#include "data/jinja/unicode.h"

namespace horizon::data::jinja {
namespace {

bool is_int_like(const Value& v) { return v.kind() == Kind::kInt || v.kind() == Kind::kBool; }
int64_t int_value(const Value& v) { return v.kind() == Kind::kBool ? (v.as_bool() ? 1 : 0) : v.as_int(); }

[[noreturn]] void unsupported(const std::string& op, const Value& a, const Value& b) {
  if (op == "+" && a.is_string()) throw Failure("can only concatenate str (not \"" + type_name(b) + "\") to str");
  if (op == "+" && a.is_list())
    throw Failure("can only concatenate " + type_name(a) + " (not \"" + type_name(b) + "\") to " + type_name(a));
  throw Failure("unsupported operand type(s) for " + op + ": '" + type_name(a) + "' and '" + type_name(b) + "'");
}

Value checked(int64_t result, bool overflow) {
  if (overflow) throw Failure("integer result does not fit in 64 bits");
  return Value(result);
}

double python_mod(double a, double b) {
  double r = std::fmod(a, b);
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

Value repeat(const Value& seq, int64_t times, size_t max_size) {
  if (times < 0) times = 0;
  if (seq.is_string()) {
    const std::string& s = seq.as_string();
    if (!s.empty() && static_cast<uint64_t>(times) > max_size / s.size())
      throw Failure("string repetition grows past " + std::to_string(max_size) + " bytes");
    std::string out;
    out.reserve(s.size() * static_cast<size_t>(times));
    for (int64_t i = 0; i < times; ++i) out += s;
    return Value(std::move(out));
  }
  const auto& list = seq.as_list();
  // Items are copied, strings with them: bound the bytes as well as the count.
  size_t bytes_per_copy = list.items.size() * sizeof(Value);
  for (const Value& item : list.items)
    if (item.is_string()) bytes_per_copy += item.as_string().size();
  if (bytes_per_copy != 0 && static_cast<uint64_t>(times) > max_size / bytes_per_copy)
    throw Failure("list repetition grows past " + std::to_string(max_size) + " bytes");
  std::vector<Value> out;
  for (int64_t i = 0; i < times; ++i) out.insert(out.end(), list.items.begin(), list.items.end());
  return Value::list(std::move(out), list.tuple);
}

// Python's index normalisation: negative counts from the end; nullopt when out of range.
std::optional<size_t> normalize_index(int64_t i, size_t size) {
  if (i < 0) i += static_cast<int64_t>(size);
  if (i < 0 || i >= static_cast<int64_t>(size)) return std::nullopt;
  return static_cast<size_t>(i);
}

}  // namespace

Value binary_op(const std::string& op, const Value& a, const Value& b, size_t max_size) {
  require_defined(a);
  require_defined(b);
  if (a.is_number() && b.is_number()) {
    const bool ints = is_int_like(a) && is_int_like(b);
    if (ints) {
      const int64_t x = int_value(a), y = int_value(b);
      int64_t r = 0;
      if (op == "+") return checked(r, __builtin_add_overflow(x, y, &r));
      if (op == "-") return checked(r, __builtin_sub_overflow(x, y, &r));
      if (op == "*") return checked(r, __builtin_mul_overflow(x, y, &r));
      if (op == "/") {
        if (y == 0) throw Failure("division by zero");
        return Value(static_cast<double>(x) / static_cast<double>(y));
      }
      if (op == "//" || op == "%") {
        if (y == 0) throw Failure("integer division or modulo by zero");
        if (x == INT64_MIN && y == -1) throw Failure("integer result does not fit in 64 bits");
        int64_t q = x / y, m = x % y;
        if (m != 0 && ((m < 0) != (y < 0))) {
          --q;
          m += y;
        }
        return Value(op == "//" ? q : m);
      }
      if (op == "**") {
        if (y < 0) return Value(std::pow(static_cast<double>(x), static_cast<double>(y)));
        int64_t result = 1, base = x, e = y;
        while (e > 0) {
          if (e & 1)
            if (__builtin_mul_overflow(result, base, &result)) throw Failure("integer result does not fit in 64 bits");
          e >>= 1;
          if (e > 0 && __builtin_mul_overflow(base, base, &base))
            throw Failure("integer result does not fit in 64 bits");
        }
        return Value(result);
      }
    }
    const double x = a.to_double(), y = b.to_double();
    if (op == "+") return Value(x + y);
    if (op == "-") return Value(x - y);
    if (op == "*") return Value(x * y);
    if (op == "/") {
      if (y == 0) throw Failure("float division by zero");
      return Value(x / y);
    }
    if (op == "//") {
      if (y == 0) throw Failure("float floor division by zero");
      // CPython's float_floor_div.
      const double mod = std::fmod(x, y);
      double div = (x - mod) / y;
      if (mod != 0 && ((y < 0) != (mod < 0))) div -= 1.0;
      double floor_div = std::floor(div);
      if (div - floor_div > 0.5) floor_div += 1.0;
      return Value(div == 0 ? std::copysign(0.0, x / y) : floor_div);
    }
    if (op == "%") {
      if (y == 0) throw Failure("float modulo");
      return Value(python_mod(x, y));
    }
    if (op == "**") return Value(std::pow(x, y));
  }
  if (op == "+") {
    if (a.is_string() && b.is_string()) {
      if (a.as_string().size() + b.as_string().size() > max_size)
        throw Failure("a string grows past " + std::to_string(max_size) + " bytes");
      return Value(a.as_string() + b.as_string());
    }
    if (a.is_list() && b.is_list() && a.as_list().tuple == b.as_list().tuple) {
      std::vector<Value> items = a.as_list().items;
      items.insert(items.end(), b.as_list().items.begin(), b.as_list().items.end());
      return Value::list(std::move(items), a.as_list().tuple);
    }
  }
  if (op == "*") {
    if ((a.is_string() || a.is_list()) && is_int_like(b)) return repeat(a, int_value(b), max_size);
    if ((b.is_string() || b.is_list()) && is_int_like(a)) return repeat(b, int_value(a), max_size);
  }
  if (op == "%" && a.is_string()) return Value(percent_format(a.as_string(), b));
  unsupported(op, a, b);
}

Value unary_op(char op, const Value& v) {
  require_defined(v);
  if (v.kind() == Kind::kFloat) return Value(op == '-' ? -v.as_float() : v.as_float());
  if (is_int_like(v)) {
    const int64_t i = int_value(v);
    if (op == '-' && i == INT64_MIN) throw Failure("integer result does not fit in 64 bits");
    return Value(op == '-' ? -i : i);
  }
  throw Failure(std::string("bad operand type for unary ") + op + ": '" + type_name(v) + "'");
}

bool contains(const Value& container, const Value& needle) {
  switch (container.kind()) {
    case Kind::kUndefined:
      return false;
    case Kind::kString:
      if (!needle.is_string()) throw Failure("'in <string>' requires string as left operand, not " + type_name(needle));
      return container.as_string().find(needle.as_string()) != std::string::npos;
    case Kind::kList:
      for (const Value& item : container.as_list().items)
        if (equals(item, needle)) return true;
      return false;
    case Kind::kDict:
      return needle.is_string() && container.as_dict().find(needle.as_string()) != nullptr;
    default:
      throw Failure("argument of type '" + type_name(container) + "' is not iterable");
  }
}

Value get_attribute(const Value& obj, const std::string& name) {
  require_defined(obj);
  if (!name.empty() && name[0] == '_')
    return Value::undefined("access to attribute '" + name + "' of '" + type_name(obj) + "' object is unsafe.");
  if (std::optional<Value> method = find_method(obj, name)) return *method;
  if (obj.kind() == Kind::kObject) {
    if (const Value* v = obj.as_object().attributes.find(name)) return *v;
  } else if (obj.is_dict()) {
    if (const Value* v = obj.as_dict().find(name)) return *v;
  }
  return Value::undefined("'" + object_type_repr(obj) + "' has no attribute '" + name + "'");
}

Value get_item(const Value& obj, const Value& key) {
  require_defined(obj);
  if (obj.is_dict() && key.is_string()) {
    if (const Value* v = obj.as_dict().find(key.as_string())) return *v;
  } else if ((obj.is_list() || obj.is_string()) && is_int_like(key)) {
    if (obj.is_list()) {
      const auto& items = obj.as_list().items;
      if (auto i = normalize_index(int_value(key), items.size())) return items[*i];
    } else {
      const std::u32string text = utf8_decode(obj.as_string());
      if (auto i = normalize_index(int_value(key), text.size())) return Value(utf8_encode(text.substr(*i, 1)));
    }
    return Value::undefined(object_type_repr(obj) + " has no element " + python_repr(key));
  } else if (obj.is_list() && key.is_list()) {
    throw Failure("list indices must be integers or slices, not " + type_name(key));
  }
  if (key.is_string()) return get_attribute(obj, key.as_string());
  return Value::undefined(object_type_repr(obj) + " has no element " + python_repr(key));
}

Value slice(const Value& obj, const std::optional<int64_t>& start, const std::optional<int64_t>& stop,
            const std::optional<int64_t>& step) {
  require_defined(obj);
  const int64_t by = step.value_or(1);
  if (by == 0) throw Failure("slice step cannot be zero");
  std::u32string text;
  int64_t size;
  if (obj.is_string()) {
    text = utf8_decode(obj.as_string());
    size = static_cast<int64_t>(text.size());
  } else if (obj.is_list()) {
    size = static_cast<int64_t>(obj.as_list().items.size());
  } else {
    throw Failure("'" + type_name(obj) + "' object is not subscriptable");
  }
  // CPython's PySlice_AdjustIndices.
  auto adjust = [&](const std::optional<int64_t>& v, int64_t fallback) {
    if (!v) return fallback;
    int64_t i = *v;
    if (i < 0) {
      i += size;
      if (i < 0) i = by < 0 ? -1 : 0;
    } else if (i >= size) {
      i = by < 0 ? size - 1 : size;
    }
    return i;
  };
  const int64_t from = adjust(start, by < 0 ? size - 1 : 0);
  const int64_t to = adjust(stop, by < 0 ? -1 : size);
  std::vector<int64_t> picks;
  for (int64_t i = from; by > 0 ? i < to : i > to;) {
    picks.push_back(i);
    if (__builtin_add_overflow(i, by, &i)) break;
  }
  if (obj.is_string()) {
    std::u32string out;
    for (int64_t i : picks) out.push_back(text[static_cast<size_t>(i)]);
    return Value(utf8_encode(out));
  }
  std::vector<Value> out;
  for (int64_t i : picks) out.push_back(obj.as_list().items[static_cast<size_t>(i)]);
  return Value::list(std::move(out), obj.as_list().tuple);
}

}  // namespace horizon::data::jinja
