// BPE (see bpe_model.h); semantics from the `tokenizers` library's
// models/bpe/{model,word,serialization}.rs.
#include "data/bpe_model.h"

#include <atomic>
#include <cstdio>
#include <queue>

#include "data/tokenizer_json.h"
#include "data/utf8_text.h"

namespace horizon::data {

namespace {

// Words longer than this are not cached (the library uses the same bound).
constexpr size_t kMaxCachedWordBytes = 256;

std::atomic<uint64_t> next_cache_owner{1};

}  // namespace

BpeModel::BpeModel(const JsonPlace& place) : cache_owner_(next_cache_owner++) {
  place.type("BPE");
  const JsonPlace dropout = place["dropout"];
  if (!dropout.is_null() && !(dropout.json().is_number() && dropout.json().get<double>() == 0.0))
    dropout.fail("BPE dropout is random and not supported for encoding", "set \"dropout\": null");

  const JsonPlace vocab = place["vocab"];
  if (!vocab.json().is_object()) vocab.fail("expected an object mapping tokens to IDs");
  int64_t limit = 0;
  vocab_.reserve(vocab.json().size());
  for (const auto& [token, id_json] : vocab.json().items()) {
    const JsonPlace id_place = vocab[token];
    const int64_t id = id_place.integer();
    if (id < 0 || id > INT32_MAX) id_place.fail("token ID out of range");
    vocab_.emplace(token, static_cast<int32_t>(id));
    limit = std::max(limit, id + 1);
  }
  // IDs index a table: a stray huge ID must not allocate gigabytes.
  const auto count = static_cast<int64_t>(vocab_.size());
  if (limit > 2 * count + 1024)
    vocab.fail("token IDs go up to " + std::to_string(limit - 1) + " for only " + std::to_string(count) + " tokens",
               "vocabulary IDs are expected to be 0..N-1");
  tokens_.resize(static_cast<size_t>(limit));
  has_token_.assign(static_cast<size_t>(limit), false);
  for (const auto& [token, id] : vocab_) {
    tokens_[id] = token;
    has_token_[id] = true;
  }

  continuing_subword_prefix_ = place["continuing_subword_prefix"].string_or("");
  end_of_word_suffix_ = place["end_of_word_suffix"].string_or("");
  fuse_unk_ = place["fuse_unk"].boolean_or(false);
  byte_fallback_ = place["byte_fallback"].boolean_or(false);
  ignore_merges_ = place["ignore_merges"].boolean_or(false);
  if (place.has("unk_token")) {
    const std::string unk = place["unk_token"].string();
    auto it = vocab_.find(unk);
    if (it == vocab_.end()) place["unk_token"].fail("\"" + unk + "\" is not in model.vocab");
    unk_id_ = it->second;
  }
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    auto it = vocab_.find(std::string_view(name));
    byte_ids_[b] = it == vocab_.end() ? -1 : it->second;
  }

  split_before_metaspace_ = !ignore_merges_ && continuing_subword_prefix_.empty() && end_of_word_suffix_.empty() &&
                            vocab_.count(std::string(kMetaspace)) > 0;
  for (auto it = vocab_.begin(); split_before_metaspace_ && it != vocab_.end(); ++it) {
    const std::string& token = it->first;
    for (size_t at = token.find(kMetaspace, 1); at != std::string::npos; at = token.find(kMetaspace, at + 1)) {
      if (at >= kMetaspace.size() && token.compare(at - kMetaspace.size(), kMetaspace.size(), kMetaspace) == 0)
        continue;
      split_before_metaspace_ = false;  // some token joins a character to a following "▁"
      break;
    }
  }

