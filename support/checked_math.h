// Size arithmetic that cannot wrap: element counts and byte sizes come from
// model files and checkpoints, and a product that overflows int64 (vocab
// 2^62 times hidden) must be an error naming the input, not a small number
// that later indexes out of bounds.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>

namespace horizon {

/// a * b; UserError "WHAT: a * b overflows ..." if it does not fit in int64
/// or either factor is negative.
int64_t checked_mul(int64_t a, int64_t b, const std::string& what);
/// a + b, likewise.
int64_t checked_add(int64_t a, int64_t b, const std::string& what);
/// The product of `dims` (1 for none), likewise.
int64_t checked_product(std::initializer_list<int64_t> dims, const std::string& what);

}  // namespace horizon
