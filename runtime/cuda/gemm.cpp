#include "runtime/cuda/gemm.h"

#include <cstdint>

#include "runtime/cuda/cuda_check.h"

namespace horizon::runtime::cuda {

// Row-major M[r, c] has the bytes of column-major M^T[c, r] (leading
// dimension c). So every form computes the transposed result column-major,
// D^T = op(A) op(B) with cuBLASLt's A = the IR's second operand and B = its
// first:
//   linear         y^T[O,N]  = (w as [I,O])^T · (x as [I,N])      A: T, B: N
//   linear_grad_x  dx^T[I,N] = (w as [I,O])   · (dy as [O,N])     A: N, B: N
//   linear_grad_w  dw^T[I,O] = (x as [I,N])   · (dy as [O,N])^T   A: N, B: T

const char* gemm_form_name(GemmForm f) {
  switch (f) {
    case GemmForm::linear:
      return "linear";
    case GemmForm::linear_grad_x:
      return "linear_grad_x";
    case GemmForm::linear_grad_w:
      return "linear_grad_w";
  }
  return "?";
}

std::string GemmShape::describe() const {
  return std::string(gemm_form_name(form)) + " N=" + std::to_string(rows) + " I=" + std::to_string(in) +
         " O=" + std::to_string(out);
}

/// The descriptors and the chosen algorithm of one shape.
struct CublasLtGemm::Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  ~Plan() {
    if (c) cublasLtMatrixLayoutDestroy(c);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (desc) cublasLtMatmulDescDestroy(desc);
  }
};

CublasLtGemm::CublasLtGemm(int64_t workspace_bytes) : workspace_(workspace_bytes, "the cuBLASLt workspace") {
  check_cublas(cublasLtCreate(&handle_), "cublasLtCreate", "the GEMM runner");
}

CublasLtGemm::~CublasLtGemm() {
  plans_.clear();
  if (handle_) cublasLtDestroy(handle_);
}

void CublasLtGemm::prepare(const GemmShape& shape) { plan(shape); }

const CublasLtGemm::Plan& CublasLtGemm::plan(const GemmShape& s) {
  if (auto it = plans_.find(s); it != plans_.end()) return *it->second;
  const std::string what = "GEMM " + s.describe();
  if (s.rows < 1 || s.in < 1 || s.out < 1) throw CudaError(what + ": every dimension must be at least 1");
  const auto N = static_cast<uint64_t>(s.rows), I = static_cast<uint64_t>(s.in), O = static_cast<uint64_t>(s.out);
  struct Layout {
    uint64_t rows, cols;
  };
  cublasOperation_t ta = CUBLAS_OP_N, tb = CUBLAS_OP_N;
  Layout a{}, b{}, c{};  // stored (column-major) shapes; the leading dimension is `rows`
  switch (s.form) {
    case GemmForm::linear:
      ta = CUBLAS_OP_T, a = {I, O}, b = {I, N}, c = {O, N};
      break;
    case GemmForm::linear_grad_x:
      a = {I, O}, b = {O, N}, c = {I, N};
      break;
    case GemmForm::linear_grad_w:
      tb = CUBLAS_OP_T, a = {I, N}, b = {O, N}, c = {I, O};
      break;
  }
  auto p = std::make_unique<Plan>();
  check_cublas(cublasLtMatmulDescCreate(&p->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate", what);
  check_cublas(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta),
               "cublasLtMatmulDescSetAttribute(TRANSA)", what);
  check_cublas(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb),
               "cublasLtMatmulDescSetAttribute(TRANSB)", what);
  check_cublas(cublasLtMatrixLayoutCreate(&p->a, CUDA_R_16BF, a.rows, a.cols, static_cast<int64_t>(a.rows)),
               "cublasLtMatrixLayoutCreate(A)", what);
  check_cublas(cublasLtMatrixLayoutCreate(&p->b, CUDA_R_16BF, b.rows, b.cols, static_cast<int64_t>(b.rows)),
               "cublasLtMatrixLayoutCreate(B)", what);
  check_cublas(cublasLtMatrixLayoutCreate(&p->c, CUDA_R_32F, c.rows, c.cols, static_cast<int64_t>(c.rows)),
               "cublasLtMatrixLayoutCreate(C)", what);

  cublasLtMatmulPreference_t pref = nullptr;
  check_cublas(cublasLtMatmulPreferenceCreate(&pref), "cublasLtMatmulPreferenceCreate", what);
  struct PreferenceGuard {
    cublasLtMatmulPreference_t p;
    ~PreferenceGuard() { cublasLtMatmulPreferenceDestroy(p); }
  } guard{pref};
  const auto ws = static_cast<uint64_t>(workspace_.bytes());
  check_cublas(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws),
               "cublasLtMatmulPreferenceSetAttribute(MAX_WORKSPACE_BYTES)", what);
  // Callers promise 16-byte alignment (weights inside a slot, arena values),
  // not the 256 bytes cuBLASLt would otherwise assume of every pointer.
  const uint32_t align = 16;
  for (auto attr : {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                    CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
    check_cublas(cublasLtMatmulPreferenceSetAttribute(pref, attr, &align, sizeof align),
                 "cublasLtMatmulPreferenceSetAttribute(MIN_ALIGNMENT)", what);
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  check_cublas(cublasLtMatmulAlgoGetHeuristic(handle_, p->desc, p->a, p->b, p->c, p->c, pref, 1, &result, &found),
               "cublasLtMatmulAlgoGetHeuristic", what);
  if (found < 1 || result.state != CUBLAS_STATUS_SUCCESS)
    throw CudaError("cublasLtMatmulAlgoGetHeuristic found no algorithm for " + what +
                    " (bf16 x bf16 -> fp32, workspace " + std::to_string(ws) + " bytes)");
  p->algo = result.algo;
  return *plans_.emplace(s, std::move(p)).first->second;
}

void CublasLtGemm::run(const GemmShape& shape, const void* a, const void* b, float* out, bool accumulate,
                       cudaStream_t stream, const std::string& what) {
  const Plan& p = plan(shape);
  // The message is built only on failure: launches stay free of string work.
  auto where = [&] { return what.empty() ? "GEMM " + shape.describe() : what + " (GEMM " + shape.describe() + ")"; };
  if ((reinterpret_cast<uintptr_t>(a) | reinterpret_cast<uintptr_t>(b) | reinterpret_cast<uintptr_t>(out)) & 15)
    throw CudaError(where() + ": operands must be 16-byte aligned");
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  const cublasStatus_t status =
      cublasLtMatmul(handle_, p.desc, &alpha, b, p.a, a, p.b, &beta, out, p.c, out, p.c, &p.algo, workspace_.get(),
                     static_cast<size_t>(workspace_.bytes()), stream);
  if (status != CUBLAS_STATUS_SUCCESS) check_cublas(status, "cublasLtMatmul", where());
}

}  // namespace horizon::runtime::cuda
