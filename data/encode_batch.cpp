// Parallel batch encoding (see encode_batch.h).
#include "data/encode_batch.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>

namespace horizon::data {

std::vector<std::vector<int32_t>> encode_batch(const Tokenizer& tokenizer, std::span<const std::string> texts,
                                               bool add_special_tokens, int threads) {
  std::vector<std::vector<int32_t>> out(texts.size());
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // Chunks of ~64 KiB of text keep the threads busy without a lock per text.
  std::vector<size_t> chunk_starts{0};
  size_t bytes = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    bytes += texts[i].size() + 16;
    if (bytes >= (64u << 10)) {
      chunk_starts.push_back(i + 1);
      bytes = 0;
    }
  }
  if (chunk_starts.back() != texts.size()) chunk_starts.push_back(texts.size());
  const size_t chunks = chunk_starts.size() - 1;
  threads = static_cast<int>(std::min<size_t>(static_cast<size_t>(threads), chunks));

  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  const auto work = [&] {
    try {
      for (size_t c; (c = next++) < chunks;)
        for (size_t i = chunk_starts[c]; i < chunk_starts[c + 1]; ++i)
          out[i] = tokenizer.encode(texts[i], add_special_tokens);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
      next = chunks;
    }
  };
  if (threads <= 1) {
    work();
  } else {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) pool.emplace_back(work);
    for (std::thread& t : pool) t.join();
  }
  if (error) std::rethrow_exception(error);
  return out;
}

}  // namespace horizon::data
