// UTF-8 text as Python sees it: code points for len() and slicing, and
// Python's set of whitespace for strip()/split() and jinja2's `-` trimming.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace horizon::data::jinja {

/// Code points of `s`; a byte that is not valid UTF-8 decodes as itself
/// (0x80..0xFF), so decode + encode never loses input.
std::u32string utf8_decode(std::string_view s);
std::string utf8_encode(std::u32string_view s);
void append_utf8(std::string& out, char32_t c);
/// Byte offset of the first invalid UTF-8 sequence (overlong forms and
/// surrogates included), or npos.
size_t find_invalid_utf8(std::string_view s);
/// Python's str.isspace() for one code point.
bool is_python_space(char32_t c);
/// Python's str.isprintable() for one code point (approximation: control,
/// separator and format characters that repr() escapes).
bool is_python_printable(char32_t c);

/// str.strip()/lstrip()/rstrip(): whitespace when `chars` is null, else any
/// code point in *chars.
std::string python_strip(std::string_view s, const std::string* chars, bool left, bool right);

/// str.splitlines(keepends): lines end at \n, \r, \r\n, \v, \f, \x1c-\x1e, \x85, U+2028, U+2029.
std::vector<std::string> python_splitlines(std::string_view s, bool keepends);

/// ASCII case mapping.
std::string ascii_upper(std::string s);
std::string ascii_lower(std::string s);

/// str.upper() / str.lower() for ASCII, Latin-1, Latin Extended-A, Greek,
/// Cyrillic and fullwidth Latin (ß upper-cases to SS, a final Σ lower-cases
/// to ς); other scripts are left as they are.
std::string python_upper(std::string_view s);
std::string python_lower(std::string_view s);
/// One code point's simple case mappings and whether it is a cased letter.
char32_t upper_of(char32_t c);
char32_t lower_of(char32_t c);
bool is_cased(char32_t c);

}  // namespace horizon::data::jinja
