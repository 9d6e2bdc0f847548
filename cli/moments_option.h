// --moments: how the host store keeps Adam's moments, for `train` and `plan`.
#pragma once

#include <cstdint>
#include <string>

#include "codegen/cpu/cpu_jit.h"
#include "ir/module.h"

namespace horizon::cli {

/// The help text of --moments.
inline constexpr const char* kMomentsHelp =
    "Adam moment storage: bf16 (8 bytes/param in all), f32 (12) or 8bit (6: block-wise\n"
    "quantized, for the largest models; docs/moments.md)";

/// "bf16", "f32" or "8bit"; anything else is a UserError naming `command`.
codegen::cpu::MomentType parse_moments(const std::string& command, const std::string& value);

/// The host store's bytes per parameter in its planes: 8, 12 or 6.
int64_t store_bytes_per_param(codegen::cpu::MomentType moments);

/// Bytes of the 8-bit moments' block scales of every parameter of `model`
/// (0 for other moment types): on the host beside the planes, and on the GPU
/// for resident layers, beside the schedule's buffers.
double moment_scale_bytes(const ir::Module& model, codegen::cpu::MomentType moments);

}  // namespace horizon::cli
