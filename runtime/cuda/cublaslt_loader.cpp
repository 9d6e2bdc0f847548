// cuBLASLt, loaded on first use: this file defines the cuBLASLt functions
// Horizon calls, each forwarding to the library opened with dlopen
// (support/shared_library.h says why it is not linked). The definitions
// take their signatures from cublasLt.h, so a mismatch does not compile.
#include <cublasLt.h>

#include "support/shared_library.h"

namespace horizon::runtime::cuda {
namespace {

struct CublasLt {
  SharedLibrary lib{{HORIZON_CUBLASLT_SONAME, HORIZON_CUDA_LIBRARY_DIR "/" HORIZON_CUBLASLT_SONAME},
                    "GPU training needs the CUDA toolkit's cuBLASLt (set LD_LIBRARY_PATH to its lib64 folder), or "
                    "use --device cpu"};
  decltype(&::cublasLtCreate) create;
  decltype(&::cublasLtDestroy) destroy;
  decltype(&::cublasLtGetStatusName) status_name;
  decltype(&::cublasLtGetStatusString) status_string;
  decltype(&::cublasLtMatmul) matmul;
  decltype(&::cublasLtMatmulAlgoGetHeuristic) heuristic;
  decltype(&::cublasLtMatmulDescCreate) desc_create;
  decltype(&::cublasLtMatmulDescDestroy) desc_destroy;
  decltype(&::cublasLtMatmulDescSetAttribute) desc_set;
  decltype(&::cublasLtMatmulPreferenceCreate) pref_create;
  decltype(&::cublasLtMatmulPreferenceDestroy) pref_destroy;
  decltype(&::cublasLtMatmulPreferenceSetAttribute) pref_set;
  decltype(&::cublasLtMatrixLayoutCreate) layout_create;
  decltype(&::cublasLtMatrixLayoutDestroy) layout_destroy;

  CublasLt() {
    resolve(lib, "cublasLtCreate", create);
    resolve(lib, "cublasLtDestroy", destroy);
    resolve(lib, "cublasLtGetStatusName", status_name);
    resolve(lib, "cublasLtGetStatusString", status_string);
    resolve(lib, "cublasLtMatmul", matmul);
    resolve(lib, "cublasLtMatmulAlgoGetHeuristic", heuristic);
    resolve(lib, "cublasLtMatmulDescCreate", desc_create);
    resolve(lib, "cublasLtMatmulDescDestroy", desc_destroy);
    resolve(lib, "cublasLtMatmulDescSetAttribute", desc_set);
    resolve(lib, "cublasLtMatmulPreferenceCreate", pref_create);
    resolve(lib, "cublasLtMatmulPreferenceDestroy", pref_destroy);
    resolve(lib, "cublasLtMatmulPreferenceSetAttribute", pref_set);
    resolve(lib, "cublasLtMatrixLayoutCreate", layout_create);
    resolve(lib, "cublasLtMatrixLayoutDestroy", layout_destroy);
  }
};

const CublasLt& api() {
  static const CublasLt loaded;  // thread-safe, once
  return loaded;
}

}  // namespace
}  // namespace horizon::runtime::cuda

using horizon::runtime::cuda::api;

extern "C" {

cublasStatus_t CUBLASWINAPI cublasLtCreate(cublasLtHandle_t* handle) { return api().create(handle); }
cublasStatus_t CUBLASWINAPI cublasLtDestroy(cublasLtHandle_t handle) { return api().destroy(handle); }
const char* CUBLASWINAPI cublasLtGetStatusName(cublasStatus_t status) { return api().status_name(status); }
const char* CUBLASWINAPI cublasLtGetStatusString(cublasStatus_t status) { return api().status_string(status); }
cublasStatus_t CUBLASWINAPI cublasLtMatmul(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc, const void* alpha,
                                           const void* A, cublasLtMatrixLayout_t Adesc, const void* B,
                                           cublasLtMatrixLayout_t Bdesc, const void* beta, const void* C,
                                           cublasLtMatrixLayout_t Cdesc, void* D, cublasLtMatrixLayout_t Ddesc,
                                           const cublasLtMatmulAlgo_t* algo, void* workspace, size_t workspace_bytes,
                                           cudaStream_t stream) {
  return api().matmul(handle, desc, alpha, A, Adesc, B, Bdesc, beta, C, Cdesc, D, Ddesc, algo, workspace,
                      workspace_bytes, stream);
}
cublasStatus_t CUBLASWINAPI cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc,
                                                           cublasLtMatrixLayout_t Adesc, cublasLtMatrixLayout_t Bdesc,
                                                           cublasLtMatrixLayout_t Cdesc, cublasLtMatrixLayout_t Ddesc,
                                                           cublasLtMatmulPreference_t preference, int requested,
                                                           cublasLtMatmulHeuristicResult_t results[], int* returned) {
  return api().heuristic(handle, desc, Adesc, Bdesc, Cdesc, Ddesc, preference, requested, results, returned);
}
cublasStatus_t CUBLASWINAPI cublasLtMatmulDescCreate(cublasLtMatmulDesc_t* desc, cublasComputeType_t compute,
                                                     cudaDataType_t scale) {
  return api().desc_create(desc, compute, scale);
}
cublasStatus_t CUBLASWINAPI cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t desc) { return api().desc_destroy(desc); }
cublasStatus_t CUBLASWINAPI cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t desc,
                                                           cublasLtMatmulDescAttributes_t attr, const void* buf,
                                                           size_t bytes) {
  return api().desc_set(desc, attr, buf, bytes);
}
cublasStatus_t CUBLASWINAPI cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t* pref) {
  return api().pref_create(pref);
}
cublasStatus_t CUBLASWINAPI cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t pref) {
  return api().pref_destroy(pref);
}
cublasStatus_t CUBLASWINAPI cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t pref,
                                                                 cublasLtMatmulPreferenceAttributes_t attr,
                                                                 const void* buf, size_t bytes) {
  return api().pref_set(pref, attr, buf, bytes);
}
cublasStatus_t CUBLASWINAPI cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t* layout, cudaDataType type, uint64_t rows,
                                                       uint64_t cols, int64_t ld) {
  return api().layout_create(layout, type, rows, cols, ld);
}
cublasStatus_t CUBLASWINAPI cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t layout) {
  return api().layout_destroy(layout);
}

}  // extern "C"
