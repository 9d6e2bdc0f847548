#include "support/checked_math.h"

#include "support/error.h"

namespace horizon {

int64_t checked_mul(int64_t a, int64_t b, const std::string& what) {
  int64_t out = 0;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &out))
    throw UserError(what + ": " + std::to_string(a) + " * " + std::to_string(b) +
                    " is negative or exceeds 2^63; check the sizes that multiply to it");
  return out;
}

int64_t checked_add(int64_t a, int64_t b, const std::string& what) {
  int64_t out = 0;
  if (a < 0 || b < 0 || __builtin_add_overflow(a, b, &out))
    throw UserError(what + ": " + std::to_string(a) + " + " + std::to_string(b) +
                    " is negative or exceeds 2^63; check the sizes that add up to it");
  return out;
}

int64_t checked_product(std::initializer_list<int64_t> dims, const std::string& what) {
  int64_t out = 1;
  for (int64_t d : dims) out = checked_mul(out, d, what);
  return out;
}

}  // namespace horizon
