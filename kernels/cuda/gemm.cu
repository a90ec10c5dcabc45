// Linear-layer GEMMs on the GPU through cuBLASLt; contract and CPU twin: kernels/gemm.{h,cpp}.
// bf16 A/B, fp32 accumulation (CUBLAS_COMPUTE_32F). cuBLAS is column-major, so a row-major (R, K)
// matrix is a column-major (K, R) one: every call below computes the transposed product.
//   forward   out(N,OC)   : col-major (OC x N) = W^T-stored(C x OC)^T * inp^T(C x N)   m=OC n=N k=C
//   dinp      dinp(N,C)   : col-major (C x N)  = W(C x OC) * dout^T(OC x N)            m=C  n=N
//   k=OC dweight   dW(OC,C) += : col-major (C x OC) = inp^T(C x N) * dout(N x OC)            m=C
//   n=OC k=N
// The algorithm for each problem is picked once by the heuristic and cached in the context.
#include <cuda_bf16.h>

#include <algorithm>
#include <string>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/lt_matmul.h"
#include "kernels/gemm.h"

namespace kaito {
namespace {

// dbias[o] += sum_n dout[n, o]; block (64, 4) over 64 columns, all rows.
__global__ void gemm_dbias_kernel(float* dbias, const __nv_bfloat16* dout, int64_t N, int OC) {
  __shared__ float acc[4][64];
  const int o = blockIdx.x * 64 + threadIdx.x;
  float s = 0.0f;
  if (o < OC) {
    for (int64_t n = threadIdx.y; n < N; n += 4) s += __bfloat162float(dout[n * OC + o]);
  }
  acc[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && o < OC)
    dbias[o] +=
        acc[0][threadIdx.x] + acc[1][threadIdx.x] + acc[2][threadIdx.x] + acc[3][threadIdx.x];
}

// out[n, o] = bf16(out[n, o] + bias[o]), grid-stride over N * OC.
__global__ void add_bias_kernel(__nv_bfloat16* out, const __nv_bfloat16* bias, int64_t N, int OC) {
  const int64_t n = N * OC;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n;
       e += int64_t(gridDim.x) * blockDim.x)
    out[e] = __float2bfloat16_rn(__bfloat162float(out[e]) + __bfloat162float(bias[e % OC]));
}

// Largest power of two <= 256 dividing the address (cuBLASLt's alignment preference).
uint32_t pointer_alignment(const void* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  uint32_t al = 256;
  while (al > 1 && (a % al) != 0) al >>= 1;
  return al;
}

// Owns the cuBLASLt descriptors of one call.
struct lt_descriptors {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  ~lt_descriptors() {
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (d) cublasLtMatrixLayoutDestroy(d);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

}  // namespace

namespace detail {

void lt_matmul(cuda_context& cx, const lt_problem& p) {
  lt_descriptors ds;
  const cublasOperation_t ta = p.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t tb = p.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  CUBLAS_CHECK(cublasLtMatmulDescCreate(&ds.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(ds.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
  CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(ds.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
  if (p.bias != nullptr) {
    const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
    CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(ds.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(ds.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &p.bias,
                                                sizeof(p.bias)));
  }
  // Stored (pre-op) shapes of A and B; D is m x n.
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&ds.a, CUDA_R_16BF, p.trans_a ? p.k : p.m,
                                          p.trans_a ? p.m : p.k, p.lda));
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&ds.b, CUDA_R_16BF, p.trans_b ? p.n : p.k,
                                          p.trans_b ? p.k : p.n, p.ldb));
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&ds.d, p.d_type, p.m, p.n, p.ldd));

