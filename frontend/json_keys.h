// Unknown keys in a model file are mistakes (a typo such as "ini{t" would
// otherwise be ignored and the default used without a word): each object
// of the format is checked against its known keys, and the error names the
// nearest known one.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

#include "frontend/json_file.h"

namespace horizon::frontend {

/// UserError "FILE: AT.KEY: unknown key; did you mean "NEAREST"?" for the
/// first key of `object` not in `known`.
void check_known_keys(const Json& object, std::initializer_list<std::string_view> known, const std::string& file,
                      const std::string& at);

/// The entry of `known` with the smallest edit distance to `key`.
std::string nearest_key(std::string_view key, std::initializer_list<std::string_view> known);

}  // namespace horizon::frontend
