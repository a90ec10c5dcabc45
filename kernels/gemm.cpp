// GEMM CPU twin (contract: kernels/gemm.h): our packed AVX-512 SGEMM (kernels/sgemm_avx512.h)
// on AVX-512 CPUs, else cblas_sgemm when KAITO_HAVE_BLAS, else plain loops with fp64 accumulators.
#include "kernels/gemm.h"

#include <algorithm>
#include <vector>

#include "base/check.h"
#include "kernels/sgemm_avx512.h"

#if KAITO_HAVE_BLAS
#include <cblas.h>
#endif

namespace kaito {

void sgemm_cpu(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
               const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
               int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K > 0 && sgemm_avx512_available()) {
    sgemm_avx512(trans_a, trans_b, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
#if KAITO_HAVE_BLAS
  if (K > 0 && M == 1) {
    // One row (decode): OpenBLAS 0.3.21's sgemm packs all of op(b) for it; sgemv streams it once
    // (2-3x faster at decode shapes). c(1,N) = alpha op(a)(1,K) op(b)(K,N) + beta c.
    const int inc_a = trans_a ? int(lda) : 1;
    cblas_sgemv(CblasRowMajor, trans_b ? CblasNoTrans : CblasTrans, trans_b ? int(N) : int(K),
                trans_b ? int(K) : int(N), alpha, b, int(ldb), a, inc_a, beta, c, 1);
    return;
  }
  if (K > 0) {
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, int(M), int(N), int(K), alpha, a, int(lda), b,
                int(ldb), beta, c, int(ldc));
    return;
  }
#endif
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0.0;
      for (int64_t k = 0; k < K; ++k) {
        float av = trans_a ? a[k * lda + i] : a[i * lda + k];  // op(a)[i,k]
        float bv = trans_b ? b[j * ldb + k] : b[k * ldb + j];  // op(b)[k,j]
        acc += double(av) * double(bv);
      }
      float& cij = c[i * ldc + j];
      cij = beta == 0.0f ? float(double(alpha) * acc)
                         : float(double(alpha) * acc + double(beta) * double(cij));
    }
  }
}

void gemm_forward_cpu(float* out, const float* inp, const float* weight, const float* bias,
                      int64_t N, int64_t C, int64_t OC) {
  float beta = 0.0f;
  if (bias) {
    for (int64_t n = 0; n < N; ++n) std::copy(bias, bias + OC, out + n * OC);  // out[n,:] = bias
    beta = 1.0f;
  }
  // out(N,OC) = inp(N,C) · weight(OC,C)ᵀ
  sgemm_cpu(false, true, N, OC, C, 1.0f, inp, C, weight, C, beta, out, OC);
}

void gemm_add_bias_cpu(float* out, const float* bias, int64_t N, int64_t OC) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < OC; ++o) out[n * OC + o] += bias[o];
}

namespace {
// Rows of a bf16 weight converted per panel: ~1 MiB of fp32 at a time.
int64_t panel_rows(int64_t C) {
  return std::max<int64_t>(1, (int64_t(1) << 18) / std::max<int64_t>(C, 1));
}
}  // namespace

void gemm_forward_bf16w_cpu(float* out, const float* inp, const bf16* weight, const float* bias,
                            int64_t N, int64_t C, int64_t OC) {
  int64_t P = panel_rows(C);
  std::vector<float> panel(size_t(std::min(P, OC) * C));
  for (int64_t o0 = 0; o0 < OC; o0 += P) {
    int64_t rows = std::min(P, OC - o0);
    bf16_to_f32_cpu(panel.data(), weight + o0 * C, rows * C);  // weight[o0:o0+rows, :]
    float beta = 0.0f;
    if (bias) {
      for (int64_t n = 0; n < N; ++n) std::copy(bias + o0, bias + o0 + rows, out + n * OC + o0);
      beta = 1.0f;
    }
    // out[:, o0:o0+rows] = inp · panelᵀ
    sgemm_cpu(false, true, N, rows, C, 1.0f, inp, C, panel.data(), C, beta, out + o0, OC);
  }
}

void gemm_backward_inp_cpu(float* dinp, const float* dout, const float* weight, int64_t N,
                           int64_t C, int64_t OC) {
  // dinp(N,C) = dout(N,OC) · weight(OC,C)
  sgemm_cpu(false, false, N, C, OC, 1.0f, dout, OC, weight, C, 0.0f, dinp, C);
}

void gemm_backward_inp_bf16w_cpu(float* dinp, const float* dout, const bf16* weight, int64_t N,
                                 int64_t C, int64_t OC) {
  if (OC == 0) {
    std::fill(dinp, dinp + N * C, 0.0f);
    return;
  }
  int64_t P = panel_rows(C);
  std::vector<float> panel(size_t(std::min(P, OC) * C));
  for (int64_t o0 = 0; o0 < OC; o0 += P) {
    int64_t rows = std::min(P, OC - o0);
    bf16_to_f32_cpu(panel.data(), weight + o0 * C, rows * C);
    // dinp (+)= dout[:, o0:o0+rows] · panel; the first panel overwrites
    sgemm_cpu(false, false, N, C, rows, 1.0f, dout + o0, OC, panel.data(), C, o0 == 0 ? 0.0f : 1.0f,
              dinp, C);
  }
}

void gemm_backward_weight_cpu(float* dweight, float* dbias, const float* dout, const float* inp,
                              int64_t N, int64_t C, int64_t OC) {
  // dweight(OC,C) += dout(N,OC)ᵀ · inp(N,C)
  sgemm_cpu(true, false, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f, dweight, C);
  if (dbias) {
    for (int64_t o = 0; o < OC; ++o) {
      double s = 0.0;
      for (int64_t n = 0; n < N; ++n) s += dout[n * OC + o];  // dout[n,o]
      dbias[o] += float(s);
    }
  }
}

}  // namespace kaito
