// Python's operators on template values as jinja2 evaluates them in its
// immutable sandbox: arithmetic, `in`, attribute and item access, slicing.
#pragma once

#include <optional>
#include <string>

#include "data/jinja/value.h"

namespace horizon::data::jinja {

/// a OP b for + - * / // % **; `max_size` bounds strings and lists built by
/// + and * (Failure beyond it).
Value binary_op(const std::string& op, const Value& a, const Value& b, size_t max_size);
/// -v and +v.
Value unary_op(char op, const Value& v);
/// `needle in container`.
bool contains(const Value& container, const Value& needle);
/// obj.name: an attribute (a str/dict/list method), else obj[name]; a
/// missing one is Undefined, an unsafe one (list.append) an Undefined whose
/// call raises the sandbox's message.
Value get_attribute(const Value& obj, const std::string& name);
/// obj[key]: Python indexing, falling back to the attribute; out of range
/// or missing is Undefined.
Value get_item(const Value& obj, const Value& key);
/// obj[start:stop:step] on lists and strings (code points); nullopt parts omitted.
Value slice(const Value& obj, const std::optional<int64_t>& start, const std::optional<int64_t>& stop,
            const std::optional<int64_t>& step);

}  // namespace horizon::data::jinja
