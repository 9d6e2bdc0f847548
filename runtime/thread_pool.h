// A fixed pool of worker threads for data-parallel loops on the CPU backend
// (kernels, the JIT-compiled elementwise groups and the optimizer). One
// process-wide pool sized to the machine, so nested users never oversubscribe.
// Several threads may call parallel_for at once (the ranks of an emulated
// data-parallel group, each with its executor's streams): their loops take
// the pool in turn, each with every thread, so a loop's chunking — and with
// it the bits of every reduction — does not depend on who else is running.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace horizon::runtime {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  /// The process-wide pool ($HORIZON_THREADS or the hardware concurrency).
  static ThreadPool& global();

  int size() const { return static_cast<int>(workers_.size()) + 1; }
  static constexpr int kChunksPerThread = 4;

  /// Calls fn(begin, end) on disjoint chunks covering [0, n), at least `grain`
  /// items each (up to kChunksPerThread per thread, handed out in turn), on
  /// the pool and the calling thread; returns when all are done.
  /// Called from inside a worker it runs serially (no nested parallelism).
  /// Safe to call from several threads at once: the loops run one after another.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void worker_loop(int index);

  std::vector<std::thread> workers_;
  // Held by the thread whose loop owns the pool. The job fields below have
  // room for one loop; without this a second caller overwrote them while the
  // first one's workers ran, and the first waited forever for chunks that
  // were never counted (the hang of the first data-parallel attempt).
  std::mutex caller_mu_;
  std::mutex mu_;
  std::condition_variable start_cv_, done_cv_;
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_n_ = 0, job_chunk_ = 0, job_chunks_ = 0;
  int64_t next_chunk_ = 0, chunks_done_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

/// Shorthand for ThreadPool::global().parallel_for.
inline void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  ThreadPool::global().parallel_for(n, grain, fn);
}

}  // namespace horizon::runtime
