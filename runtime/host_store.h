// HostStore: the home of every parameter and optimizer state, in host RAM.
// One contiguous region per forward-stage instance (embed, each block, head),
// so a layer's weights move to a device in one copy. Inside a region, four
// planes: w_hi, w_lo, m, v. The fp32 master weight is split into two planes
// of 16 bits (support/bf16.h split_master): w_hi *is* the bf16 working weight
// (rounded to nearest), streamed as is, and w_lo the lower half of the fp32
// bits, which with w_hi gives the master back exactly. With bf16
// moments a parameter costs 8 bytes (12 with fp32 moments, 6 with 8-bit
// moments plus 8 bytes of block scales per 256: support/moment_quantization.h).
// See DESIGN.md for the measurements behind this layout.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "codegen/cpu/cpu_jit.h"
#include "ir/module.h"
#include "ir/param_layout.h"

namespace horizon::runtime {

/// A stored tensor: its name, shape and place in its region (ir/param_layout.h).
using StoredTensor = ir::LaidOutTensor;

/// A region's planes lie in one page-aligned allocation of whole pages that
/// no other region shares (so each can be pinned on its own), w_hi first.
struct Region {
  std::string stage;
  int64_t instance = 0;
  int64_t elements = 0;
  uint16_t* w_hi = nullptr;
  uint16_t* w_lo = nullptr;
  void* m = nullptr;
  void* v = nullptr;
  // 8-bit moments only: one scale per block of each tensor, tensor after
  // tensor (scale_blocks in all); a tensor's first is StoredTensor's
  // HostStore::scale_offset.
  float* m_scale = nullptr;
  float* v_scale = nullptr;
  int64_t scale_blocks = 0;
  std::vector<int> tensors;  // tensors stored here, in offset order
};

/// A tensor's four planes inside a region's planes packed back to back —
/// w_hi, w_lo (2 bytes per element each), m, v (moment bytes each) — the
/// layout of a resident region on the GPU (the schedule's %resident buffer).
/// 8-bit moments' block scales are not among them (the schedule sizes
/// regions in whole bytes per parameter): they stay in the store's
/// Region::m_scale / v_scale, or a device array of the executor's own.
struct PackedPlanes {
  char* w_hi = nullptr;
  char* w_lo = nullptr;
  char* m = nullptr;
  char* v = nullptr;
};
/// `base`: the region's packed planes; `offset`: the tensor's first element in the region.
PackedPlanes packed_planes(char* base, int64_t region_elements, int moment_bytes, int64_t offset = 0);

class HostStore {
 public:
  /// Lays out every parameter of the forward stages of `m`. Names bound in
  /// two stages (tied embeddings) are stored once.
  HostStore(const ir::Module& m, codegen::cpu::MomentType moments);
  ~HostStore();
  HostStore(const HostStore&) = delete;
  HostStore& operator=(const HostStore&) = delete;

  /// Tensor bound to parameter `param` of instance `instance` of forward stage `stage`.
  int tensor_of(const std::string& stage, int64_t instance, int param) const;
  int find_tensor(const std::string& name) const;  // -1 if absent

  const std::vector<StoredTensor>& tensors() const { return layout_.tensors; }
  const std::vector<Region>& regions() const { return regions_; }
  const ir::ParamLayout& layout() const { return layout_; }
  int64_t parameter_count() const { return parameters_; }
  codegen::cpu::MomentType moments() const { return moments_; }
  /// Bytes held per parameter (planes only) and in all (with 8-bit moments' scales).
  int bytes_per_parameter() const;
  int moment_bytes() const;
  int64_t bytes() const;
  /// Bytes of region r's 8-bit moment scales (both moments; 0 for other moment types).
  int64_t scale_bytes(int r) const;

  /// Deterministic initialization from each tensor's Init, seeded per tensor
  /// name so the result does not depend on layout. Zeroes the moments.
  void init_random(uint64_t seed);

  /// Sets a tensor's fp32 master (w_hi/w_lo) from `values`; zeroes its moments.
  void set_master(int tensor, const float* values);
  /// The fp32 master of a tensor.
  void get_master(int tensor, float* out) const;
  /// The bf16 working weight widened to fp32 (what the kernels compute with).
  void get_working(int tensor, float* out) const;
  /// The bf16 working weight (the w_hi plane) — exactly what the model
  /// computes with, so a saved checkpoint reproduces the trained model's
  /// logits bit for bit; the exact master goes to the optimizer checkpoint.
  void get_bf16(int tensor, uint16_t* out) const;

  /// Region `r`'s planes packed into (or back from) `packed` (PackedPlanes layout).
  void pack_region(int r, char* packed) const;
  void unpack_region(int r, const char* packed);

  /// Raw access to a tensor's planes for the optimizer.
  uint16_t* w_hi(int tensor) const;
  uint16_t* w_lo(int tensor) const;
  void* m(int tensor) const;
  void* v(int tensor) const;
  /// 8-bit moments: the tensor's first block scale of m and v; nullptr otherwise.
  float* m_scale(int tensor) const;
  float* v_scale(int tensor) const;
  /// The index of a tensor's first block scale in its region's scale arrays.
  int64_t scale_offset(int tensor) const { return scale_offset_[static_cast<size_t>(tensor)]; }

  /// Optimizer moments and step count, for resumable checkpoints.
  int64_t step() const { return step_; }
  void set_step(int64_t s) { step_ = s; }

 private:
  std::vector<Region> regions_;
  ir::ParamLayout layout_;
  codegen::cpu::MomentType moments_;
  int64_t parameters_ = 0;
  int64_t scale_blocks_ = 0;
  std::vector<int64_t> scale_offset_;  // per tensor
  int64_t step_ = 0;
  std::vector<void*> allocations_;
};

}  // namespace horizon::runtime
