// Row filling, per-epoch shuffles and the data position's JSON form.
#include "data/packed_sampler.h"

#include <numeric>

#include "support/error.h"
#include "support/random.h"

namespace horizon::data {
namespace {

using frontend::Json;

uint64_t fingerprint_of(const DocumentSet& d) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over the document lengths and token count
  auto mix = [&](uint64_t v) {
    for (int i = 0; i < 8; ++i) h = (h ^ ((v >> (8 * i)) & 0xff)) * 1099511628211ull;
  };
  for (int64_t e : d.ends()) mix(static_cast<uint64_t>(e));
  mix(static_cast<uint64_t>(d.token_count()));
  return h;
}

}  // namespace

LongDocs parse_long_docs(const std::string& value) {
  if (value == "split") return LongDocs::split;
  if (value == "drop") return LongDocs::drop;
  throw UserError("--long-docs must be split or drop, got '" + value + "'");
}

Json DataPosition::to_json() const {
  // 64-bit values as strings: JSON readers elsewhere (Python's is fine, JavaScript's is not) lose bits above 2^53.
  return Json{{"sampler", sampler},     {"seed", std::to_string(seed)},
              {"epoch", epoch},         {"index", index},
              {"offset", offset},       {"window_state", std::to_string(window_state)},
              {"documents", documents}, {"fingerprint", std::to_string(fingerprint)}};
}

DataPosition DataPosition::from_json(const Json& j, const std::string& origin) {
  if (!j.is_object()) throw_user_error(origin, "data position", "is not a JSON object", "");
  DataPosition p;
  auto int_field = [&](const char* name) -> int64_t {
    auto it = j.find(name);
    if (it == j.end() || !it->is_number_integer())
      throw_user_error(origin, std::string("data position.") + name, "is missing or not an integer", "");
    return it->get<int64_t>();
  };
  auto u64_field = [&](const char* name) -> uint64_t {
    auto it = j.find(name);
    if (it == j.end() || !it->is_string())
      throw_user_error(origin, std::string("data position.") + name, "is missing or not a string of digits", "");
    const std::string s = it->get<std::string>();
    if (s.empty() || s.size() > 20 || s.find_first_not_of("0123456789") != std::string::npos)
      throw_user_error(origin, std::string("data position.") + name, "'" + s + "' is not an unsigned integer", "");
    return std::stoull(s);
  };
  auto it = j.find("sampler");
  if (it == j.end() || !it->is_string() || (*it != "packed" && *it != "windows" && *it != "pairs"))
    throw_user_error(origin, "data position.sampler", "must be \"packed\", \"windows\" or \"pairs\"", "");
  p.sampler = it->get<std::string>();
  p.seed = u64_field("seed");
  p.epoch = int_field("epoch");
  p.index = int_field("index");
  p.offset = int_field("offset");
  p.window_state = u64_field("window_state");
  p.documents = int_field("documents");
  p.fingerprint = u64_field("fingerprint");
  if (p.epoch < 0 || p.index < 0 || p.offset < 0 || p.documents < 0)
    throw_user_error(origin, "data position", "has a negative field", "");
  return p;
}

PackedSampler::PackedSampler(std::shared_ptr<const DocumentSet> documents, int64_t batch, int64_t seq, uint64_t seed,
                             LongDocs long_docs, bool shuffle)
    : docs_(std::move(documents)), batch_(batch), seq_(seq), shuffle_(shuffle) {
  if (batch_ < 1) throw UserError("--batch must be at least 1, got " + std::to_string(batch_));
  if (seq_ < 1) throw UserError("--seq must be at least 1, got " + std::to_string(seq_));
  for (int64_t d = 0; d < docs_->size(); ++d) {
    if (docs_->length(d) > seq_) {
      if (long_docs == LongDocs::drop) {
        ++dropped_;
        continue;
      }
      ++split_;
    }
    kept_.push_back(d);
  }
  if (kept_.empty())
    throw UserError("no document to train on: " + std::to_string(dropped_) + " of " + std::to_string(docs_->size()) +
                    " are longer than --seq " + std::to_string(seq_) +
                    " and --long-docs drop leaves them out; use a "
                    "larger --seq or --long-docs split");
  position_.seed = seed;
  position_.documents = docs_->size();
  position_.fingerprint = fingerprint_of(*docs_);
}

