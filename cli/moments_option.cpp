#include "cli/moments_option.h"

#include "ir/param_layout.h"
#include "support/error.h"
#include "support/moment_quantization.h"

namespace horizon::cli {

codegen::cpu::MomentType parse_moments(const std::string& command, const std::string& value) {
  if (value == "bf16") return codegen::cpu::MomentType::bf16;
  if (value == "f32") return codegen::cpu::MomentType::f32;
  if (value == "8bit") return codegen::cpu::MomentType::q8;
  throw UserError("horizon " + command + ": --moments must be bf16, f32 or 8bit, got '" + value + "'");
}

int64_t store_bytes_per_param(codegen::cpu::MomentType moments) {
  return 4 + 2 * codegen::cpu::moment_plane_bytes(moments);
}

double moment_scale_bytes(const ir::Module& model, codegen::cpu::MomentType moments) {
  if (moments != codegen::cpu::MomentType::q8) return 0;
  double blocks = 0;
  for (const ir::LaidOutTensor& t : ir::layout_params(model).tensors)
    blocks += static_cast<double>(moment_blocks(t.elements));
  return blocks * 8;
}

}  // namespace horizon::cli
