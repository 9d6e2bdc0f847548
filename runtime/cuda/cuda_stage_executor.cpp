#include "runtime/cuda/cuda_stage_executor.h"

#include <exception>
#include <map>
#include <stdexcept>

#include "codegen/cuda/kernels.h"
#include "codegen/cuda/nvrtc_compiler.h"
#include "runtime/cuda/cubin_library.h"
#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/device_memory.h"
#include "runtime/cuda/gemm.h"
#include "runtime/cuda/operand_kernels.h"
#include "runtime/cuda/stage_program.h"
#include "runtime/thread_pool.h"

namespace horizon::runtime::cuda {
namespace {

/// One cudaLaunchKernel of a generated kernel; its pointers are filled in
/// per launch, its argument array points at them once and for all.
struct KernelLaunch {
  cudaKernel_t fn = nullptr;
  dim3 grid, block;
  unsigned shared_bytes = 0;
  std::string entry;
  std::vector<PointerRef> args;
  std::vector<void*> values;
  std::vector<void*> argv;  // &values[i]
};

/// Compiles every distinct source of `kernels` on the thread pool (NVRTC is
/// thread-safe; a block stage has a few dozen kernels). Returns per kernel
/// the index of its cubin in `cubins`.
std::vector<int> compile_all(const std::vector<codegen::cuda::StageKernel>& kernels,
                             codegen::cuda::NvrtcCompiler& compiler, std::vector<codegen::cuda::Cubin>& cubins) {
  std::map<std::string, int> by_code;
  std::vector<int> module_of;
  std::vector<const codegen::cuda::StageKernel*> distinct;
  for (const codegen::cuda::StageKernel& k : kernels) {
    auto [it, fresh] = by_code.emplace(k.source.code, static_cast<int>(distinct.size()));
    if (fresh) distinct.push_back(&k);
    module_of.push_back(it->second);
  }
  cubins.assign(distinct.size(), {});
  std::vector<std::exception_ptr> errors(distinct.size());
  parallel_for(static_cast<int64_t>(distinct.size()), 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      try {
        cubins[i] = compiler.compile(distinct[i]->source);
      } catch (...) {  // rethrown on the calling thread, naming the kernel
        errors[i] = std::current_exception();
      }
    }
  });
  for (size_t i = 0; i < errors.size(); ++i) {
    if (!errors[i]) continue;
    try {
      std::rethrow_exception(errors[i]);
    } catch (const std::exception& e) {
      throw codegen::cuda::CompileError("stage " + distinct[i]->stage + ", instructions " +
                                        std::to_string(distinct[i]->first) + ".." + std::to_string(distinct[i]->last) +
                                        ": " + e.what());
    }
  }
  return module_of;
}

}  // namespace

struct CudaStageExecutor::Impl {
  const std::string stage_name;
  std::vector<std::string> input_names, param_names, output_names, grad_names;
  int64_t arena_bytes = 0;
  StageProgram program;
  std::vector<std::unique_ptr<CubinLibrary>> libraries;
  std::vector<std::vector<KernelLaunch>> launches;  // per kernel of the program
  std::unique_ptr<OperandKernels> operand_kernels;
  std::unique_ptr<CublasLtGemm> gemm;
  DeviceMemory scratch;
  std::vector<void*> where;  // per value: its pointer in the current launch

