// Resident memory of this process and what the machine has left (Linux
// /proc): the memory column of training metrics, the planner's
// predicted-vs-measured comparison, and train's check before it allocates.
#pragma once

#include <cstdint>

namespace horizon {

/// Current resident set size in bytes (0 where /proc is unavailable).
int64_t current_rss_bytes();
/// Peak resident set size in bytes since the process started.
int64_t peak_rss_bytes();
/// Memory the kernel says a new allocation can get without swapping
/// (MemAvailable); 0 where /proc/meminfo is unavailable.
int64_t available_memory_bytes();

}  // namespace horizon