const std::vector<int64_t>& PackedSampler::order(int64_t epoch) const {
  if (order_epoch_ == epoch) return order_;
  order_ = kept_;
  if (shuffle_) {
    // Each epoch's order depends only on (seed, epoch): a resume recomputes it without any stored generator state.
    Rng rng(position_.seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(epoch) + 1);
    for (size_t i = order_.size() - 1; i > 0; --i) std::swap(order_[i], order_[rng.below(i + 1)]);
  }
  order_epoch_ = epoch;
  return order_;
}

void PackedSampler::fill_row(Batch* out, int64_t row, DataPosition& p) const {
  int64_t pos = 0, segment = 0;
  auto put = [&](int32_t token, int32_t target, int64_t position) {
    if (out) {
      const int64_t at = row * seq_ + pos;
      out->tokens[at] = token;
      out->targets[at] = target;
      out->positions[at] = static_cast<int32_t>(position);
      out->segments[at] = static_cast<int32_t>(segment);
    }
    ++pos;
  };
  while (pos < seq_) {
    if (p.index >= static_cast<int64_t>(order(p.epoch).size())) {
      ++p.epoch;
      p.index = 0;
      p.offset = 0;
    }
    const int64_t doc = order(p.epoch)[p.index];
    const int64_t length = docs_->length(doc), left = length - p.offset, space = seq_ - pos;
    if (left > space && p.offset == 0 && length <= seq_ && pos > 0) {
      for (int64_t k = 0; pos < seq_; ++k) put(0, -1, k);  // padding: the document starts the next row whole
      break;
    }
    const int64_t take = std::min(left, space);
    if (out) {
      std::span<const int32_t> t = docs_->tokens(doc);
      std::span<const uint8_t> loss = docs_->loss(doc);
      for (int64_t k = 0; k < take; ++k) {
        const int64_t j = p.offset + k;
        put(t[j], j + 1 < length && loss[j + 1] ? t[j + 1] : -1, k);
      }
    } else {
      pos += take;
    }
    ++segment;
    p.offset += take;
    if (p.offset == length) {
      ++p.index;
      p.offset = 0;
    }
  }
}

Batch PackedSampler::next() {
  const size_t n = static_cast<size_t>(batch_ * seq_);
  Batch b{
      batch_, seq_, std::vector<int32_t>(n), std::vector<int32_t>(n), std::vector<int32_t>(n), std::vector<int32_t>(n)};
  for (int64_t r = 0; r < batch_; ++r) fill_row(&b, r, position_);
  return b;
}

std::vector<Batch> PackedSampler::validation_batches(int64_t n) const {
  PackedSampler fixed = *this;
  fixed.shuffle_ = false;
  fixed.order_epoch_ = -1;
  fixed.position_.epoch = fixed.position_.index = fixed.position_.offset = 0;
  std::vector<Batch> out;
  for (int64_t i = 0; i < n; ++i) out.push_back(fixed.next());
  return out;
}

void PackedSampler::set_state(const DataPosition& p) {
  auto refuse = [](const std::string& problem) {
    throw UserError("the saved data position " + problem +
                    "; resume with the same --data, tokenizer, template and --seed (or start a new run)");
  };
  if (p.sampler != "packed") refuse("is of the " + p.sampler + " sampler, this run packs documents");
  if (p.seed != position_.seed) refuse("was made with --seed " + std::to_string(p.seed));
  if (p.documents != position_.documents || p.fingerprint != position_.fingerprint)
    refuse("belongs to other data (" + std::to_string(p.documents) + " documents, this data has " +
           std::to_string(position_.documents) + ")");
  const auto kept = static_cast<int64_t>(kept_.size());
  if (p.index > kept || (p.index == kept && p.offset != 0) ||
      (p.index < kept && p.offset >= docs_->length(order(p.epoch)[p.index])))
    refuse("points past its document");
  position_ = p;
}

int64_t PackedSampler::steps_for_epochs(int64_t epochs) const {
  DataPosition p = position_;
  p.epoch = p.index = p.offset = 0;
  int64_t rows = 0;
  while (p.epoch < epochs) {
    fill_row(nullptr, 0, p);
    ++rows;
    if (p.index >= static_cast<int64_t>(kept_.size())) {  // the epoch's last document ended exactly with the row
      ++p.epoch;
      p.index = 0;
    }
  }
  return (rows + batch_ - 1) / batch_;
}

}  // namespace horizon::data
