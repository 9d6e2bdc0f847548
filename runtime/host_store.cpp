#include "runtime/host_store.h"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "runtime/thread_pool.h"
#include "support/bf16.h"
#include "support/moment_quantization.h"
#include "support/random.h"

namespace horizon::runtime {
namespace {

constexpr int64_t kAlign = 64;  // cache line; also what DMA engines like
// A region's allocation covers whole pages of its own, so a GPU executor can
// pin (cudaHostRegister) one region's planes without sharing a page with
// another region's registration, which the driver would refuse.
constexpr int64_t kPage = 4096;

int64_t align_up(int64_t bytes, int64_t to = kAlign) { return (bytes + to - 1) / to * to; }

int bytes_of_moment(codegen::cpu::MomentType t) { return codegen::cpu::moment_plane_bytes(t); }

}  // namespace

HostStore::HostStore(const ir::Module& m, codegen::cpu::MomentType moments)
    : layout_(ir::layout_params(m)), moments_(moments) {
  for (const ir::RegionLayout& rl : layout_.regions) {
    Region r;
    r.stage = rl.stage;
    r.instance = rl.instance;
    r.elements = rl.elements;
    r.tensors = rl.tensors;
    parameters_ += r.elements;
    regions_.push_back(std::move(r));
  }
  // Quantization blocks count from each tensor's first element, so a tensor
  // can be updated on its own, and in parallel in whole blocks.
  scale_offset_.assign(layout_.tensors.size(), 0);
  const bool q8 = moments_ == codegen::cpu::MomentType::q8;
  for (Region& r : regions_) {
    for (int t : r.tensors) {
      scale_offset_[static_cast<size_t>(t)] = r.scale_blocks;
      if (q8) r.scale_blocks += moment_blocks(layout_.tensors[static_cast<size_t>(t)].elements);
    }
    scale_blocks_ += r.scale_blocks;
  }
  // One allocation per region keeps a layer's planes together in memory.
  const int mb = bytes_of_moment(moments_);
  for (Region& r : regions_) {
    int64_t plane16 = align_up(r.elements * 2), plane_m = align_up(r.elements * mb);
    int64_t scales = align_up(r.scale_blocks * 4);
    int64_t total = align_up(std::max<int64_t>(kAlign, 2 * plane16 + 2 * plane_m + 2 * scales), kPage);
    auto* base = static_cast<char*>(std::aligned_alloc(kPage, static_cast<size_t>(total)));
    if (!base) throw std::bad_alloc();
    allocations_.push_back(base);
    r.w_hi = reinterpret_cast<uint16_t*>(base);
    r.w_lo = reinterpret_cast<uint16_t*>(base + plane16);
    r.m = base + 2 * plane16;
    r.v = base + 2 * plane16 + plane_m;
    if (r.scale_blocks > 0) {
      r.m_scale = reinterpret_cast<float*>(base + 2 * plane16 + 2 * plane_m);
      r.v_scale = reinterpret_cast<float*>(base + 2 * plane16 + 2 * plane_m + scales);
    }
    std::memset(base, 0, static_cast<size_t>(total));
  }
}

HostStore::~HostStore() {
  for (void* p : allocations_) std::free(p);
}

int HostStore::tensor_of(const std::string& stage, int64_t instance, int param) const {
  int r = layout_.region_of(stage, instance);
  if (r < 0)
    throw std::out_of_range("host store has no stage instance " + stage + "[" + std::to_string(instance) + "]");
  return layout_.regions[static_cast<size_t>(r)].bound.at(static_cast<size_t>(param));
}

int HostStore::find_tensor(const std::string& name) const {
  for (size_t i = 0; i < layout_.tensors.size(); ++i)
    if (layout_.tensors[i].name == name) return static_cast<int>(i);
  return -1;
}

int HostStore::bytes_per_parameter() const { return 4 + 2 * bytes_of_moment(moments_); }
int HostStore::moment_bytes() const { return bytes_of_moment(moments_); }

PackedPlanes packed_planes(char* base, int64_t n, int mb, int64_t offset) {
  return {base + offset * 2, base + n * 2 + offset * 2, base + n * 4 + offset * mb, base + n * (4 + mb) + offset * mb};
}

void HostStore::pack_region(int r, char* packed) const {
  const Region& reg = regions_[static_cast<size_t>(r)];
  const int mb = moment_bytes();
  const PackedPlanes p = packed_planes(packed, reg.elements, mb);
  std::memcpy(p.w_hi, reg.w_hi, static_cast<size_t>(reg.elements) * 2);
  std::memcpy(p.w_lo, reg.w_lo, static_cast<size_t>(reg.elements) * 2);
  std::memcpy(p.m, reg.m, static_cast<size_t>(reg.elements * mb));
  std::memcpy(p.v, reg.v, static_cast<size_t>(reg.elements * mb));
}

void HostStore::unpack_region(int r, const char* packed) {
  const Region& reg = regions_[static_cast<size_t>(r)];
  const int mb = moment_bytes();
  const PackedPlanes p = packed_planes(const_cast<char*>(packed), reg.elements, mb);
  std::memcpy(reg.w_hi, p.w_hi, static_cast<size_t>(reg.elements) * 2);
  std::memcpy(reg.w_lo, p.w_lo, static_cast<size_t>(reg.elements) * 2);
  std::memcpy(reg.m, p.m, static_cast<size_t>(reg.elements * mb));
  std::memcpy(reg.v, p.v, static_cast<size_t>(reg.elements * mb));
}

int64_t HostStore::bytes() const { return parameters_ * bytes_per_parameter() + scale_blocks_ * 8; }

int64_t HostStore::scale_bytes(int r) const { return regions_[static_cast<size_t>(r)].scale_blocks * 8; }

float* HostStore::m_scale(int t) const {
  const Region& r = regions_[layout_.tensors[t].region];
  return r.m_scale ? r.m_scale + scale_offset_[static_cast<size_t>(t)] : nullptr;
}
float* HostStore::v_scale(int t) const {
  const Region& r = regions_[layout_.tensors[t].region];
  return r.v_scale ? r.v_scale + scale_offset_[static_cast<size_t>(t)] : nullptr;
}

uint16_t* HostStore::w_hi(int t) const { return regions_[layout_.tensors[t].region].w_hi + layout_.tensors[t].offset; }
uint16_t* HostStore::w_lo(int t) const { return regions_[layout_.tensors[t].region].w_lo + layout_.tensors[t].offset; }
void* HostStore::m(int t) const {
  return static_cast<char*>(regions_[layout_.tensors[t].region].m) +
         layout_.tensors[t].offset * bytes_of_moment(moments_);
}
void* HostStore::v(int t) const {
  return static_cast<char*>(regions_[layout_.tensors[t].region].v) +
         layout_.tensors[t].offset * bytes_of_moment(moments_);
}

void HostStore::set_master(int t, const float* values) {
  uint16_t* hi = w_hi(t);
  uint16_t* lo = w_lo(t);
  for (int64_t i = 0; i < layout_.tensors[t].elements; ++i) {
    const MasterPlanes p = split_master(values[i]);
    hi[i] = p.hi;
    lo[i] = p.lo;
  }
  std::memset(m(t), 0, static_cast<size_t>(layout_.tensors[t].elements * bytes_of_moment(moments_)));
  std::memset(v(t), 0, static_cast<size_t>(layout_.tensors[t].elements * bytes_of_moment(moments_)));
  // 8-bit moments: a zero scale makes every code decode to zero.
  if (float* s = m_scale(t)) std::fill_n(s, moment_blocks(layout_.tensors[t].elements), 0.0f);
  if (float* s = v_scale(t)) std::fill_n(s, moment_blocks(layout_.tensors[t].elements), 0.0f);
}

void HostStore::get_master(int t, float* out) const {
  const uint16_t* hi = w_hi(t);
  const uint16_t* lo = w_lo(t);
  for (int64_t i = 0; i < layout_.tensors[t].elements; ++i) out[i] = join_master(hi[i], lo[i]);
}

void HostStore::get_working(int t, float* out) const {
  const uint16_t* hi = w_hi(t);
  for (int64_t i = 0; i < layout_.tensors[t].elements; ++i) out[i] = bf16_to_float(hi[i]);
}

void HostStore::get_bf16(int t, uint16_t* out) const {
  std::memcpy(out, w_hi(t), static_cast<size_t>(layout_.tensors[t].elements) * sizeof(uint16_t));
}

void HostStore::init_random(uint64_t seed) {
  // Tensors in parallel: each has its own seeded stream, so the result is
  // the same whatever the thread count (a 7B model initializes in seconds).
  parallel_for(static_cast<int64_t>(layout_.tensors.size()), 1, [&](int64_t begin, int64_t end) {
    std::vector<float> values;
    for (int64_t t = begin; t < end; ++t) {
      const StoredTensor& st = layout_.tensors[static_cast<size_t>(t)];
      values.assign(static_cast<size_t>(st.elements), 0.0f);
      switch (st.init.kind) {
        case ir::Init::Kind::ones:
          std::fill(values.begin(), values.end(), 1.0f);
          break;
        case ir::Init::Kind::zeros:
          break;
        case ir::Init::Kind::normal: {
          Rng rng(seed_for(seed, st.name));
          for (float& x : values) x = static_cast<float>(rng.normal() * st.init.std);
          break;
        }
      }
      set_master(static_cast<int>(t), values.data());
    }
  });
  step_ = 0;
}

}  // namespace horizon::runtime
