// CpuJit: one ORC LLJIT per ISA, whose TargetMachine is pinned to that ISA's
// x86-64 level. Each request builds a small module (one function), checks it,
// runs LLVM's O3 pipeline on it and hands it to the JIT; the resulting
// function pointer is cached by program key (or moment type) for the life of
// the process. Compilation is serialized per JIT: it is rare (a few dozen
// programs per model) and holding one lock keeps the TargetMachine, the pass
// pipeline and the caches simple.
#include "codegen/cpu/cpu_jit.h"

#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/TargetParser/Host.h>

#include <array>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

#include "codegen/cpu/emit_adamw.h"
#include "codegen/cpu/emit_elementwise.h"
#include "codegen/cpu/isa_target.h"

namespace horizon::codegen::cpu {
namespace {

std::string llvm_message(llvm::Error error) { return llvm::toString(std::move(error)); }

template <class T>
T unwrap(llvm::Expected<T> value, const std::string& what) {
  if (!value) throw std::runtime_error("CPU JIT: " + what + ": " + llvm_message(value.takeError()));
  return std::move(*value);
}

void check(llvm::Error error, const std::string& what) {
  if (error) throw std::runtime_error("CPU JIT: " + what + ": " + llvm_message(std::move(error)));
}

void initialize_llvm_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
}

std::string join_features(const std::vector<std::string>& features) {
  std::string s;
  for (const std::string& f : features) s += (s.empty() ? "" : ",") + f;
  return s;
}

llvm::orc::JITTargetMachineBuilder machine_builder(const IsaTarget& target) {
  llvm::orc::JITTargetMachineBuilder jtmb{llvm::Triple(llvm::sys::getProcessTriple())};
  jtmb.setCPU(target.cpu);
  jtmb.addFeatures(target.features);
  jtmb.setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  return jtmb;
}

}  // namespace

struct CpuJit::Impl {
  Isa isa;
  IsaTarget target;
  std::unique_ptr<llvm::TargetMachine> machine;  // drives the O3 pipeline's cost model
  std::unique_ptr<llvm::orc::LLJIT> jit;

  std::mutex mu;  // guards everything below and all compilation
  std::unordered_map<std::string, ElementwiseFn> elementwise;
  std::array<AdamWFn, 2> adamw{};
  BlockwiseAdamWFn adamw_blockwise = nullptr;
  int next_symbol = 0;

  explicit Impl(Isa isa_) : isa(isa_), target(isa_target(isa_)) {
    initialize_llvm_once();
    machine = unwrap(machine_builder(target).createTargetMachine(), std::string("target machine for ") + isa_name(isa));
    jit = unwrap(llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(machine_builder(target)).create(),
                 std::string("LLJIT for ") + isa_name(isa));
  }

  std::unique_ptr<llvm::Module> new_module(llvm::LLVMContext& ctx, const std::string& name) const {
    auto module = std::make_unique<llvm::Module>(name, ctx);
    module->setDataLayout(machine->createDataLayout());
    module->setTargetTriple(machine->getTargetTriple().str());
    return module;
  }

  // Pins every function to this ISA (the attributes override the
  // TargetMachine's defaults per function), checks the module and optimizes it.
  void finish(llvm::Module& module) const {
    const std::string vector_bits = std::to_string(target.width * 32);
    for (llvm::Function& fn : module) {
      if (fn.isDeclaration()) continue;
      fn.addFnAttr("target-cpu", target.cpu);
      fn.addFnAttr("target-features", join_features(target.features));
      if (!target.tune_cpu.empty()) fn.addFnAttr("tune-cpu", target.tune_cpu);
      // The width we emit, stated for the backend: the x86-64-v4 level's
      // tuning (and Skylake's) prefers 256-bit vectors, which would steer
      // LLVM's own vectorization and lowering choices toward half width.
      fn.addFnAttr("prefer-vector-width", vector_bits);
      fn.addFnAttr("min-legal-vector-width", vector_bits);
      fn.addFnAttr(llvm::Attribute::NoUnwind);
    }
    std::string problems;
    llvm::raw_string_ostream os(problems);
    if (llvm::verifyModule(module, &os))
      throw std::logic_error("CPU JIT emitted invalid LLVM IR for " + module.getName().str() + ": " + problems);

    // Declaration order matters: the managers refer to each other and must be
    // destroyed module-first.
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    llvm::PassBuilder passes(machine.get());
    passes.registerModuleAnalyses(mam);
    passes.registerCGSCCAnalyses(cgam);
    passes.registerFunctionAnalyses(fam);
    passes.registerLoopAnalyses(lam);
    passes.crossRegisterProxies(lam, fam, cgam, mam);
    passes.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3).run(module, mam);
  }

  // Builds, optimizes and JIT-compiles one function; returns its address.
  template <class Emit>
  void* compile(const std::string& symbol, Emit&& emit) {
    auto ctx = std::make_unique<llvm::LLVMContext>();
    std::unique_ptr<llvm::Module> module = new_module(*ctx, symbol);
    emit(*module);
    finish(*module);
    check(jit->addIRModule(llvm::orc::ThreadSafeModule(std::move(module), std::move(ctx))), "adding " + symbol);
    return unwrap(jit->lookup(symbol), "compiling " + symbol).toPtr<void*>();
  }

  template <class Emit>
  std::string optimized_ir(const std::string& name, Emit&& emit) const {
    llvm::LLVMContext ctx;
    std::unique_ptr<llvm::Module> module = new_module(ctx, name);
    emit(*module);
    finish(*module);
    std::string text;
    llvm::raw_string_ostream os(text);
    module->print(os, nullptr);
    return text;
  }
};

