#include "runtime/emulated_streams.h"

#include <algorithm>
#include <stdexcept>

namespace horizon::runtime {

EmulatedEvents::EmulatedEvents(int events, int streams)
    : recorded_(static_cast<size_t>(events), 0),
      waiting_for_(static_cast<size_t>(streams), -1),
      waiter_(static_cast<size_t>(streams)),
      finished_(static_cast<size_t>(streams), 0) {}

void EmulatedEvents::reset() {
  std::lock_guard<std::mutex> lock(mu_);
  std::fill(recorded_.begin(), recorded_.end(), 0);
  std::fill(waiting_for_.begin(), waiting_for_.end(), -1);
  std::fill(finished_.begin(), finished_.end(), 0);
  failure_.clear();
}

void EmulatedEvents::record(int event) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    recorded_.at(static_cast<size_t>(event)) = 1;
  }
  cv_.notify_all();
}

bool EmulatedEvents::deadlocked() const {
  for (size_t s = 0; s < finished_.size(); ++s) {
    if (finished_[s]) continue;
    const int e = waiting_for_[s];
    if (e < 0 || recorded_[static_cast<size_t>(e)]) return false;  // running, or about to
  }
  return true;
}

std::string EmulatedEvents::blocked_waits() const {
  std::string out;
  for (size_t s = 0; s < waiting_for_.size(); ++s)
    if (waiting_for_[s] >= 0 && !recorded_[static_cast<size_t>(waiting_for_[s])])
      out += (out.empty() ? "" : "; ") + waiter_[s];
  return out;
}

void EmulatedEvents::wait(int event, int stream, const std::string& waiter) {
  std::unique_lock<std::mutex> lock(mu_);
  if (recorded_.at(static_cast<size_t>(event))) return;
  const size_t s = static_cast<size_t>(stream);
  waiting_for_[s] = event;
  waiter_[s] = waiter;
  if (failure_.empty() && deadlocked()) {
    failure_ = "deadlock: every running stream waits for an event that no stream will record: " + blocked_waits();
    cv_.notify_all();
  }
  auto done = [&] { return recorded_[static_cast<size_t>(event)] || !failure_.empty(); };
  if (timeout_.count() > 0) {
    if (!cv_.wait_for(lock, timeout_, done) && failure_.empty())
      failure_ = waiter + ": event ^e" + std::to_string(event) + " was not recorded within " +
                 std::to_string(timeout_.count()) + " ms; blocked: " + blocked_waits();
  } else {
    cv_.wait(lock, done);
  }
  waiting_for_[s] = -1;
  if (!recorded_[static_cast<size_t>(event)]) {
    cv_.notify_all();
    throw std::runtime_error(failure_);
  }
}

void EmulatedEvents::finish(int stream) {
  std::lock_guard<std::mutex> lock(mu_);
  finished_[static_cast<size_t>(stream)] = 1;
  // The last stream to leave may strand the others.
  if (failure_.empty() && deadlocked() && blocked_waits() != "") {
    failure_ = "deadlock: the streams still running wait for events that no stream will record: " + blocked_waits();
    cv_.notify_all();
  }
}

void EmulatedEvents::abort() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (failure_.empty()) failure_ = "abandoned: another stream failed";
  }
  cv_.notify_all();
}

StreamWorkers::StreamWorkers(int streams, Body body, std::function<void()> on_failure)
    : body_(std::move(body)), on_failure_(std::move(on_failure)) {
  for (int s = 0; s < streams; ++s) threads_.emplace_back([this, s] { loop(s); });
}

StreamWorkers::~StreamWorkers() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  start_cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void StreamWorkers::run() {
  std::unique_lock<std::mutex> lock(mu_);
  error_ = nullptr;
  running_ = static_cast<int>(threads_.size());
  ++generation_;
  start_cv_.notify_all();
  done_cv_.wait(lock, [&] { return running_ == 0; });
  if (error_) std::rethrow_exception(error_);
}

void StreamWorkers::loop(int stream) {
  uint64_t seen = 0;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    start_cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
    if (stop_) return;
    seen = generation_;
    lock.unlock();
    try {
      body_(stream);
    } catch (...) {
      // The first failure is the cause: keep it before waking the other
      // streams, whose "abandoned" errors follow from it.
      {
        std::lock_guard<std::mutex> first(mu_);
        if (!error_) error_ = std::current_exception();
      }
      on_failure_();
    }
    lock.lock();
    if (--running_ == 0) done_cv_.notify_all();
  }
}

}  // namespace horizon::runtime
