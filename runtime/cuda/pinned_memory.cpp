// Registration covers whole pages; a PinnedBuffer owns its pages outright,
// a PinnedRange relies on its owner (the HostStore) to give each region
// pages of its own.
#include "runtime/cuda/pinned_memory.h"

#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

#include "runtime/cuda/cuda_check.h"

namespace horizon::runtime::cuda {
namespace {

constexpr int64_t kPage = 4096;

int64_t whole_pages(int64_t bytes) { return (bytes + kPage - 1) / kPage * kPage; }

}  // namespace

PinnedRange::PinnedRange(void* ptr, int64_t bytes, const std::string& what) {
  if (bytes <= 0) return;
  // Portable: the range is pinned for every device's context, not only the current one.
  const cudaError_t e = cudaHostRegister(ptr, static_cast<size_t>(bytes), cudaHostRegisterPortable);
  if (e == cudaErrorHostMemoryAlreadyRegistered) {
    // Someone else (another executor over the same store) pinned it and will unpin it.
    cudaGetLastError();
    return;
  }
  check_cuda(e, "cudaHostRegister", "pinning " + what + " (" + std::to_string(bytes) + " bytes)");
  ptr_ = ptr;
  bytes_ = bytes;
}

PinnedRange::~PinnedRange() {
  if (ptr_) cudaHostUnregister(ptr_);  // nothing to report to: the context may already be gone
}

PinnedRange::PinnedRange(PinnedRange&& o) noexcept
    : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}

PinnedRange& PinnedRange::operator=(PinnedRange&& o) noexcept {
  std::swap(ptr_, o.ptr_);
  std::swap(bytes_, o.bytes_);
  return *this;
}

PinnedBuffer::PinnedBuffer(int64_t bytes, const std::string& what) : bytes_(bytes) {
  if (bytes <= 0) return;
  ptr_ = static_cast<char*>(std::aligned_alloc(kPage, static_cast<size_t>(whole_pages(bytes))));
  if (!ptr_) throw std::bad_alloc();
  std::memset(ptr_, 0, static_cast<size_t>(whole_pages(bytes)));
  try {
    registration_ = PinnedRange(ptr_, whole_pages(bytes), what);
  } catch (...) {
    std::free(ptr_);
    throw;
  }
}

void PinnedBuffer::release() {
  registration_ = PinnedRange();  // unregister before the pages go back to the heap
  std::free(ptr_);
  ptr_ = nullptr;
}

PinnedBuffer::~PinnedBuffer() { release(); }

PinnedBuffer::PinnedBuffer(PinnedBuffer&& o) noexcept
    : ptr_(std::exchange(o.ptr_, nullptr)),
      bytes_(std::exchange(o.bytes_, 0)),
      registration_(std::move(o.registration_)) {}

PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& o) noexcept {
  std::swap(ptr_, o.ptr_);
  std::swap(bytes_, o.bytes_);
  std::swap(registration_, o.registration_);
  return *this;
}

int64_t PinnedBuffer::allocated_bytes() const { return ptr_ ? whole_pages(bytes_) : 0; }

}  // namespace horizon::runtime::cuda
