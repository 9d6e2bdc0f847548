#include "cli/train_option_checks.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include "support/error.h"

namespace horizon::cli {
namespace {

// [lo, hi] or [lo, hi) with `hi_open`.
void check_range(const Arguments& a, const char* name, double lo, double hi, bool hi_open, const char* why) {
  if (!a.declares(name)) return;
  const double v = a.get_double(name);
  const bool ok = std::isfinite(v) && v >= lo && (hi_open ? v < hi : v <= hi);
  if (ok) return;
  auto text = [](double x) {
    char out[32];
    std::snprintf(out, sizeof out, "%g", x);
    return std::string(out);
  };
  const std::string range = "[" + text(lo) + ", " + text(hi) + (hi_open ? ")" : "]");
  throw UserError("horizon train: --" + std::string(name) + " " + a.get(name) + " is out of range " + range + ": " +
                  why);
}

}  // namespace

void check_train_options(const Arguments& a) {
  const double inf = std::numeric_limits<double>::infinity();
  check_range(a, "lr", 0, inf, true, "a learning rate is a finite number >= 0 (as torch.optim.AdamW requires)");
  check_range(a, "beta1", 0, 1, true, "AdamW's beta1 must be in [0, 1) (as torch.optim.AdamW requires)");
  check_range(a, "beta2", 0, 1, true, "AdamW's beta2 must be in [0, 1) (as torch.optim.AdamW requires)");
  check_range(a, "eps", 0, inf, true, "AdamW's epsilon must be >= 0 (as torch.optim.AdamW requires)");
  check_range(a, "weight-decay", 0, inf, true, "weight decay must be >= 0 (as torch.optim.AdamW requires)");
  check_range(a, "clip", 0, inf, true, "the clipping threshold is >= 0 (0 disables clipping)");
  check_range(a, "min-lr-ratio", 0, 1, false, "the final learning rate is a fraction of the peak, from 0 to 1");
  check_range(a, "val-fraction", 0, 1, true, "the held-out fraction of the data is in [0, 1)");
  for (const char* n : {"warmup", "eval-every", "eval-batches", "save-every", "keep", "max-bad-steps", "sample"})
    if (a.declares(n) && a.get_int(n) < 0)
      throw UserError("horizon train: --" + std::string(n) + " must be 0 or positive, got " + a.get(n));
  if (a.declares("early-updates") && a.get_flag("early-updates") && a.get_double("clip") != 0)
    throw UserError("horizon train: --early-updates updates layers before the global norm is known, so it cannot clip; "
                    "add --clip 0, or drop --early-updates");
}

}  // namespace horizon::cli
