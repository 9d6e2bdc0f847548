// Reference DPO ops in float64, written from TRL's DPOTrainer: a sequence's
// log-probability is the sum (IPO: the mean) over its response tokens of
// log softmax(logits)[token]; pair k is rows 2k (chosen) and 2k+1 (rejected);
// z = (pi_c - ref_c) - (pi_r - ref_r); the loss is the mean over pairs of
// -logsigmoid(beta z)(1 - ls) - logsigmoid(-beta z) ls, or (z - 1/(2 beta))^2.
#include <cmath>

#include "runtime/reference/op_families.h"

namespace horizon::reference::family {
namespace {

struct Dpo {
  double beta, smoothing;
  bool ipo;
};

Dpo dpo_attrs(const ir::Attrs& attrs) {
  return {ir::attr_number(attrs, "beta"), ir::attr_number_or(attrs, "label_smoothing", 0.0),
          ir::attr_number_or(attrs, "ipo", 0) != 0};
}

double log_sigmoid(double x) { return x >= 0 ? -std::log1p(std::exp(-x)) : x - std::log1p(std::exp(x)); }

/// Pair k's loss as a function of its z.
double pair_loss(const Dpo& d, double z) {
  if (d.ipo) return (z - 1.0 / (2.0 * d.beta)) * (z - 1.0 / (2.0 * d.beta));
  return -log_sigmoid(d.beta * z) * (1.0 - d.smoothing) - log_sigmoid(-d.beta * z) * d.smoothing;
}

/// Its derivative by z.
double pair_loss_dz(const Dpo& d, double z) {
  if (d.ipo) return 2.0 * (z - 1.0 / (2.0 * d.beta));
  const double s = 1.0 / (1.0 + std::exp(-d.beta * z));  // sigmoid(beta z)
  return -(1.0 - d.smoothing) * d.beta * (1.0 - s) + d.smoothing * d.beta * s;
}

}  // namespace

std::vector<RefTensor> preference(ir::Op op, const Operands& in, const ir::Attrs& attrs) {
  if (op == ir::Op::sequence_logprob || op == ir::Op::sequence_logprob_grad) {
    const size_t k = op == ir::Op::sequence_logprob ? 0 : 1;
    const RefTensor &logits = *in[k], &targets = *in[k + 1];
    require(logits.shape.size() == 3, op, "logits " + shape_str(logits.shape) + " must be [B, S, V]");
    const int64_t B = logits.shape[0], S = logits.shape[1], V = logits.shape[2];
    require(static_cast<int64_t>(targets.ints.size()) == B * S, op, "targets must be [B, S]");
    const bool average = ir::attr_number_or(attrs, "average", 0) != 0;
    RefTensor y = RefTensor::zeros({B});
    RefTensor d = RefTensor::zeros(logits.shape);
    for (int64_t r = 0; r < B; ++r) {
      int64_t count = 0;
      for (int64_t s = 0; s < S; ++s) count += targets.ints[r * S + s] >= 0;
      const double scale = average ? (count ? 1.0 / static_cast<double>(count) : 0.0) : 1.0;
      for (int64_t s = 0; s < S; ++s) {
        const int64_t n = r * S + s;
        const int32_t t = targets.ints[n];
        if (t < 0) continue;
        require(t < V, op, "target " + std::to_string(t) + " is outside the vocabulary");
        const double* row = logits.data.data() + n * V;
        double m = row[0];
        for (int64_t v = 1; v < V; ++v) m = std::max(m, row[v]);
        double sum = 0;
        for (int64_t v = 0; v < V; ++v) sum += std::exp(row[v] - m);
        const double lse = m + std::log(sum);
        y.data[r] += (row[t] - lse) * scale;
        if (k == 1)
          for (int64_t v = 0; v < V; ++v)
            d.data[n * V + v] = in[0]->data[r] * scale * ((v == t ? 1.0 : 0.0) - std::exp(row[v] - lse));
      }
    }
    return {op == ir::Op::sequence_logprob ? y : d};
  }
  require(op == ir::Op::dpo_loss || op == ir::Op::dpo_loss_grad, op, "not a preference op");
  const RefTensor &policy = *in[0], &reference = *in[1];
  require(policy.shape.size() == 1 && policy.shape == reference.shape && policy.shape[0] % 2 == 0, op,
          "policy and reference must be [B] with B even, got " + shape_str(policy.shape) + " and " +
              shape_str(reference.shape));
  const Dpo d = dpo_attrs(attrs);
  const int64_t pairs = policy.shape[0] / 2;
  RefTensor loss = RefTensor::zeros({});
  RefTensor dpolicy = RefTensor::zeros(policy.shape), dreference = RefTensor::zeros(policy.shape);
  for (int64_t k = 0; k < pairs; ++k) {
    const double z =
        (policy.data[2 * k] - reference.data[2 * k]) - (policy.data[2 * k + 1] - reference.data[2 * k + 1]);
    loss.data[0] += pair_loss(d, z) / static_cast<double>(pairs);
    const double dz = pair_loss_dz(d, z) / static_cast<double>(pairs);
    dpolicy.data[2 * k] = dz;
    dpolicy.data[2 * k + 1] = -dz;
    dreference.data[2 * k] = -dz;
    dreference.data[2 * k + 1] = dz;
  }
  if (op == ir::Op::dpo_loss) return {loss};
  return {dpolicy, dreference};
}

}  // namespace horizon::reference::family
