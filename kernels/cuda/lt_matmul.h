// lt_matmul: one cuBLASLt matrix product, column-major as cuBLAS sees it (internal to
// kernels/cuda/; the row-major launchers in gemm.cu and lora.cu build these problems).
//   D(m x n) = alpha * op(A) * op(B) + beta * D,  op(X) = X or Xᵀ (trans_*), ld* = column strides
// A and B are bf16, D is bf16 or fp32 (d_type), accumulation fp32 (CUBLAS_COMPUTE_32F); with a
// bias (bf16, m), the epilogue adds it to every column. The algorithm for a problem (shapes,
// strides, types, pointer alignment) is chosen once by the heuristic and cached in the context.
// Failures are recorded in cx (see cuda_context.h); the call then returns without enqueuing.
#pragma once

#include <cublasLt.h>

#include <cstdint>

#include "kernels/cuda/cuda_context.h"

namespace kaito::detail {

struct lt_problem {
  bool trans_a, trans_b;
  int64_t m, n, k;
  const void* a;
  int64_t lda;
  const void* b;
  int64_t ldb;
  void* d;
  int64_t ldd;
  cudaDataType_t d_type;
  float alpha;
  float beta;        // 0: D = alpha*A*B (D's old contents ignored); 1: D += alpha*A*B
  const void* bias;  // bf16 (m), or nullptr
};

void lt_matmul(cuda_context& cx, const lt_problem& p);

}  // namespace kaito::detail
