// Python semantics of template values (see value.h).
#include "data/jinja/value.h"

#include "data/jinja/unicode.h"

namespace horizon::data::jinja {

const Value* DictData::find(std::string_view key) const {
  for (const auto& [k, v] : entries)
    if (k == key) return &v;
  return nullptr;
}

void DictData::set(const std::string& key, Value value) {
  for (auto& [k, v] : entries)
    if (k == key) {
      v = std::move(value);
      return;
    }
  entries.emplace_back(key, std::move(value));
}

Value Value::list(std::vector<Value> items, bool tuple) {
  auto data = std::make_shared<ListData>();
  data->items = std::move(items);
  data->tuple = tuple;
  return Value(ListPtr(std::move(data)));
}

Value Value::dict(DictData data) { return Value(DictPtr(std::make_shared<const DictData>(std::move(data)))); }

bool Value::is_number(bool with_bool) const {
  return kind() == Kind::kInt || kind() == Kind::kFloat || (with_bool && kind() == Kind::kBool);
}

double Value::to_double() const {
  switch (kind()) {
    case Kind::kBool:
      return as_bool() ? 1.0 : 0.0;
    case Kind::kInt:
      return static_cast<double>(as_int());
    case Kind::kFloat:
      return as_float();
    default:
      throw Failure("expected a number, got " + type_name(*this));
  }
}

namespace {
thread_local size_t current_string_limit = SIZE_MAX;
}  // namespace

StringSizeLimit::StringSizeLimit(size_t max_bytes) : previous_(current_string_limit) {
  current_string_limit = max_bytes;
}
StringSizeLimit::~StringSizeLimit() { current_string_limit = previous_; }
void StringSizeLimit::check(size_t bytes) {
  if (bytes > current_string_limit)
    throw Failure("a string grows past " + std::to_string(current_string_limit) + " bytes");
}

int64_t Value::to_int() const {
  if (kind() == Kind::kInt) return as_int();
  if (kind() == Kind::kBool) return as_bool() ? 1 : 0;
  const double f = to_double();
  if (!(f > -9.2e18 && f < 9.2e18)) throw Failure("cannot convert float " + std::to_string(f) + " to a 64-bit integer");
  return static_cast<int64_t>(f);
}

bool truthy(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined:
    case Kind::kNone:
      return false;
    case Kind::kBool:
      return v.as_bool();
    case Kind::kInt:
      return v.as_int() != 0;
    case Kind::kFloat:
      return v.as_float() != 0.0;
    case Kind::kString:
      return !v.as_string().empty();
    case Kind::kList:
      return !v.as_list().items.empty();
    case Kind::kDict:
      return !v.as_dict().entries.empty();
    case Kind::kObject:
    case Kind::kFunction:
      return true;
  }
  return false;
}

bool equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.kind() != Kind::kFloat && b.kind() != Kind::kFloat)
      return (a.kind() == Kind::kInt ? a.as_int() : a.as_bool()) == (b.kind() == Kind::kInt ? b.as_int() : b.as_bool());
    return a.to_double() == b.to_double();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::kUndefined:
    case Kind::kNone:
      return true;
    case Kind::kString:
      return a.as_string() == b.as_string();
    case Kind::kList: {
      const auto& x = a.as_list();
      const auto& y = b.as_list();
      if (x.tuple != y.tuple || x.items.size() != y.items.size()) return false;
      for (size_t i = 0; i < x.items.size(); ++i)
        if (!equals(x.items[i], y.items[i])) return false;
      return true;
    }
    case Kind::kDict: {
      const auto& x = a.as_dict();
      const auto& y = b.as_dict();
      if (x.entries.size() != y.entries.size()) return false;
      for (const auto& [k, v] : x.entries) {
        const Value* other = y.find(k);
        if (!other || !equals(v, *other)) return false;
      }
      return true;
    }
    case Kind::kObject:
      return &a.as_object() == &b.as_object();
    case Kind::kFunction:
      return &a.as_function() == &b.as_function();
    default:
      return false;
  }
}

bool less_than(const Value& a, const Value& b) {
  require_defined(a);
  require_defined(b);
  if (a.is_number() && b.is_number()) {
    if (a.kind() == Kind::kInt && b.kind() == Kind::kInt) return a.as_int() < b.as_int();
    return a.to_double() < b.to_double();
  }
  if (a.is_string() && b.is_string()) return a.as_string() < b.as_string();  // UTF-8 byte order is code point order
  if (a.is_list() && b.is_list() && a.as_list().tuple == b.as_list().tuple) {
    const auto& x = a.as_list().items;
    const auto& y = b.as_list().items;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i)
      if (!equals(x[i], y[i])) return less_than(x[i], y[i]);
    return x.size() < y.size();
  }
  throw Failure("'<' not supported between instances of '" + type_name(a) + "' and '" + type_name(b) + "'");
}

void require_defined(const Value& v) {
  if (v.is_undefined()) throw Failure(v.undefined_hint());
}

std::string type_name(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined:
      return "Undefined";
    case Kind::kNone:
      return "NoneType";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kString:
      return "str";
    case Kind::kList:
      return v.as_list().tuple ? "tuple" : "list";
    case Kind::kDict:
      return "dict";
    case Kind::kObject:
      return v.as_object().type_name;
    case Kind::kFunction:
      return "function";
  }
  return "";
}

std::string object_type_repr(const Value& v) {
  if (v.is_none()) return "None";
  return type_name(v) + " object";
}

Value from_json(const frontend::Json& j) {
  switch (j.type()) {
    case frontend::Json::value_t::null:
      return Value(None{});
    case frontend::Json::value_t::boolean:
      return Value(j.get<bool>());
    case frontend::Json::value_t::number_integer:
      return Value(j.get<int64_t>());
    case frontend::Json::value_t::number_unsigned: {
      const uint64_t u = j.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) throw Failure("integer " + std::to_string(u) + " is too large");
      return Value(static_cast<int64_t>(u));
    }
    case frontend::Json::value_t::number_float:
      return Value(j.get<double>());
    case frontend::Json::value_t::string:
      return Value(j.get<std::string>());
    case frontend::Json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& item : j) items.push_back(from_json(item));
      return Value::list(std::move(items));
    }
    case frontend::Json::value_t::object: {
      DictData dict;
      dict.entries.reserve(j.size());
      for (const auto& [k, item] : j.items()) dict.entries.emplace_back(k, from_json(item));
      return Value::dict(std::move(dict));
    }
    default:
      throw Failure("unsupported JSON value");
  }
}

std::vector<Value> iterate(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined:
      return {};
    case Kind::kList:
      return v.as_list().items;
    case Kind::kDict: {
      std::vector<Value> keys;
      for (const auto& [k, unused] : v.as_dict().entries) keys.emplace_back(k);
      return keys;
    }
    case Kind::kString: {
      std::vector<Value> chars;
      for (char32_t c : utf8_decode(v.as_string())) {
        std::string s;
        append_utf8(s, c);
        chars.emplace_back(std::move(s));
      }
      return chars;
    }
    default:
      throw Failure("'" + type_name(v) + "' object is not iterable");
  }
}

int64_t length_of(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined:
      return 0;
    case Kind::kString:
      return static_cast<int64_t>(utf8_decode(v.as_string()).size());
    case Kind::kList:
      return static_cast<int64_t>(v.as_list().items.size());
    case Kind::kDict:
      return static_cast<int64_t>(v.as_dict().entries.size());
    default:
      throw Failure("object of type '" + type_name(v) + "' has no len()");
  }
}

}  // namespace horizon::data::jinja
