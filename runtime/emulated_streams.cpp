#include "runtime/emulated_streams.h"

#include <stdexcept>

namespace horizon::runtime {

EmulatedEvents::EmulatedEvents(int count, std::chrono::milliseconds timeout) : timeout_(timeout) {
  for (int e = 0; e < count; ++e) events_.push_back(std::make_unique<Event>());
}

void EmulatedEvents::reset() {
  for (auto& e : events_) {
    std::lock_guard<std::mutex> lock(e->mu);
    e->recorded = false;
    e->aborted = false;
  }
}

void EmulatedEvents::record(int event) {
  Event& e = *events_.at(static_cast<size_t>(event));
  {
    std::lock_guard<std::mutex> lock(e.mu);
    e.recorded = true;
  }
  e.cv.notify_all();
}

void EmulatedEvents::wait(int event, const std::string& waiter) {
  Event& e = *events_.at(static_cast<size_t>(event));
  std::unique_lock<std::mutex> lock(e.mu);
  if (!e.cv.wait_for(lock, timeout_, [&] { return e.recorded || e.aborted; }))
    throw std::runtime_error(waiter + ": event ^e" + std::to_string(event) + " was not recorded within " +
                             std::to_string(timeout_.count()) +
                             " ms; the schedule waits for an event no stream records before it (deadlock)");
  if (!e.recorded) throw std::runtime_error(waiter + ": abandoned, another stream failed");
}

void EmulatedEvents::abort() {
  for (auto& e : events_) {
    {
      std::lock_guard<std::mutex> lock(e->mu);
      e->aborted = true;
    }
    e->cv.notify_all();
  }
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
