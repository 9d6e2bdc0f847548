#include "runtime/update_tail.h"

#include <stdexcept>
#include <string>
#include <utility>

namespace horizon::runtime {

UpdateTail::UpdateTail(int regions) : updated_through_(static_cast<size_t>(regions), -1) {
  thread_ = std::thread([this] { loop(); });
}

UpdateTail::~UpdateTail() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !busy_; });
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void UpdateTail::start(int64_t step, Work work) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (busy_) throw std::logic_error("UpdateTail::start: the previous step's updates are still running");
    pending_ = std::move(work);
    pending_step_ = step;
    started_through_ = step;
    busy_ = true;
  }
  cv_.notify_all();
}

void UpdateTail::wait_regions(const std::vector<int>& regions, int64_t step) {
  std::unique_lock<std::mutex> lock(mu_);
  if (step < 0 || step > started_through_) return;  // that step updated everything inside it
  for (int r : regions) {
    cv_.wait(lock, [&] { return error_ || updated_through_[static_cast<size_t>(r)] >= step; });
    if (error_ && updated_through_[static_cast<size_t>(r)] < step)
      throw std::runtime_error("the optimizer failed before updating region " + std::to_string(r) + " of step " +
                               std::to_string(step + 1));
  }
}

void UpdateTail::wait_idle() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return !busy_; });
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

void UpdateTail::loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || (busy_ && pending_); });
    if (stop_) return;
    Work work = std::move(pending_);
    pending_ = nullptr;
    const int64_t step = pending_step_;
    lock.unlock();
    std::exception_ptr failure;
    try {
      work([&](int region) {
        {
          std::lock_guard<std::mutex> done(mu_);
          updated_through_[static_cast<size_t>(region)] = step;
        }
        cv_.notify_all();
      });
    } catch (...) {
      failure = std::current_exception();
    }
    lock.lock();
    if (failure) error_ = failure;
    busy_ = false;
    cv_.notify_all();
  }
}

}  // namespace horizon::runtime
