// What "compile for ISA X" means to LLVM: the CPU name, the feature list and
// the vector width the emitters use. Private to codegen/cpu and LLVM-free, so
// the JIT and the emitters agree on one table without sharing LLVM types.
#pragma once

#include <string>
#include <vector>

#include "codegen/cpu/cpu_jit.h"

namespace horizon::codegen::cpu {

/// The LLVM target configuration of one ISA.
struct IsaTarget {
  std::string cpu;                    // an x86-64 micro-architecture level, e.g. "x86-64-v4"
  std::vector<std::string> features;  // "+avx512f", "-avx512f", ... on top of `cpu`
  std::string tune_cpu;               // the host's CPU name for scheduling; empty when unknown
  int width = 1;                      // floats per vector register
};

/// The configuration of `isa` (not `automatic`). Throws std::invalid_argument
/// for `automatic`: resolve it with host_isa() first.
IsaTarget isa_target(Isa isa);

/// Whether this host can run code compiled for `isa`.
bool host_supports(Isa isa);

}  // namespace horizon::codegen::cpu
