// cublaslt_emu.cpp: the cuBLASLt calls kernels/cuda/gemm.cu makes, on the CPU, for the emulated
// CUDA runtime (cuda_runtime_emu.cpp; this replaces libcublasLt, never link both). One matmul:
//   D = alpha * op(A) * op(B) + beta * C  (+ bias[m] per row with CUBLASLT_EPILOGUE_BIAS)
// column-major, op = N or T, A and B bf16, compute and scale fp32, C/D bf16 or fp32 (C == D in
// every call kaito makes; C is read before D is written, element by element). Each output element
// is an fp32 sum over k in ascending order (cuBLAS's order is its own: compare with tolerances),
// rounded once to D's type. The work is queued on the stream like a kernel, so it is captured by
// a stream capture and replayed by the graph. Unsupported types and attributes are
// CUBLAS_STATUS_NOT_SUPPORTED, never a silent wrong answer.
#include <cublasLt.h>
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "tests/cuda/cuda_emulation.h"

struct cublasLtContext {
  int unused = 0;
};

namespace {

struct desc_state {
  cublasComputeType_t compute;
  cudaDataType_t scale;
  cublasOperation_t ta = CUBLAS_OP_N, tb = CUBLAS_OP_N;
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  const void* bias = nullptr;
};
struct layout_state {
  cudaDataType_t type;
  uint64_t rows, cols;
  int64_t ld;
};
static_assert(sizeof(desc_state) <= sizeof(cublasLtMatmulDescOpaque_t));
static_assert(sizeof(layout_state) <= sizeof(cublasLtMatrixLayoutOpaque_t));

desc_state& of(cublasLtMatmulDesc_t d) {
  return *reinterpret_cast<desc_state*>(d->data);
}
layout_state& of(cublasLtMatrixLayout_t l) {
  return *reinterpret_cast<layout_state*>(l->data);
}

float load(cudaDataType_t t, const void* p, int64_t i) {
  if (t == CUDA_R_32F) return static_cast<const float*>(p)[i];
  return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
}
void store(cudaDataType_t t, void* p, int64_t i, float v) {
  if (t == CUDA_R_32F) {
    static_cast<float*>(p)[i] = v;
  } else {
    static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16_rn(v);
  }
}
// acc[r] = sum over p = 0..k-1, in that order, of at[p*m + r] * bcol[p], for r < rows: each
// element's fp32 sum in ascending k, as the header says (the same multiplies and adds in the same
// order as one element at a time, so the same bits), computed for a block of rows at once so the
// compiler can vectorize across rows. The
// operands are this file's own copies, read in bounds by construction, so no sanitizer checks
// slow the loop that the emulated tests spend most of their time in.
constexpr int64_t kRowBlock = 64;
__attribute__((no_sanitize("address", "alignment"))) void sum_over_k(float* acc, const float* at,
                                                                     int64_t m, const float* bcol,
                                                                     int64_t k, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r) acc[r] = 0.0f;
  for (int64_t p = 0; p < k; ++p) {
    const float bp = bcol[p];
    const float* ap = at + p * m;
    for (int64_t r = 0; r < rows; ++r) acc[r] += ap[r] * bp;
  }
}

bool storage_ok(cudaDataType_t t) {
  return t == CUDA_R_32F || t == CUDA_R_16BF;
}

}  // namespace

