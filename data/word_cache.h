// The BPE word cache: word text -> token IDs, open addressing over two flat
// arenas. Corpus text repeats its words, so most words are one hash lookup;
// std::unordered_map spent more time in allocation and pointer chasing than
// the merges it saved. One cache per thread and model (no locks).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace horizon::data {

class WordCache {
 public:
  static uint64_t hash(std::string_view s) {
    // 8 bytes at a time, multiply-xorshift mixing; words are short.
    uint64_t h = 0x9E3779B97F4A7C15ull ^ s.size();
    size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
      uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
      h ^= h >> 31;
    }
    uint64_t tail = 0;
    std::memcpy(&tail, s.data() + i, s.size() - i);
    h = (h ^ tail) * 0x94D049BB133111EBull;
    return h ^ (h >> 29);
  }

  /// The IDs of `word` (whose hash is `h`), or nullptr; `count` receives their number.
  const int32_t* find(std::string_view word, uint64_t h, uint32_t& count) const {
    if (slots_.empty()) return nullptr;
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.key_length == kEmpty) return nullptr;
      if (s.hash == h && s.key_length == word.size() &&
          std::memcmp(keys_.data() + s.key_offset, word.data(), word.size()) == 0) {
        count = s.ids_count;
        return ids_.data() + s.ids_offset;
      }
    }
  }

  /// Adds `word` (not present) unless the cache is full.
  void insert(std::string_view word, uint64_t h, const int32_t* ids, uint32_t count) {
    if (entries_ >= kMaxEntries) return;
    if ((entries_ + 1) * 2 > slots_.size()) grow();
    Slot s{h, static_cast<uint32_t>(keys_.size()), static_cast<uint32_t>(word.size()),
           static_cast<uint32_t>(ids_.size()), count};
    keys_.append(word);
    ids_.insert(ids_.end(), ids, ids + count);
    place(s);
    ++entries_;
  }

 private:
  static constexpr uint32_t kEmpty = UINT32_MAX;
  static constexpr size_t kMaxEntries = 1 << 17;
  struct Slot {
    uint64_t hash;
    uint32_t key_offset, key_length, ids_offset, ids_count;
  };
  void place(const Slot& s) {
    size_t i = s.hash & mask_;
    while (slots_[i].key_length != kEmpty) i = (i + 1) & mask_;
    slots_[i] = s;
  }
  void grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(old.empty() ? 4096 : old.size() * 2, Slot{0, 0, kEmpty, 0, 0});
    mask_ = slots_.size() - 1;
    for (const Slot& s : old)
      if (s.key_length != kEmpty) place(s);
  }
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t entries_ = 0;
  std::string keys_;
  std::vector<int32_t> ids_;
};

}  // namespace horizon::data