  Impl(const ir::Stage& stage, const ir::ArenaPlan& plan, int64_t batch, int64_t seq)
      : stage_name(stage.name), arena_bytes(plan.bytes), program(build_stage_program(stage, plan, batch, seq)) {
    for (int v : stage.inputs) input_names.push_back(stage.values[v].name);
    for (const ir::Param& p : stage.params) param_names.push_back(stage.values[p.value].name);
    for (int v : stage.outputs) output_names.push_back(stage.values[v].name);
    for (const ir::ParamGrad& g : stage.grads) grad_names.push_back(stage.values[g.value].name);
    where.assign(stage.values.size(), nullptr);

    // Everything above is host work and checks the plan; from here on the GPU is needed.
    codegen::cuda::NvrtcCompiler compiler({current_device_arch(), "", true});
    std::vector<codegen::cuda::Cubin> cubins;
    const std::vector<int> module_of = compile_all(program.kernels, compiler, cubins);
    std::vector<int> library_of(cubins.size(), -1);
    for (size_t k = 0; k < program.kernels.size(); ++k) {
      const codegen::cuda::StageKernel& sk = program.kernels[k];
      int& lib = library_of[module_of[k]];
      if (lib < 0) {
        lib = static_cast<int>(libraries.size());
        libraries.push_back(std::make_unique<CubinLibrary>(cubins[module_of[k]].image,
                                                           "stage " + stage_name + " kernel " + sk.source.describe()));
      }
      std::vector<KernelLaunch> ls;
      for (const codegen::cuda::Launch& l : sk.source.launches) {
        KernelLaunch kl;
        kl.fn = libraries[lib]->kernel(l.entry);
        kl.grid = dim3(l.grid.x, l.grid.y, l.grid.z);
        kl.block = dim3(l.block.x, l.block.y, l.block.z);
        kl.shared_bytes = l.shared_bytes;
        kl.entry = l.entry;
        for (const codegen::cuda::Arg& a : l.args) {
          switch (a.kind) {
            case codegen::cuda::Arg::Kind::input:
              kl.args.push_back({sk.inputs.at(a.index), -1});
              break;
            case codegen::cuda::Arg::Kind::output:
              kl.args.push_back({sk.outputs.at(a.index), -1});
              break;
            case codegen::cuda::Arg::Kind::workspace:
              kl.args.push_back({-1, program.workspace_offsets[k].at(a.index)});
              break;
          }
        }
        ls.push_back(std::move(kl));
      }
      launches.push_back(std::move(ls));
    }
    // The argument arrays point into `values`, which must not move again.
    for (auto& ls : launches)
      for (KernelLaunch& l : ls) {
        l.values.assign(l.args.size(), nullptr);
        for (void*& v : l.values) l.argv.push_back(&v);
      }

    operand_kernels = std::make_unique<OperandKernels>(compiler);
    if (!program.gemm_shapes.empty()) {
      gemm = std::make_unique<CublasLtGemm>();
      for (const GemmShape& s : program.gemm_shapes) gemm->prepare(s);
    }
    scratch = DeviceMemory(program.scratch_bytes, "the scratch of the CUDA executor of stage " + stage_name);
  }

  /// Checks `b` and points every value of the stage at its home.
  void bind(const DeviceStageBindings& b) {
    auto fail = [&](const std::string& why) {
      return std::invalid_argument("CUDA stage executor: stage " + stage_name + ": " + why);
    };
    if (b.inputs.size() != input_names.size() || b.params.size() != param_names.size() ||
        b.outputs.size() != output_names.size() || b.grads.size() != grad_names.size())
      throw fail("bindings give " + std::to_string(b.inputs.size()) + " inputs, " + std::to_string(b.params.size()) +
                 " parameters, " + std::to_string(b.outputs.size()) + " outputs and " + std::to_string(b.grads.size()) +
                 " gradients; the stage has " + std::to_string(input_names.size()) + ", " +
                 std::to_string(param_names.size()) + ", " + std::to_string(output_names.size()) + " and " +
                 std::to_string(grad_names.size()));
    auto check = [&](const void* p, const char* role, const std::string& name) {
      if (!p) throw fail(std::string(role) + " %" + name + " is bound to a null pointer");
      if (reinterpret_cast<uintptr_t>(p) & 15)
        throw fail(std::string(role) + " %" + name + " is not 16-byte aligned (kernels load 16 bytes at a time)");
    };
    for (size_t i = 0; i < b.inputs.size(); ++i) check(b.inputs[i], "input", input_names[i]);
    for (size_t i = 0; i < b.params.size(); ++i) check(b.params[i], "parameter", param_names[i]);
    for (size_t i = 0; i < b.outputs.size(); ++i) check(b.outputs[i], "output", output_names[i]);
    for (size_t i = 0; i < b.grads.size(); ++i) check(b.grads[i], "gradient", grad_names[i]);
    if (arena_bytes > 0) check(b.arena, "the arena", "(transients)");

    for (size_t v = 0; v < where.size(); ++v) {
      const ValueHome& h = program.homes[v];
      switch (h.kind) {
        case ValueHome::Kind::none:
          where[v] = nullptr;
          break;
        case ValueHome::Kind::input:
          where[v] = const_cast<void*>(b.inputs[h.index]);
          break;
        case ValueHome::Kind::param:
          where[v] = const_cast<void*>(b.params[h.index]);
          break;
        case ValueHome::Kind::output:
          where[v] = b.outputs[h.index];
          break;
        case ValueHome::Kind::grad:
          where[v] = b.accumulate && program.staging[v] >= 0 ? scratch.at(program.staging[v])
                                                             : static_cast<void*>(b.grads[h.index]);
          break;
        case ValueHome::Kind::arena:
          where[v] = static_cast<char*>(b.arena) + h.offset;
          break;
        case ValueHome::Kind::sink:
          where[v] = scratch.at(program.sink_offset);
          break;
      }
    }
  }

