// Schedule text dumps given on the command line (`horizon verify FILE`,
// `horizon plan FILE --model MODEL`): what `horizon compile --emit=schedule`
// printed, perhaps edited by hand, read back and judged the way the
// compiler judges its own schedules.
#pragma once

#include <string>

#include "ir/module.h"
#include "ir/schedule.h"

namespace horizon::cli {

/// Whether `path` is a file whose text starts (after blanks and `//`
/// comments) with the word `schedule`: a schedule dump rather than a model.
bool is_schedule_file(const std::string& path);

/// The schedule in `path`, parsed and proven race-free by the verifier.
/// UserError naming the file (and the line, or the two instructions of a race).
ir::Schedule load_verified_schedule(const std::string& path);

/// The model `s` (read from `file`) was compiled from: `model_path` loaded
/// and lowered. UserError when its name is not the schedule's model.
ir::Module model_of_schedule(const ir::Schedule& s, const std::string& file, const std::string& model_path);

}  // namespace horizon::cli