CpuJit& CpuJit::get(Isa isa) {
  if (isa == Isa::automatic) isa = host_isa();
  if (!host_supports(isa))
    throw std::runtime_error(std::string("CPU JIT: this host cannot run ") + isa_name(isa) +
                             " code (best here: " + isa_name(host_isa()) + "); ask for Isa::automatic or a lower ISA");
  static std::mutex mu;
  static std::array<std::unique_ptr<CpuJit>, 4> jits;
  std::lock_guard<std::mutex> lock(mu);
  std::unique_ptr<CpuJit>& slot = jits[static_cast<size_t>(isa)];
  if (!slot) slot.reset(new CpuJit(isa));
  return *slot;
}

CpuJit::CpuJit(Isa isa) : impl_(std::make_unique<Impl>(isa)) {}
CpuJit::~CpuJit() = default;

Isa CpuJit::isa() const { return impl_->isa; }

ElementwiseFn CpuJit::elementwise(const ElementwiseProgram& program) {
  validate_elementwise_program(program);
  std::string key = program.key();
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (auto it = impl_->elementwise.find(key); it != impl_->elementwise.end()) return it->second;
  const std::string symbol = "horizon_elementwise_" + std::to_string(impl_->next_symbol++);
  const int width = impl_->target.width;
  void* address =
      impl_->compile(symbol, [&](llvm::Module& m) { emit_elementwise_function(m, program, width, symbol); });
  auto fn = reinterpret_cast<ElementwiseFn>(address);
  impl_->elementwise.emplace(std::move(key), fn);
  return fn;
}

const char* moment_type_name(MomentType t) {
  switch (t) {
    case MomentType::bf16:
      return "bf16";
    case MomentType::f32:
      return "f32";
    case MomentType::q8:
      return "8bit";
  }
  return "?";
}

int moment_plane_bytes(MomentType t) { return t == MomentType::f32 ? 4 : t == MomentType::bf16 ? 2 : 1; }

AdamWFn CpuJit::adamw(MomentType moments) {
  if (moments == MomentType::q8)
    throw std::invalid_argument("CpuJit::adamw: 8-bit moments have their own step (CpuJit::adamw_blockwise)");
  std::lock_guard<std::mutex> lock(impl_->mu);
  AdamWFn& slot = impl_->adamw[static_cast<size_t>(moments)];
  if (slot) return slot;
  const std::string symbol = moments == MomentType::bf16 ? "horizon_adamw_bf16" : "horizon_adamw_f32";
  const int width = impl_->target.width;
  void* address = impl_->compile(symbol, [&](llvm::Module& m) { emit_adamw_function(m, moments, width, symbol); });
  slot = reinterpret_cast<AdamWFn>(address);
  return slot;
}

BlockwiseAdamWFn CpuJit::adamw_blockwise() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->adamw_blockwise) return impl_->adamw_blockwise;
  const std::string symbol = "horizon_adamw_q8";
  const int width = impl_->target.width;
  void* address = impl_->compile(symbol, [&](llvm::Module& m) { emit_blockwise_adamw_function(m, width, symbol); });
  impl_->adamw_blockwise = reinterpret_cast<BlockwiseAdamWFn>(address);
  return impl_->adamw_blockwise;
}

std::string CpuJit::elementwise_llvm_ir(const ElementwiseProgram& program) {
  validate_elementwise_program(program);
  const int width = impl_->target.width;
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->optimized_ir("horizon_elementwise", [&](llvm::Module& m) {
    emit_elementwise_function(m, program, width, "horizon_elementwise");
  });
}

std::string CpuJit::adamw_llvm_ir(MomentType moments) {
  const std::string name =
      std::string("horizon_adamw_") + (moments == MomentType::q8 ? "q8" : moment_type_name(moments));
  const int width = impl_->target.width;
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (moments == MomentType::q8)
    return impl_->optimized_ir(name, [&](llvm::Module& m) { emit_blockwise_adamw_function(m, width, name); });
  return impl_->optimized_ir(name, [&](llvm::Module& m) { emit_adamw_function(m, moments, width, name); });
}

}  // namespace horizon::codegen::cpu
