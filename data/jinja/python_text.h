// Python's str() and repr() of template values: what `{{ value }}` prints
// ("True", "None", "[1, 'a']", "0.5", "1e-05").
#pragma once

#include <string>

#include "data/jinja/value.h"

namespace horizon::data::jinja {

/// str(v); Undefined prints as "".
std::string python_str(const Value& v);
/// repr(v), as inside a printed list or dict.
std::string python_repr(const Value& v);
/// repr(float): shortest round-trip digits, exponent form below 1e-4 and from 1e16.
std::string float_repr(double f);
/// repr(str): quotes and escapes as CPython chooses them.
std::string string_repr(const std::string& s);

}  // namespace horizon::data::jinja
