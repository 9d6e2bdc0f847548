// The reward metrics TRL's DPOTrainer logs each step, from the policy's and
// the reference's sequence log-probabilities of a step's pairs (rows 2k and
// 2k+1: chosen and rejected): rewards/chosen = beta (pi_c - ref_c),
// rewards/rejected = beta (pi_r - ref_r), rewards/accuracies = the fraction
// of pairs with chosen > rejected, rewards/margins = chosen - rejected; each
// the mean over the step's pairs (all micro-batches).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ir/module.h"

namespace horizon::runtime {

/// Named per-step metrics beyond the loss, in the order they are reported.
using NamedMetrics = std::vector<std::pair<std::string, double>>;

class PreferenceRewards {
 public:
  explicit PreferenceRewards(double beta) : beta_(beta) {}
  /// Adds the pairs of `rows` rows (rows even).
  void add(const float* policy, const float* reference, int64_t rows);
  /// The four means; empty when no pair was added.
  NamedMetrics metrics() const;

 private:
  double beta_;
  int64_t pairs_ = 0;
  double chosen_ = 0, rejected_ = 0, correct_ = 0;
};

/// The beta of a lowered module's dpo_loss, or none for another objective.
std::optional<double> preference_beta(const ir::Module& lowered);

}  // namespace horizon::runtime
