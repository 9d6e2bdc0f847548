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
/// step and waits block until it is. A schedule bug must not hang silently:
/// when every stream still running is blocked in a wait for an event nobody
/// recorded, no stream can ever record it, so that is a deadlock — found the
/// moment it happens, and reported naming every blocked wait.
class EmulatedEvents {
 public:
  EmulatedEvents(int events, int streams);

  /// A wait longer than this fails even without a proven deadlock (a safety
  /// net for a stream stuck elsewhere); zero, the default, waits for as long
  /// as some stream makes progress.
  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }
  /// Forgets every record: the next step starts with nothing recorded and
  /// every stream running.
  void reset();
  void record(int event);
  /// Blocks `stream` until `event` is recorded this step. `waiter` describes
  /// the wait for error messages. Throws std::runtime_error on a deadlock, a
  /// timeout, or after abort().
  void wait(int event, int stream, const std::string& waiter);
  /// `stream` ran its last instruction of the step.
  void finish(int stream);
  /// Wakes every waiter with an error (another stream failed and will never
  /// record what they wait for); lasts until reset().
  void abort();

 private:
  bool deadlocked() const;  // with mu_ held
  std::string blocked_waits() const;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<char> recorded_;       // per event
  std::vector<int> waiting_for_;     // per stream: the event it is blocked on, or -1
  std::vector<std::string> waiter_;  // per stream: that wait's description
  std::vector<char> finished_;       // per stream
  std::string failure_;              // set once the step cannot complete
  std::chrono::milliseconds timeout_{0};
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
