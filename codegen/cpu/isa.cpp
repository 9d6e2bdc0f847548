// Host ISA detection and the per-ISA LLVM target table. The levels follow the
// x86-64 micro-architecture levels (v4 = AVX-512, v3 = AVX2, baseline = SSE2)
// instead of the host's CPU name, so "avx2" on an AVX-512 host really emits
// AVX2 code (the host name would drag in every feature the host has); the
// host name is still used to tune instruction scheduling.
#include <llvm/ADT/StringMap.h>
#include <llvm/TargetParser/Host.h>
#include <llvm/TargetParser/Triple.h>

#include <stdexcept>

#include "codegen/cpu/isa_target.h"

namespace horizon::codegen::cpu {
namespace {

bool host_is_x86_64() { return llvm::Triple(llvm::sys::getProcessTriple()).getArch() == llvm::Triple::x86_64; }

// Every feature the level's generated code may use; the host must have all of them.
const std::vector<std::string>& required_features(Isa isa) {
  static const std::vector<std::string> avx512 = {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx2", "fma", "f16c"};
  static const std::vector<std::string> avx2 = {"avx2", "fma", "f16c"};
  static const std::vector<std::string> sse = {"sse2"};
  switch (isa) {
    case Isa::avx512:
      return avx512;
    case Isa::avx2:
      return avx2;
    default:
      return sse;
  }
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::automatic:
      return "automatic";
    case Isa::avx512:
      return "avx512";
    case Isa::avx2:
      return "avx2";
    case Isa::sse:
      return "sse";
  }
  return "?";
}

bool host_supports(Isa isa) {
  if (isa == Isa::automatic) return true;
  if (!host_is_x86_64()) return false;
  // LLVM reports a feature only when the OS also saves its registers (XCR0), so
  // a kernel that disabled AVX-512 state reads as "no avx512f" here.
  const llvm::StringMap<bool> host = llvm::sys::getHostCPUFeatures();
  for (const std::string& f : required_features(isa)) {
    auto it = host.find(f);
    if (it == host.end() || !it->second) return false;
  }
  return true;
}

Isa host_isa() {
  if (!host_is_x86_64())
    throw std::runtime_error("CPU JIT: host triple " + llvm::sys::getProcessTriple() +
                             " is not x86-64; the CPU backend generates x86-64 vector code only");
  for (Isa isa : {Isa::avx512, Isa::avx2})
    if (host_supports(isa)) return isa;
  return Isa::sse;
}

IsaTarget isa_target(Isa isa) {
  IsaTarget t;
  std::string host = llvm::sys::getHostCPUName().str();
  if (host != "generic") t.tune_cpu = host;
  switch (isa) {
    case Isa::avx512:
      t.cpu = "x86-64-v4";
      // evex512 must be explicit since LLVM 18 (AVX10 split 256/512-bit EVEX).
      t.features = {"+avx512f", "+avx512bw", "+avx512vl", "+avx512dq", "+evex512", "+avx2", "+fma", "+f16c"};
      t.width = 16;
      break;
    case Isa::avx2:
      t.cpu = "x86-64-v3";
      t.features = {"+avx2", "+fma", "+f16c", "-avx512f"};
      t.width = 8;
      break;
    case Isa::sse:
      t.cpu = "x86-64";
      t.features = {"+sse2", "-avx"};
      t.width = 4;
      break;
    case Isa::automatic:
      throw std::invalid_argument("isa_target: Isa::automatic has no target; resolve it with host_isa() first");
  }
  return t;
}

}  // namespace horizon::codegen::cpu