  void run(const DeviceStageBindings& b, cudaStream_t stream) {
    bind(b);
    for (const Step& st : program.steps) run_step(st, b, stream);
  }

  static void enqueue(KernelLaunch& l, dim3 grid, cudaStream_t stream, const std::string& what) {
    const cudaError_t e =
        cudaLaunchKernel(reinterpret_cast<const void*>(l.fn), grid, l.block, l.argv.data(), l.shared_bytes, stream);
    if (e != cudaSuccess) check_cuda(e, "cudaLaunchKernel", what + ", entry " + l.entry);
  }

  /// A GEMM operand: in place, or its bf16 copy (narrowed first if the program says).
  const void* operand(const GemmOperand& o, cudaStream_t stream, const std::string& what) {
    if (o.bf16_offset < 0) return where[o.value];
    void* copy = scratch.at(o.bf16_offset);
    if (o.convert) operand_kernels->to_bf16(static_cast<const float*>(where[o.value]), copy, o.elements, stream, what);
    return copy;
  }

  /// A fused lm head loss: the chunk loop, with the loss kernel's
  /// row-indexed buffers (targets, row losses) advanced to each chunk.
  void run_loss_chunks(const Step& st, const DeviceStageBindings& b, cudaStream_t stream) {
    const LossChunks& c = st.loss;
    const codegen::cuda::KernelSource& src = program.kernels[st.kernel].source;
    char* row_loss = scratch.at(program.workspace_offsets[st.kernel][0]);
    void* count = scratch.at(program.workspace_offsets[st.kernel][1]);
    char* arena = static_cast<char*>(b.arena);
    LossChunkRun run;
    run.h_bf16 = operand(st.a, stream, st.what);
    run.w = operand(st.b, stream, st.what);
    run.logits = arena + c.logits;
    if (c.backward) {
      run.dh = static_cast<float*>(where[c.dh]);
      run.dw = static_cast<float*>(where[c.dw]);
      run.d_logits = arena + c.d_logits;
      run.dw_accumulate = b.accumulate && st.beta_into_grad;
    }
    // The kernel's buffers (codegen/cuda/kernels.h): inputs logits, targets;
    // outputs loss, dlogits; workspaces row_loss, count.
    // With the step's count bound, the start kernel's own count lands in
    // the workspace unread; the rows and the mean divide by the step's.
    auto pointer = [&](const codegen::cuda::Arg& a, int which, int64_t first_row) -> void* {
      switch (a.kind) {
        case codegen::cuda::Arg::Kind::input:
          return a.index == 0 ? run.logits : static_cast<char*>(where[c.targets]) + first_row * 4;
        case codegen::cuda::Arg::Kind::output:
          return a.index == 0 ? where[c.loss] : run.d_logits;
        case codegen::cuda::Arg::Kind::workspace:
          if (a.index == 0) return row_loss + first_row * 8;
          return b.loss_count && which != codegen::cuda::kLossChunkStart ? const_cast<int*>(b.loss_count) : count;
      }
      return nullptr;
    };
    run.kernel = [&](int which, int64_t first_row, int64_t rows) {
      KernelLaunch& l = launches[st.kernel][which];
      const std::vector<codegen::cuda::Arg>& args = src.launches[which].args;
      for (size_t i = 0; i < args.size(); ++i) l.values[i] = pointer(args[i], which, first_row);
      const dim3 grid = which == codegen::cuda::kLossChunkRows ? dim3(static_cast<unsigned>(rows)) : l.grid;
      enqueue(l, grid, stream, st.what);
    };
    enqueue_loss_chunks(c, run, *gemm, stream, st.what);
  }

