#include "runtime/parallel/emulated_group.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

namespace horizon::runtime {

std::vector<int64_t> shard_items(const std::vector<int64_t>& sizes, int ranks) {
  if (ranks <= 0) throw std::invalid_argument("shard_items: ranks must be positive");
  int64_t total = 0;
  for (int64_t s : sizes) total += s;
  std::vector<int64_t> offsets{0};
  int64_t item = 0, seen = 0;
  const auto n = static_cast<int64_t>(sizes.size());
  for (int r = 1; r < ranks; ++r) {
    // Items go to shard r-1 while that brings its end closer to r/ranks of the total.
    const double target = static_cast<double>(total) * r / ranks;
    while (item < n && std::abs(seen + sizes[static_cast<size_t>(item)] - target) <= std::abs(seen - target)) {
      seen += sizes[static_cast<size_t>(item)];
      ++item;
    }
    offsets.push_back(item);
  }
  offsets.push_back(n);
  return offsets;
}

class EmulatedGroup::Rank : public Communicator {
 public:
  Rank(EmulatedGroup& group, int rank) : group_(group), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return group_.size(); }

  void reduce_scatter_sum(const float* in, float* out, const std::vector<int64_t>& shards) override {
    check(shards);
    publish(in);
    for (int64_t i = shards[static_cast<size_t>(rank_)]; i < shards[static_cast<size_t>(rank_) + 1]; ++i) {
      float sum = 0.0f;
      bool first = true;
      for (int k = 0; k < size(); ++k)
        if (const float* v = at<float>(k)) {  // a rank that left adds nothing
          sum = first ? v[i] : sum + v[i];
          first = false;
        }
      out[i - shards[static_cast<size_t>(rank_)]] = sum;
    }
    group_.sync();  // nobody reuses its input before every rank has read it
  }

  void all_reduce_sum(double* data, int64_t n) override {
    std::vector<double> mine(data, data + n);  // data is overwritten while others may still read
    publish(mine.data());
    for (int64_t i = 0; i < n; ++i) {
      double sum = 0.0;
      bool first = true;
      for (int k = 0; k < size(); ++k)
        if (const double* v = at<double>(k)) {
          sum = first ? v[i] : sum + v[i];
          first = false;
        }
      data[i] = sum;
    }
    group_.sync();
  }

  void all_gather(const float* in, float* out, const std::vector<int64_t>& shards) override {
    check(shards);
    publish(in);
    for (int k = 0; k < size(); ++k)
      if (const float* v = at<float>(k))
        std::copy(v, v + (shards[static_cast<size_t>(k) + 1] - shards[static_cast<size_t>(k)]),
                  out + shards[static_cast<size_t>(k)]);
    group_.sync();
  }

  void all_gather_bytes(const void* in, void* out, const std::vector<int64_t>& shards) override {
    check(shards);
    publish(in);
    auto* to = static_cast<char*>(out);
    for (int k = 0; k < size(); ++k)
      if (const char* v = at<char>(k)) {
        const auto first = shards[static_cast<size_t>(k)], last = shards[static_cast<size_t>(k) + 1];
        if (v != to + first) std::memcpy(to + first, v, static_cast<size_t>(last - first));  // in place: already there
      }
    group_.sync();
  }

  void barrier() override { group_.sync(); }

 private:
  void check(const std::vector<int64_t>& shards) const {
    if (shards.size() != static_cast<size_t>(size()) + 1 || !std::is_sorted(shards.begin(), shards.end()))
      throw std::invalid_argument("collective: shards must be " + std::to_string(size() + 1) + " ascending offsets");
  }
  // Every rank's pointer is visible to all after the first sync.
  void publish(const void* p) {
    group_.slots_[static_cast<size_t>(rank_)] = p;
    group_.sync();
  }
  template <typename T>
  const T* at(int k) const {
    return static_cast<const T*>(group_.slots_[static_cast<size_t>(k)]);
  }

  EmulatedGroup& group_;
  int rank_;
};

EmulatedGroup::EmulatedGroup(int ranks) : slots_(static_cast<size_t>(ranks), nullptr), expected_(ranks) {
  if (ranks <= 0) throw std::invalid_argument("EmulatedGroup: ranks must be positive");
  for (int r = 0; r < ranks; ++r) ranks_.push_back(std::make_unique<Rank>(*this, r));
}

EmulatedGroup::~EmulatedGroup() = default;

Communicator& EmulatedGroup::rank(int r) { return *ranks_.at(static_cast<size_t>(r)); }

void EmulatedGroup::sync() {
  std::unique_lock<std::mutex> lock(mu_);
  const uint64_t phase = phase_;
  if (++arrived_ == expected_) {
    arrived_ = 0;
    ++phase_;
    cv_.notify_all();
    return;
  }
  cv_.wait(lock, [&] { return phase_ != phase; });
}

void EmulatedGroup::leave(int rank) {
  std::lock_guard<std::mutex> lock(mu_);
  slots_[static_cast<size_t>(rank)] = nullptr;  // its buffers are gone; the others skip it
  if (--expected_ > 0 && arrived_ == expected_) {
    arrived_ = 0;
    ++phase_;
    cv_.notify_all();
  }
}

void EmulatedGroup::run(const std::function<void(Communicator&)>& fn) {
  if (broken_) throw std::logic_error("EmulatedGroup: a rank of an earlier run threw; make a new group");
  std::vector<std::exception_ptr> errors(ranks_.size());
  std::vector<std::thread> threads;
  for (size_t r = 0; r < ranks_.size(); ++r)
    threads.emplace_back([&, r] {
      try {
        fn(*ranks_[r]);
      } catch (...) {
        errors[r] = std::current_exception();
        leave(static_cast<int>(r));  // for good: the others' collectives no longer wait for this rank
      }
    });
  for (std::thread& t : threads) t.join();
  for (const std::exception_ptr& e : errors)
    if (e) {
      broken_ = true;
      std::rethrow_exception(e);
    }
}

}  // namespace horizon::runtime
