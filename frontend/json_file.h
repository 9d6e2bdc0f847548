// Reading JSON files with errors a user can act on: a missing file, or a
// syntax error reported as FILE:LINE:COL.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace horizon::frontend {

using Json = nlohmann::ordered_json;

/// Whole file as text; UserError if it cannot be read.
std::string read_text_file(const std::string& path, const std::string& what = "file");

/// Parses a JSON file; syntax errors name the line and column.
Json parse_json_file(const std::string& path);
Json parse_json_text(const std::string& text, const std::string& file);

/// "array", "string", ... for messages about mistyped fields.
std::string json_type_name(const Json& j);

}  // namespace horizon::frontend

namespace horizon::frontend {

/// Indented JSON that keeps any object or array fitting in `width` columns on
/// one line: one op or parameter per line in model files.
std::string format_json(const Json& j, int width = 110);

}  // namespace horizon::frontend
