// JSON access with file + path in every error (see tokenizer_json.h).
#include "data/tokenizer_json.h"

#include "support/error.h"

namespace horizon::data {

namespace {
const Json& null_json() {
  static const Json kNull;
  return kNull;
}
std::string join(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }
}  // namespace

void JsonPlace::fail(const std::string& problem, const std::string& fix) const {
  throw_user_error(*file_, path_.empty() ? "top level" : path_, problem, fix);
}

void JsonPlace::expect(bool ok, const char* what) const {
  if (!ok) fail(std::string("expected ") + what + ", found " + (value_->is_null() ? "nothing" : value_->type_name()));
}

JsonPlace JsonPlace::operator[](const std::string& key) const {
  expect(value_->is_object(), "an object");
  auto it = value_->find(key);
  return JsonPlace(*file_, it == value_->end() ? null_json() : *it, join(path_, key));
}

JsonPlace JsonPlace::operator[](size_t i) const {
  expect(value_->is_array(), "an array");
  return JsonPlace(*file_, i < value_->size() ? (*value_)[i] : null_json(), path_ + "[" + std::to_string(i) + "]");
}

bool JsonPlace::has(const std::string& key) const {
  if (!value_->is_object()) return false;
  auto it = value_->find(key);
  return it != value_->end() && !it->is_null();
}

size_t JsonPlace::size() const {
  expect(value_->is_array() || value_->is_object(), "an array or object");
  return value_->size();
}

std::string JsonPlace::string() const {
  expect(value_->is_string(), "a string");
  return value_->get<std::string>();
}

std::string JsonPlace::string_or(const std::string& fallback) const { return is_null() ? fallback : string(); }

bool JsonPlace::boolean_or(bool fallback) const {
  if (is_null()) return fallback;
  expect(value_->is_boolean(), "true or false");
  return value_->get<bool>();
}

int64_t JsonPlace::integer() const {
  expect(value_->is_number_integer(), "an integer");
  return value_->get<int64_t>();
}

int64_t JsonPlace::integer_or(int64_t fallback) const { return is_null() ? fallback : integer(); }

std::string JsonPlace::type(const char* supported) const {
  const JsonPlace t = (*this)["type"];
  if (t.is_null()) t.fail("missing component type", std::string("supported: ") + supported);
  const std::string name = t.string();
  // `supported` is a ", "-separated list; match whole names only.
  const std::string list = std::string(", ") + supported + ", ";
  if (list.find(", " + name + ", ") == std::string::npos)
    t.fail("unsupported type \"" + name + "\"", std::string("supported: ") + supported);
  return name;
}

}  // namespace horizon::data
