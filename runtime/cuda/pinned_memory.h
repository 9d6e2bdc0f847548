// Page-locked host memory for DMA. Pinning with cudaHostAlloc runs at about
// 2.7 GiB/s; allocating, touching every page and then registering the range
// with cudaHostRegister runs at about 24 GiB/s (DESIGN.md), and both copy at
// full PCIe speed. So every pinned byte of the engine is allocated by us and
// registered: the host store's streamed planes (PinnedRange over memory the
// HostStore owns) and the schedule's host buffers (PinnedBuffer).
#pragma once

#include <cstdint>
#include <string>

namespace horizon::runtime::cuda {

/// Registers [ptr, ptr + bytes) — memory someone else owns and keeps alive
/// longer than this object — with cudaHostRegister; unregisters it when
/// destroyed. The range must not share a page with another registration.
class PinnedRange {
 public:
  PinnedRange() = default;
  /// `what` names the memory in errors ("host store block[3] w_hi").
  PinnedRange(void* ptr, int64_t bytes, const std::string& what);
  ~PinnedRange();
  PinnedRange(PinnedRange&& o) noexcept;
  PinnedRange& operator=(PinnedRange&& o) noexcept;
  PinnedRange(const PinnedRange&) = delete;
  PinnedRange& operator=(const PinnedRange&) = delete;

  void* get() const { return ptr_; }
  int64_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  int64_t bytes_ = 0;
};

/// Owned pinned host memory: whole pages allocated with aligned_alloc,
/// zeroed (which touches every page), then registered. Freed when destroyed.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  /// No memory for 0 bytes; `what` names the buffer in errors.
  PinnedBuffer(int64_t bytes, const std::string& what);
  ~PinnedBuffer();
  PinnedBuffer(PinnedBuffer&& o) noexcept;
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;

  char* get() const { return ptr_; }
  /// Bytes asked for; the allocation is that rounded up to whole pages.
  int64_t bytes() const { return bytes_; }
  int64_t allocated_bytes() const;

 private:
  void release();

  char* ptr_ = nullptr;
  int64_t bytes_ = 0;
  PinnedRange registration_;
};

}  // namespace horizon::runtime::cuda
