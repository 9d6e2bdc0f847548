#include "frontend/json_file.h"

#include <fstream>
#include <sstream>

#include "support/error.h"

namespace horizon::frontend {

std::string read_text_file(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_user_error(path, "", what + " does not exist or cannot be read", "check the path");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Json parse_json_text(const std::string& text, const std::string& file) {
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    size_t byte = e.byte == 0 ? 0 : e.byte - 1;
    int line = 1, col = 1;
    for (size_t i = 0; i < byte && i < text.size(); ++i) {
      if (text[i] == '\n')
        ++line, col = 1;
      else
        ++col;
    }
    std::string what = e.what();
    auto pos = what.find("syntax error");
    if (pos != std::string::npos) what = what.substr(pos);
    throw_user_error(file + ":" + std::to_string(line) + ":" + std::to_string(col), "", "malformed JSON: " + what,
                     "fix the JSON syntax at that line and column");
  } catch (const Json::exception& e) {
    // Not a syntax error but still the text's fault: a number beyond double
    // ("1e999" is out_of_range 406), found by fuzz/*_fuzz.cpp.
    throw_user_error(file, "", std::string("malformed JSON: ") + e.what(), "fix the value the message names");
  }
}

Json parse_json_file(const std::string& path) { return parse_json_text(read_text_file(path, "model file"), path); }

std::string json_type_name(const Json& j) {
  if (j.is_null()) return "null";
  if (j.is_boolean()) return "a boolean";
  if (j.is_number_integer()) return "an integer";
  if (j.is_number()) return "a number";
  if (j.is_string()) return "a string";
  if (j.is_array()) return "an array";
  return "an object";
}

}  // namespace horizon::frontend

namespace horizon::frontend {
namespace {

std::string one_line(const Json& j) {
  if (j.is_object()) {
    std::string s = "{";
    bool first = true;
    for (const auto& [k, v] : j.items()) {
      s += (first ? "" : ", ") + Json(k).dump() + ": " + one_line(v);
      first = false;
    }
    return s + "}";
  }
  if (j.is_array()) {
    std::string s = "[";
    for (size_t i = 0; i < j.size(); ++i) s += (i ? ", " : "") + one_line(j[i]);
    return s + "]";
  }
  return j.dump();
}

void format_into(const Json& j, int indent, int width, std::string& out) {
  std::string flat = one_line(j);
  if ((!j.is_object() && !j.is_array()) || indent + static_cast<int>(flat.size()) <= width || j.empty()) {
    out += flat;
    return;
  }
  std::string pad(indent + 2, ' ');
  out += j.is_object() ? "{\n" : "[\n";
  size_t i = 0;
  for (const auto& [k, v] : j.items()) {
    out += pad;
    if (j.is_object()) out += Json(k).dump() + ": ";
    format_into(v, indent + 2, width, out);
    out += ++i < j.size() ? ",\n" : "\n";
  }
  out += std::string(indent, ' ') + (j.is_object() ? "}" : "]");
}

}  // namespace

std::string format_json(const Json& j, int width) {
  std::string out;
  format_into(j, 0, width, out);
  return out + "\n";
}

}  // namespace horizon::frontend