  const JsonPlace merges = place["merges"];
  if (!merges.json().is_array()) merges.fail("expected a list of merges");
  merges_.reserve(merges.json().size());
  for (size_t rank = 0; rank < merges.json().size(); ++rank) {
    const JsonPlace merge = merges[rank];
    const Json& m = merge.json();
    if (m.is_string()) {  // "left right"
      const std::string& text = m.get_ref<const std::string&>();
      const size_t space = text.find(' ');
      if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos)
        merge.fail("expected two tokens separated by one space, found \"" + text + "\"");
      add_merge(merge, static_cast<int32_t>(rank), text.substr(0, space), text.substr(space + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      add_merge(merge, static_cast<int32_t>(rank), m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      merge.fail("expected \"left right\" or [\"left\", \"right\"]");
    }
  }
}

void BpeModel::add_merge(const JsonPlace& place, int32_t rank, const std::string& left, const std::string& right) {
  auto l = vocab_.find(left);
  auto r = vocab_.find(right);
  if (l == vocab_.end()) place.fail("merge token \"" + left + "\" is not in model.vocab");
  if (r == vocab_.end()) place.fail("merge token \"" + right + "\" is not in model.vocab");
  std::string merged = left;
  merged.append(right, std::min(continuing_subword_prefix_.size(), right.size()), std::string::npos);
  auto m = vocab_.find(merged);
  if (m == vocab_.end()) place.fail("merged token \"" + merged + "\" is not in model.vocab");
  merges_[pair_key(l->second, r->second)] = Merge{rank, m->second};  // a repeated pair keeps its last rank
}

std::optional<int32_t> BpeModel::token_id(std::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::token(int32_t id) const {
  if (id < 0 || id >= id_limit() || !has_token_[id]) return nullptr;
  return &tokens_[id];
}

void BpeModel::initial_symbols(std::string_view word, std::vector<int32_t>& ids, std::vector<uint32_t>& lengths) const {
  std::optional<std::pair<int32_t, uint32_t>> pending_unk;
  std::string affixed;
  for (size_t i = 0; i < word.size();) {
    const size_t n = utf8::char_length(static_cast<unsigned char>(word[i]));
    std::string_view symbol = word.substr(i, n);
    const bool first = i == 0, last = i + n >= word.size();
    if ((!first && !continuing_subword_prefix_.empty()) || (last && !end_of_word_suffix_.empty())) {
      affixed.assign(first ? "" : continuing_subword_prefix_);
      affixed.append(symbol);
      if (last) affixed += end_of_word_suffix_;
      symbol = affixed;
    }
    i += n;
    auto it = vocab_.find(symbol);
    if (it != vocab_.end()) {
      if (pending_unk) {
        ids.push_back(pending_unk->first);
        lengths.push_back(pending_unk->second);
        pending_unk.reset();
      }
      ids.push_back(it->second);
      lengths.push_back(static_cast<uint32_t>(n));
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (char c : symbol) all = all && byte_ids_[static_cast<unsigned char>(c)] >= 0;
      if (all) {
        // Like the library, bytes go out before a pending unk (only reachable
        // with an incomplete byte table).
        for (char c : symbol) {
          ids.push_back(byte_ids_[static_cast<unsigned char>(c)]);
          lengths.push_back(1);
        }
        continue;
      }
    }
    if (!unk_id_) continue;  // the library drops what it cannot represent
    if (pending_unk && fuse_unk_) {
      pending_unk->second += static_cast<uint32_t>(n);
    } else {
      if (pending_unk) {
        ids.push_back(pending_unk->first);
        lengths.push_back(pending_unk->second);
      }
      pending_unk = std::make_pair(*unk_id_, static_cast<uint32_t>(n));
    }
  }
  if (pending_unk) {
    ids.push_back(pending_unk->first);
    lengths.push_back(pending_unk->second);
  }
}

void BpeModel::merge(std::vector<int32_t>& ids) const {
  const int n = static_cast<int>(ids.size());
  if (n < 2) return;
  struct Symbol {
    int32_t id;
    int prev, next;
    bool removed;
  };
  std::vector<Symbol> symbols(n);
  for (int i = 0; i < n; ++i) symbols[i] = {ids[i], i - 1, i + 1 < n ? i + 1 : -1, false};

  struct Candidate {
    int32_t rank;
    int pos;
    int32_t new_id;
    // priority_queue pops the largest: make the lowest rank, then the leftmost, largest.
    bool operator<(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::vector<Candidate> storage;
  storage.reserve(n);
  std::priority_queue<Candidate> queue(std::less<Candidate>(), std::move(storage));
  for (int i = 0; i + 1 < n; ++i) {
    auto it = merges_.find(pair_key(ids[i], ids[i + 1]));
    if (it != merges_.end()) queue.push({it->second.rank, i, it->second.new_id});
  }
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    if (left.removed || left.next < 0) continue;
    const int right_pos = left.next;
    Symbol& right = symbols[right_pos];
    // A stale entry: one side has changed since it was queued.
    auto it = merges_.find(pair_key(left.id, right.id));
    if (it == merges_.end() || it->second.new_id != top.new_id) continue;
    left.id = top.new_id;
    left.next = right.next;
    right.removed = true;
    if (right.next >= 0) symbols[right.next].prev = top.pos;
    if (left.prev >= 0) {
      auto p = merges_.find(pair_key(symbols[left.prev].id, left.id));
      if (p != merges_.end()) queue.push({p->second.rank, left.prev, p->second.new_id});
    }
    if (left.next >= 0) {
      auto q = merges_.find(pair_key(left.id, symbols[left.next].id));
      if (q != merges_.end()) queue.push({q->second.rank, top.pos, q->second.new_id});
    }
  }
  ids.clear();
  for (const Symbol& s : symbols)
    if (!s.removed) ids.push_back(s.id);
}

WordCache& BpeModel::thread_cache() const {
  // A thread rarely serves more than a few models; past that the caches start
  // over rather than grow.
  thread_local std::unordered_map<uint64_t, WordCache> caches;
  auto it = caches.find(cache_owner_);
  if (it != caches.end()) return it->second;
  if (caches.size() >= 4) caches.clear();
  return caches[cache_owner_];
}

void BpeModel::encode_uncached(std::string_view word, std::vector<int32_t>& out) const {
  thread_local std::vector<int32_t> ids;
  thread_local std::vector<uint32_t> lengths;
  ids.clear();
  lengths.clear();
  initial_symbols(word, ids, lengths);
  merge(ids);
  out.insert(out.end(), ids.begin(), ids.end());
}

void BpeModel::encode_words(const PieceList& words, std::vector<int32_t>& out) const {
  WordCache& cache = thread_cache();
  const auto encode_one = [&](std::string_view word) {
    if (ignore_merges_) {
      auto it = vocab_.find(word);
      if (it != vocab_.end()) {
        out.push_back(it->second);
        return;
      }
    }
    if (word.size() >= kMaxCachedWordBytes) {
      encode_uncached(word, out);
      return;
    }
    const uint64_t h = WordCache::hash(word);
    uint32_t count = 0;
    if (const int32_t* ids = cache.find(word, h, count)) {
      out.insert(out.end(), ids, ids + count);
      return;
    }
    const size_t mark = out.size();
    encode_uncached(word, out);
    cache.insert(word, h, out.data() + mark, static_cast<uint32_t>(out.size() - mark));
  };
  for (const PieceList::Span& span : words.spans) {
    const std::string_view word = words.view(span);
    if (!split_before_metaspace_) {
      encode_one(word);
      continue;
    }
    // No merge can join a character to a following "▁" (no token contains
    // one), so the word is encoded in parts cut there: each part repeats and
    // hits the cache, where the whole line of a SentencePiece-style text
    // would not. Same IDs as merging the whole.
    size_t begin = 0;
    for (size_t at = word.find(kMetaspace, 1); at != std::string_view::npos; at = word.find(kMetaspace, at + 1)) {
      if (at >= kMetaspace.size() && word.compare(at - kMetaspace.size(), kMetaspace.size(), kMetaspace) == 0)
        continue;  // inside a run of "▁"
      encode_one(word.substr(begin, at - begin));
      begin = at;
    }
    encode_one(word.substr(begin));
  }
}

void BpeModel::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  PieceList one;
  one.assign(word, false);
  encode_words(one, out);
}

}  // namespace horizon::data