  /// Enqueues one step; GEMM operands are narrowed to bf16 first where the program says.
  void run_step(const Step& st, const DeviceStageBindings& b, cudaStream_t stream) {
    switch (st.kind) {
      case Step::Kind::kernel: {
        // The DPO loss of one micro-batch divides by the step's pairs, bound
        // in place of the count its first launch would compute (B/2).
        const bool step_pairs = b.loss_count && program.kernels[st.kernel].source.name.rfind("dpo_loss", 0) == 0;
        for (KernelLaunch& l : launches[st.kernel]) {
          if (step_pairs && l.entry == "dpo_pair_count") continue;
          for (size_t i = 0; i < l.args.size(); ++i)
            l.values[i] = l.args[i].value >= 0 ? where[l.args[i].value]
                          : step_pairs         ? static_cast<void*>(const_cast<int*>(b.loss_count))
                                               : static_cast<void*>(scratch.at(l.args[i].scratch));
          enqueue(l, l.grid, stream, st.what);
        }
        break;
      }
      case Step::Kind::gemm: {
        const void* a = operand(st.a, stream, st.what);
        const void* bb = operand(st.b, stream, st.what);
        gemm->run(st.shape, a, bb, static_cast<float*>(where[st.result]), b.accumulate && st.beta_into_grad, stream,
                  st.what);
        break;
      }
      case Step::Kind::loss_chunks:
        run_loss_chunks(st, b, stream);
        break;
      case Step::Kind::accumulate:
        if (b.accumulate)
          operand_kernels->accumulate(b.grads[st.grad], static_cast<const float*>(where[st.result]), st.elements,
                                      stream, st.what);
        break;
    }
  }
};

CudaStageExecutor::CudaStageExecutor(const ir::Stage& stage, const ir::ArenaPlan& plan, int64_t batch, int64_t seq)
    : impl_(std::make_unique<Impl>(stage, plan, batch, seq)) {}

CudaStageExecutor::~CudaStageExecutor() = default;

void CudaStageExecutor::launch(const DeviceStageBindings& bindings, cudaStream_t stream) {
  impl_->run(bindings, stream);
}

std::vector<CudaStageExecutor::StepTime> CudaStageExecutor::profile(const DeviceStageBindings& bindings,
                                                                    cudaStream_t stream) {
  Impl& m = *impl_;
  m.bind(bindings);
  const std::string what = "profiling stage " + m.stage_name;
  std::vector<cudaEvent_t> events(m.program.steps.size() + 1, nullptr);
  struct Destroy {
    std::vector<cudaEvent_t>& e;
    ~Destroy() {
      for (cudaEvent_t x : e)
        if (x) cudaEventDestroy(x);
    }
  } destroy{events};
  for (cudaEvent_t& e : events) check_cuda(cudaEventCreate(&e), "cudaEventCreate", what);
  for (size_t i = 0; i < m.program.steps.size(); ++i) {
    check_cuda(cudaEventRecord(events[i], stream), "cudaEventRecord", what);
    m.run_step(m.program.steps[i], bindings, stream);
  }
  check_cuda(cudaEventRecord(events.back(), stream), "cudaEventRecord", what);
  check_cuda(cudaEventSynchronize(events.back()), "cudaEventSynchronize", what);
  std::vector<StepTime> times;
  for (size_t i = 0; i < m.program.steps.size(); ++i) {
    float ms = 0;
    check_cuda(cudaEventElapsedTime(&ms, events[i], events[i + 1]), "cudaEventElapsedTime", what);
    times.push_back({m.program.steps[i].what, ms});
  }
  return times;
}

int64_t CudaStageExecutor::scratch_bytes() const {
  return impl_->scratch.bytes() + (impl_->gemm ? impl_->gemm->workspace_bytes() : 0);
}

}  // namespace horizon::runtime::cuda
