// Python-style argument binding for builtins (see builtins.h).
#include "data/jinja/builtins.h"

namespace horizon::data::jinja {

ArgReader::ArgReader(const CallArgs& args, std::string function, std::initializer_list<const char*> names)
    : function_(std::move(function)), names_(names), bound_(names.size(), nullptr) {
  if (args.positional.size() > names_.size())
    throw Failure(function_ + "() takes at most " + std::to_string(names_.size()) + " argument(s) (" +
                  std::to_string(args.positional.size()) + " given)");
  for (size_t i = 0; i < args.positional.size(); ++i) bound_[i] = &args.positional[i];
  for (const auto& [key, value] : args.keyword) {
    size_t i = 0;
    while (i < names_.size() && key != names_[i]) ++i;
    if (i == names_.size()) throw Failure(function_ + "() got an unexpected keyword argument '" + key + "'");
    if (bound_[i]) throw Failure(function_ + "() got multiple values for argument '" + key + "'");
    bound_[i] = &value;
  }
}

const Value* ArgReader::get(size_t i) const { return bound_[i]; }

const Value& ArgReader::required(size_t i) const {
  if (!bound_[i]) throw Failure(function_ + "() missing required argument '" + names_[i] + "'");
  return *bound_[i];
}

std::string ArgReader::string_or(size_t i, const std::string& fallback) const {
  return bound_[i] && !bound_[i]->is_none() ? expect_string(*bound_[i], function_ + "() argument '" + names_[i] + "'")
                                            : fallback;
}

int64_t ArgReader::int_or(size_t i, int64_t fallback) const {
  return bound_[i] && !bound_[i]->is_none() ? expect_int(*bound_[i], function_ + "() argument '" + names_[i] + "'")
                                            : fallback;
}

bool ArgReader::bool_or(size_t i, bool fallback) const { return bound_[i] ? truthy(*bound_[i]) : fallback; }

const std::string& expect_string(const Value& v, const std::string& what) {
  if (!v.is_string()) {
    require_defined(v);
    throw Failure(what + " must be a str, not " + type_name(v));
  }
  return v.as_string();
}

int64_t expect_int(const Value& v, const std::string& what) {
  if (v.kind() == Kind::kInt) return v.as_int();
  if (v.kind() == Kind::kBool) return v.as_bool() ? 1 : 0;
  require_defined(v);
  throw Failure(what + " must be an int, not " + type_name(v));
}

}  // namespace horizon::data::jinja
