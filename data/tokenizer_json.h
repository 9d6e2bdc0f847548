// Reading tokenizer.json with errors that name the file and the JSON path of
// the offending field ("pre_tokenizer.pretokenizers[1].type"), so a user with
// an unsupported or damaged tokenizer knows exactly which part to look at.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace horizon::data {

using Json = nlohmann::json;

/// A value inside a tokenizer.json document together with where it is.
class JsonPlace {
 public:
  JsonPlace(const std::string& file, const Json& value, std::string path = "")
      : file_(&file), value_(&value), path_(std::move(path)) {}

  const Json& json() const { return *value_; }
  const std::string& path() const { return path_; }
  const std::string& file() const { return *file_; }

  /// Member `key` (null when absent), or UserError when this is not an object.
  JsonPlace operator[](const std::string& key) const;
  /// Element `i` of an array.
  JsonPlace operator[](size_t i) const;

  bool is_null() const { return value_->is_null(); }
  /// Present and not null.
  bool has(const std::string& key) const;
  size_t size() const;  // of an array or object; UserError otherwise

  std::string string() const;
  std::string string_or(const std::string& fallback) const;
  bool boolean_or(bool fallback) const;
  int64_t integer() const;
  int64_t integer_or(int64_t fallback) const;
  /// The `type` member of a component, which must be one of `supported`.
  std::string type(const char* supported) const;

  /// UserError "FILE: PATH: problem; fix".
  [[noreturn]] void fail(const std::string& problem, const std::string& fix = "") const;

 private:
  void expect(bool ok, const char* what) const;
  const std::string* file_;
  const Json* value_;
  std::string path_;
};

}  // namespace horizon::data
