// UTF-8 helpers the Hugging Face tokenizer needs to reproduce Rust's string
// semantics: char iteration, `char::is_whitespace`, and
// `String::from_utf8_lossy`, whose U+FFFD placement (one per maximal invalid
// subpart) decides what a decoded byte-level token sequence looks like.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace horizon::data::utf8 {

/// Length of the valid UTF-8 character starting at text[i], or 0 when the
/// bytes there are not one (truncated, overlong, surrogate, above U+10FFFF).
size_t valid_char_length(std::string_view text, size_t i);

/// Length of the character at text[i] in text already known to be valid.
inline size_t char_length(unsigned char lead) { return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4; }

/// The code point at text[i] (valid UTF-8 assumed).
char32_t decode_at(std::string_view text, size_t i);

void append(std::string& out, char32_t code_point);

bool is_valid(std::string_view text);

/// Rust's String::from_utf8_lossy: each maximal invalid subpart becomes U+FFFD.
std::string lossy(std::string_view bytes);

/// Rust's char::is_whitespace (the Unicode White_Space property).
bool is_whitespace(char32_t c);

/// Number of characters (valid UTF-8 assumed).
size_t count_chars(std::string_view text);

}  // namespace horizon::data::utf8
