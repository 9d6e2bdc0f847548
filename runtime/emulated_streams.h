// The device's streams and events, emulated on the CPU: one worker thread per
// stream running its instructions in program order, and events that a stream
// records and others wait for. The schedule executor runs its programs on
// them, so the ordering a schedule relies on is exercised — and a missing
// wait can show up as a race — on every machine, GPU or not.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace horizon::runtime {

/// A schedule's events for one step at a time. An event is recorded once per
/// step; waits block until it is, and throw instead of hanging when it never
/// is (a schedule bug must not deadlock silently).
class EmulatedEvents {
 public:
  EmulatedEvents(int count, std::chrono::milliseconds timeout);

  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }
  /// Forgets every record: the next step starts with no event recorded.
  void reset();
  void record(int event);
  /// Blocks until `event` is recorded this step. Throws std::runtime_error
  /// naming `waiter` when it is not within the timeout, or when abort() was
  /// called (another stream failed and will never record it).
  void wait(int event, const std::string& waiter);
  /// Wakes every waiter with an error; lasts until reset().
  void abort();

  int count() const { return static_cast<int>(events_.size()); }

 private:
  struct Event {
    std::mutex mu;
    std::condition_variable cv;
    bool recorded = false;
    bool aborted = false;
  };
  std::vector<std::unique_ptr<Event>> events_;
  std::chrono::milliseconds timeout_;
};

/// One persistent thread per stream. run() hands every thread its body for
/// one step, waits for all of them and rethrows the first failure; a failing
/// body calls `on_failure` first so the others stop waiting for it.
class StreamWorkers {
 public:
  using Body = std::function<void(int stream)>;

  StreamWorkers(int streams, Body body, std::function<void()> on_failure);
  ~StreamWorkers();
  StreamWorkers(const StreamWorkers&) = delete;
  StreamWorkers& operator=(const StreamWorkers&) = delete;

  void run();

 private:
  void loop(int stream);

  Body body_;
  std::function<void()> on_failure_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable start_cv_, done_cv_;
  uint64_t generation_ = 0;
  int running_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

}  // namespace horizon::runtime
