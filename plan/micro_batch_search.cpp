// Micro-batch search. Each trial lowers a one-micro-batch schedule of n
// sequences; a trial the lowering rejects (a UserError about the options)
// counts as not fitting, so the search never reports a size that cannot be
// planned.
#include "plan/micro_batch_search.h"

#include "support/error.h"

namespace horizon::plan {

int64_t largest_micro_batch(const ir::Module& graph, const passes::StreamingOptions& options, int64_t limit,
                            const ExtraGpuBytes& extra) {
  auto fits = [&](int64_t n) {
    passes::StreamingOptions trial = options;
    trial.batch = n;
    trial.micro_batches = 1;
    try {
      ir::Schedule s = passes::lower_to_schedule(graph, trial);
      return static_cast<double>(s.bytes(ir::Place::gpu)) + (extra ? extra(s) : 0.0) <= options.gpu_bytes;
    } catch (const UserError&) {
      return false;
    }
  };
  if (!fits(1)) return 0;
  int64_t good = 1, bad = 2;
  while (bad <= limit && fits(bad)) good = bad, bad *= 2;
  if (bad > limit) return good;
  while (bad - good > 1) {
    int64_t mid = good + (bad - good) / 2;
    if (fits(mid))
      good = mid;
    else
      bad = mid;
  }
  return good;
}

}  // namespace horizon::plan