extern "C" {

cublasStatus_t cublasLtCreate(cublasLtHandle_t* h) {
  *h = new cublasLtContext;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtDestroy(cublasLtHandle_t h) {
  delete h;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t* d, cublasComputeType_t compute,
                                        cudaDataType_t scale) {
  if (compute != CUBLAS_COMPUTE_32F || scale != CUDA_R_32F) return CUBLAS_STATUS_NOT_SUPPORTED;
  *d = new cublasLtMatmulDescOpaque_t{};
  new (&of(*d)) desc_state{compute, scale};
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t d) {
  delete d;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t d,
                                              cublasLtMatmulDescAttributes_t attr, const void* buf,
                                              size_t size) {
  desc_state& s = of(d);
  switch (attr) {
    case CUBLASLT_MATMUL_DESC_TRANSA:
    case CUBLASLT_MATMUL_DESC_TRANSB: {
      if (size != sizeof(cublasOperation_t)) return CUBLAS_STATUS_INVALID_VALUE;
      cublasOperation_t op;
      std::memcpy(&op, buf, size);
      if (op != CUBLAS_OP_N && op != CUBLAS_OP_T) return CUBLAS_STATUS_NOT_SUPPORTED;
      (attr == CUBLASLT_MATMUL_DESC_TRANSA ? s.ta : s.tb) = op;
      return CUBLAS_STATUS_SUCCESS;
    }
    case CUBLASLT_MATMUL_DESC_EPILOGUE: {
      if (size != sizeof(cublasLtEpilogue_t)) return CUBLAS_STATUS_INVALID_VALUE;
      std::memcpy(&s.epilogue, buf, size);
      if (s.epilogue != CUBLASLT_EPILOGUE_DEFAULT && s.epilogue != CUBLASLT_EPILOGUE_BIAS)
        return CUBLAS_STATUS_NOT_SUPPORTED;
      return CUBLAS_STATUS_SUCCESS;
    }
    case CUBLASLT_MATMUL_DESC_BIAS_POINTER:
      if (size != sizeof(void*)) return CUBLAS_STATUS_INVALID_VALUE;
      std::memcpy(&s.bias, buf, size);
      return CUBLAS_STATUS_SUCCESS;
    default:
      return CUBLAS_STATUS_NOT_SUPPORTED;
  }
}

cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t* l, cudaDataType type,
                                          uint64_t rows, uint64_t cols, int64_t ld) {
  if (!storage_ok(type)) return CUBLAS_STATUS_NOT_SUPPORTED;
  if (ld < int64_t(rows) || ld <= 0) return CUBLAS_STATUS_INVALID_VALUE;
  *l = new cublasLtMatrixLayoutOpaque_t{};
  new (&of(*l)) layout_state{type, rows, cols, ld};
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t l) {
  delete l;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t* p) {
  *p = new cublasLtMatmulPreferenceOpaque_t{};
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t p) {
  delete p;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t,
                                                    cublasLtMatmulPreferenceAttributes_t,
                                                    const void* buf, size_t size) {
  return buf != nullptr && size > 0 ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
}

cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t, cublasLtMatmulDesc_t,
                                              cublasLtMatrixLayout_t, cublasLtMatrixLayout_t,
                                              cublasLtMatrixLayout_t, cublasLtMatrixLayout_t,
                                              cublasLtMatmulPreference_t, int requested,
                                              cublasLtMatmulHeuristicResult_t* results,
                                              int* returned) {
  if (requested < 1) return CUBLAS_STATUS_INVALID_VALUE;
  std::memset(&results[0], 0, sizeof(results[0]));
  results[0].state = CUBLAS_STATUS_SUCCESS;
  results[0].wavesCount = 1.0f;
  *returned = 1;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmul(cublasLtHandle_t h, cublasLtMatmulDesc_t desc, const void* alpha,
                              const void* A, cublasLtMatrixLayout_t Ad, const void* B,
                              cublasLtMatrixLayout_t Bd, const void* beta, const void* C,
                              cublasLtMatrixLayout_t Cd, void* D, cublasLtMatrixLayout_t Dd,
                              const cublasLtMatmulAlgo_t*, void*, size_t, cudaStream_t stream) {
  if (h == nullptr || desc == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  const desc_state s = of(desc);
  const layout_state a = of(Ad), b = of(Bd), c = of(Cd), d = of(Dd);
  if (a.type != CUDA_R_16BF || b.type != CUDA_R_16BF || c.type != d.type)
    return CUBLAS_STATUS_NOT_SUPPORTED;
  // D is m x n; op(A) m x k; op(B) k x n.
  const int64_t m = int64_t(d.rows), n = int64_t(d.cols);
  const int64_t k = int64_t(s.ta == CUBLAS_OP_N ? a.cols : a.rows);
  const bool shapes = int64_t(s.ta == CUBLAS_OP_N ? a.rows : a.cols) == m &&
                      int64_t(s.tb == CUBLAS_OP_N ? b.rows : b.cols) == k &&
                      int64_t(s.tb == CUBLAS_OP_N ? b.cols : b.rows) == n && int64_t(c.rows) == m &&
                      int64_t(c.cols) == n;
  if (!shapes) return CUBLAS_STATUS_INVALID_VALUE;
  if (s.epilogue == CUBLASLT_EPILOGUE_BIAS && s.bias == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  float al, be;
  std::memcpy(&al, alpha, sizeof(float));  // host pointer mode (the default)
  std::memcpy(&be, beta, sizeof(float));
  const std::string label = "cublasLtMatmul m=" + std::to_string(m) + " n=" + std::to_string(n) +
                            " k=" + std::to_string(k) + (be != 0.0f ? " (+C)" : "");
  emu::enqueue(stream, [=] {
    emu::traced(label, [&] {
      // op(A) and op(B) read once (AddressSanitizer checks every element of both) into fp32:
      // at = op(A) as k x m (i fastest), bt = op(B) as n x k (p fastest).
      std::vector<float> at(size_t(m * k)), bt(size_t(n * k));
      for (int64_t p = 0; p < k; ++p)
        for (int64_t i = 0; i < m; ++i)
          at[size_t(p * m + i)] =
              load(CUDA_R_16BF, A, s.ta == CUBLAS_OP_N ? i + p * a.ld : p + i * a.ld);
      for (int64_t j = 0; j < n; ++j)
        for (int64_t p = 0; p < k; ++p)
          bt[size_t(j * k + p)] =
              load(CUDA_R_16BF, B, s.tb == CUBLAS_OP_N ? p + j * b.ld : j + p * b.ld);
      float acc[kRowBlock];
      for (int64_t j = 0; j < n; ++j) {
        for (int64_t i0 = 0; i0 < m; i0 += kRowBlock) {
          const int64_t rows = std::min<int64_t>(kRowBlock, m - i0);
          sum_over_k(acc, at.data() + i0, m, bt.data() + j * k, k, rows);
          for (int64_t r = 0; r < rows; ++r) {
            const int64_t i = i0 + r;
            float v = al * acc[r];
            if (be != 0.0f) v += be * load(c.type, C, i + j * c.ld);
            if (s.epilogue == CUBLASLT_EPILOGUE_BIAS) v += load(d.type, s.bias, i);
            store(d.type, D, i + j * d.ld, v);
          }
        }
      }
    });
  });
  return CUBLAS_STATUS_SUCCESS;
}

}  // extern "C"
