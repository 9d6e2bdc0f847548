// Resident memory of this process (Linux /proc), for the memory column of
// training metrics and the planner's predicted-vs-measured comparison.
#pragma once

#include <cstdint>

namespace horizon {

/// Current resident set size in bytes (0 where /proc is unavailable).
int64_t current_rss_bytes();
/// Peak resident set size in bytes since the process started.
int64_t peak_rss_bytes();

}  // namespace horizon
