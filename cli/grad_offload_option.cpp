#include "cli/grad_offload_option.h"

#include "support/error.h"

namespace horizon::cli {

bool parse_bf16_gradients(const std::string& command, const std::string& value) {
  if (value == "bf16") return true;
  if (value == "fp32") return false;
  throw UserError("horizon " + command + ": --grad-offload must be fp32 or bf16, got '" + value + "'");
}

}  // namespace horizon::cli
