// libFuzzer target for the schedule IR's text form, which `horizon verify`
// reads from a user's file: the parser, then (when it parses) the verifier
// and the printer's round trip. Only UserError may leave them; anything
// else escaping (or a crash) is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "ir/schedule.h"
#include "support/error.h"

int horizon_fuzz_schedule_text(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const horizon::ir::Schedule s = horizon::ir::parse_schedule(text, "fuzz");
    const std::string printed = horizon::ir::print_schedule(s);
    if (horizon::ir::print_schedule(horizon::ir::parse_schedule(printed, "fuzz-reprinted")) != printed)
      __builtin_trap();
    horizon::ir::verify_schedule(s);
  } catch (const horizon::UserError&) {
  }
  return 0;
}
