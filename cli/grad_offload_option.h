// --grad-offload: the precision streamed gradients cross PCIe in, for
// `train`, `plan`, `compile` and `gradients` (docs/bf16-gradient-offload.md).
#pragma once

#include <string>

namespace horizon::cli {

/// The help text of --grad-offload.
inline constexpr const char* kGradOffloadHelp =
    "precision of streamed layers' gradients on their way to the host: fp32 (4 bytes/param of pinned\n"
    "slab with clipping) or bf16 (2: accumulated in fp32 on the GPU, cast to bf16 before the copy;\n"
    "docs/bf16-gradient-offload.md)";

/// Whether `value` asks for bf16 ("bf16") or fp32 ("fp32"); anything else is
/// a UserError naming `command`.
bool parse_bf16_gradients(const std::string& command, const std::string& value);

}  // namespace horizon::cli
