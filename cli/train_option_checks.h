// Range checks of `horizon train`'s numeric options, by PyTorch's rules
// where it has them (torch.optim.AdamW: lr >= 0, eps >= 0, 0 <= beta < 1,
// weight_decay >= 0), so a typo is refused before the run instead of
// training to NaN.
#pragma once

#include "cli/arguments.h"

namespace horizon::cli {

/// UserError naming the first option out of range, its value and the range.
void check_train_options(const Arguments& a);

}  // namespace horizon::cli
