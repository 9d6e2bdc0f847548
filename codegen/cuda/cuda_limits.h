// The limits of the CUDA kernels that a model's own settings can break
// (today: the attention's head_dim), checked on the lowered module before
// any kernel is generated. A model that breaks them still trains on the
// CPU, so breaking one is the user's to fix, not a bug: the error names the
// model key, what the CUDA kernels support and the way out.
#pragma once

#include "ir/module.h"

namespace horizon::codegen::cuda {

/// UserError ("model M: head_dim 86: the CUDA attention supports ...; use
/// --device cpu") when the CUDA backend cannot run `m`.
void check_cuda_limits(const ir::Module& m);

}  // namespace horizon::codegen::cuda
