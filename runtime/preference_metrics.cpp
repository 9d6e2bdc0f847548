#include "runtime/preference_metrics.h"

namespace horizon::runtime {

void PreferenceRewards::add(const float* policy, const float* reference, int64_t rows) {
  for (int64_t k = 0; k + 1 < rows; k += 2) {
    const double chosen = beta_ * (static_cast<double>(policy[k]) - reference[k]);
    const double rejected = beta_ * (static_cast<double>(policy[k + 1]) - reference[k + 1]);
    chosen_ += chosen;
    rejected_ += rejected;
    correct_ += chosen > rejected ? 1.0 : 0.0;
    ++pairs_;
  }
}

NamedMetrics PreferenceRewards::metrics() const {
  if (pairs_ == 0) return {};
  const double n = static_cast<double>(pairs_);
  return {{"rewards/chosen", chosen_ / n},
          {"rewards/rejected", rejected_ / n},
          {"rewards/accuracies", correct_ / n},
          {"rewards/margins", (chosen_ - rejected_) / n}};
}

std::optional<double> preference_beta(const ir::Module& lowered) {
  const ir::Stage* head = lowered.find_stage("head");
  if (!head) return std::nullopt;
  for (const ir::Instr& in : head->instrs)
    if (in.op == ir::Op::dpo_loss) return ir::attr_number(in.attrs, "beta");
  return std::nullopt;
}

}  // namespace horizon::runtime