  const uint32_t al_a = pointer_alignment(p.a), al_b = pointer_alignment(p.b),
                 al_d = pointer_alignment(p.d);
  const std::string key =
      std::to_string(p.trans_a) + std::to_string(p.trans_b) + ":" + std::to_string(p.m) + "," +
      std::to_string(p.n) + "," + std::to_string(p.k) + ":" + std::to_string(p.lda) + "," +
      std::to_string(p.ldb) + "," + std::to_string(p.ldd) + ":" + std::to_string(int(p.d_type)) +
      (p.bias ? "b" : "") + (p.beta != 0.0f ? "+" : "") + ":" + std::to_string(al_a) + "," +
      std::to_string(al_b) + "," + std::to_string(al_d);
  auto& cache = cx.gemm_algo_cache();
  auto it = cache.find(key);
  if (it == cache.end()) {
    CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&ds.pref));
    const size_t ws = cx.cublas_workspace_bytes();
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
        ds.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
        ds.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a, sizeof(al_a)));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
        ds.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b, sizeof(al_b)));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
        ds.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_d, sizeof(al_d)));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
        ds.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_d, sizeof(al_d)));
    cublasLtMatmulHeuristicResult_t heur{};
    int found = 0;
    CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(cx.cublaslt(), ds.op, ds.a, ds.b, ds.d, ds.d,
                                                ds.pref, 1, &heur, &found));
    if (found == 0) {
      cx.record_error(status(status_code::unimplemented,
                             "cuBLASLt has no algorithm for GEMM " + key, "gemm.cu"));
      return;
    }
    it = cache.emplace(key, heur.algo).first;
  }
  CUBLAS_CHECK(cublasLtMatmul(cx.cublaslt(), ds.op, &p.alpha, p.a, ds.a, p.b, ds.b, &p.beta, p.d,
                              ds.d, p.d, ds.d, &it->second, cx.cublas_workspace(),
                              cx.cublas_workspace_bytes(), cx.stream()));
}

}  // namespace detail

// launchers

void gemm_forward_cuda(cuda_context& cx, bf16* out, const bf16* inp, const bf16* weight,
                       const bf16* bias, int64_t N, int64_t C, int64_t OC) {
  KAITO_CHECK(N >= 0 && C > 0 && OC > 0, "gemm_forward_cuda: bad shape N=", N, " C=", C,
              " OC=", OC);
  if (N == 0) return;
  detail::lt_matmul(
      cx, {true, false, OC, N, C, weight, C, inp, C, out, OC, CUDA_R_16BF, 1.0f, 0.0f, bias});
  CUDA_CHECK(cudaGetLastError());
}

void gemm_backward_inp_cuda(cuda_context& cx, bf16* dinp, const bf16* dout, const bf16* weight,
                            int64_t N, int64_t C, int64_t OC) {
  KAITO_CHECK(N >= 0 && C > 0 && OC > 0, "gemm_backward_inp_cuda: bad shape N=", N, " C=", C,
              " OC=", OC);
  if (N == 0) return;
  detail::lt_matmul(
      cx, {false, false, C, N, OC, weight, C, dout, OC, dinp, C, CUDA_R_16BF, 1.0f, 0.0f, nullptr});
  CUDA_CHECK(cudaGetLastError());
}

void gemm_backward_weight_cuda(cuda_context& cx, float* dweight, float* dbias, const bf16* dout,
                               const bf16* inp, int64_t N, int64_t C, int64_t OC) {
  KAITO_CHECK(N >= 0 && C > 0 && OC > 0 && OC <= INT32_MAX,
              "gemm_backward_weight_cuda: bad shape N=", N, " C=", C, " OC=", OC);
  if (N == 0) return;
  detail::lt_matmul(
      cx, {false, true, C, OC, N, inp, C, dout, OC, dweight, C, CUDA_R_32F, 1.0f, 1.0f, nullptr});
  CUDA_CHECK(cudaGetLastError());
  if (dbias != nullptr) {
    KAITO_LAUNCH(unsigned(ceil_div<int64_t>(OC, 64)), dim3(64, 4), 0, cx.stream(),
                 gemm_dbias_kernel)
    (dbias, as_nv(dout), N, int(OC));
    CUDA_CHECK(cudaGetLastError());
  }
}

void gemm_add_bias_cuda(cuda_context& cx, bf16* out, const bf16* bias, int64_t N, int64_t OC) {
  KAITO_CHECK(N >= 0 && OC > 0 && OC <= INT32_MAX, "gemm_add_bias_cuda: bad shape N=", N,
              " OC=", OC);
  if (N == 0) return;
  const int64_t blocks = std::min<int64_t>(ceil_div<int64_t>(N * OC, 256), int64_t(1) << 16);
  KAITO_LAUNCH(unsigned(blocks), 256, 0, cx.stream(), add_bias_kernel)
  (as_nv(out), as_nv(bias), N, int(OC));
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace kaito
