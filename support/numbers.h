// Number formatting shared by every text form we print (IR, schedules, plans):
// shortest round-trip decimal for doubles, so print -> parse -> print is
// byte-identical, and human-readable byte and count sizes.
#pragma once

#include <cstdint>
#include <string>

namespace horizon {

/// Shortest decimal that parses back to exactly `v` ("1e-05", "10000", "0.02").
std::string format_double(double v);

/// 1536 -> "1.50 KiB", 3*2^30 -> "3.00 GiB".
std::string format_bytes(double bytes);

/// 6738415616 -> "6,738,415,616".
std::string format_count(int64_t n);

}  // namespace horizon
