// Causal GQA attention CPU twin (contract: kernels/attention.h). Per (sequence, head): the score
// matrix and both products go through sgemm_cpu (OpenBLAS, the one exception to plain loops);
// masking, softmax and the softmax backward are plain loops. fp32 products with fp32 BLAS
// accumulation (as torch's eager matmuls), fp32 exponentials with fp64 softmax sums.
#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "base/check.h"
#include "kernels/gemm.h"
#include "kernels/parallel_for.h"
#include "kernels/vexp.h"

namespace kaito {

namespace {
// First key index a query at absolute position `pos` may attend to.
int64_t first_key(int64_t pos, int64_t window) {
  return window > 0 ? std::max<int64_t>(0, pos - window + 1) : 0;
}

void check_heads(int64_t NH, int64_t NKV) {
  KAITO_CHECK(NKV > 0 && NH % NKV == 0, "NH ", NH, " is not a multiple of NKV ", NKV);
}

// Shared forward: queries i in [0, Tq) sit at absolute positions i + (Tk - Tq) and attend keys
// j in [first_key(pos), pos] of a cache holding Tk valid tokens in rows of capacity Tcap.
void attention_forward_impl(float* out, float* lse, const float* q, const float* k, const float* v,
                            int64_t B, int64_t Tq, int64_t Tk, int64_t Tcap, int64_t NH,
                            int64_t NKV, int64_t HS, float scale, int64_t window) {
  check_heads(NH, NKV);
  KAITO_CHECK(Tq <= Tk && Tk <= Tcap, "attention needs Tq <= Tk <= Tcap: ", Tq, " ", Tk, " ", Tcap);
  const int64_t group = NH / NKV, offset = Tk - Tq;
  const int64_t ldq = NH * HS, ldk = NKV * HS;  // row strides of q/out and k/v
  // (sequence, head) pairs are independent: shared out over the kernel pool, each with its own
  // score buffer; the small products inside run on the thread that owns the pair.
  parallel_for(B * NH, 1, [&](int64_t p0, int64_t p1) {
    std::vector<float> P(static_cast<size_t>(Tq * Tk));  // scores, then probabilities (Tq, Tk)
    for (int64_t bh = p0; bh < p1; ++bh) {
      const int64_t b = bh / NH, h = bh % NH, g = h / group;
      const float* qb = q + (b * Tq * NH + h) * HS;     // q[b,0,h,:], rows ldq apart
      const float* kb = k + (b * Tcap * NKV + g) * HS;  // k[b,0,g,:], rows ldk apart
      const float* vb = v + (b * Tcap * NKV + g) * HS;
      float* ob = out + (b * Tq * NH + h) * HS;
      // P(Tq, Tk) = scale * q_h · k_gᵀ   (HF: matmul(q, kᵀ) * scaling)
      sgemm_cpu(false, true, Tq, Tk, HS, scale, qb, ldq, kb, ldk, 0.0f, P.data(), Tk);
      for (int64_t i = 0; i < Tq; ++i) {
        float* row = P.data() + i * Tk;  // scores of query i
        const int64_t pos = i + offset, j0 = first_key(pos, window);
        const float mx = max_cpu(row + j0, pos + 1 - j0);
        exp_shifted_cpu(row + j0, row + j0, mx, pos + 1 - j0);  // fp32, torch's fp32 softmax
        double sum = 0.0;                                       // fp64 sum
        for (int64_t j = j0; j <= pos; ++j) sum += row[j];
        if (lse) lse[(b * NH + h) * Tq + i] = float(double(mx) + std::log(sum));  // lse[b,h,i]
        const double inv = 1.0 / sum;
        for (int64_t j = 0; j < Tk; ++j)
          row[j] = (j >= j0 && j <= pos) ? float(double(row[j]) * inv) : 0.0f;
      }
      // out_h(Tq, HS) = P · v_g
      sgemm_cpu(false, false, Tq, HS, Tk, 1.0f, P.data(), Tk, vb, ldk, 0.0f, ob, ldq);
    }
  });
}
}  // namespace

void attention_forward_cpu(float* out, float* lse, const float* q, const float* k, const float* v,
                           int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t HS, float scale,
                           int64_t window) {
  attention_forward_impl(out, lse, q, k, v, B, T, T, T, NH, NKV, HS, scale, window);
}

void attention_forward_cached_cpu(float* out, float* lse, const float* q, const float* k_cache,
                                  const float* v_cache, int64_t B, int64_t Tq, int64_t Tk,
                                  int64_t Tcap, int64_t NH, int64_t NKV, int64_t HS, float scale,
                                  int64_t window) {
  attention_forward_impl(out, lse, q, k_cache, v_cache, B, Tq, Tk, Tcap, NH, NKV, HS, scale,
                         window);
}

void attention_backward_cpu(float* dq, float* dk, float* dv, const float* dout,
                            const float* /*out: the CPU twin forms D from p and dp*/,
                            const float* lse, const float* q, const float* k, const float* v,
                            int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t HS, float scale,
                            int64_t window) {
  check_heads(NH, NKV);
  const int64_t group = NH / NKV;
  const int64_t ldq = NH * HS, ldk = NKV * HS;
  // (sequence, kv head) groups are independent: dk_g / dv_g sum over the group's heads, which one
  // thread visits in order, so the sums do not depend on the thread count.
  parallel_for(B * NKV, 1, [&](int64_t g0, int64_t g1) {
    std::vector<float> P(static_cast<size_t>(T * T)), dS(static_cast<size_t>(T * T));
    for (int64_t bg = g0; bg < g1; ++bg) {
      const int64_t b = bg / NKV, g = bg % NKV;
      for (int64_t h = g * group; h < (g + 1) * group; ++h) {
        const size_t qoff = static_cast<size_t>((b * T * NH + h) * HS);
        const size_t koff = static_cast<size_t>((b * T * NKV + g) * HS);
        const float *qb = q + qoff, *gb = dout + qoff;
        const float *kb = k + koff, *vb = v + koff;
        // recompute p = exp(scale * q·k - lse) on the allowed keys, 0 elsewhere
        sgemm_cpu(false, true, T, T, HS, scale, qb, ldq, kb, ldk, 0.0f, P.data(), T);
        for (int64_t i = 0; i < T; ++i) {
          float* row = P.data() + i * T;
          const int64_t j0 = first_key(i, window);
          const float l = lse[(b * NH + h) * T + i];
          exp_shifted_cpu(row + j0, row + j0, l, i + 1 - j0);
          std::fill(row, row + j0, 0.0f);
          std::fill(row + i + 1, row + T, 0.0f);
        }
        // dp(T, T) = dout_h · v_gᵀ; ds = p * (dp - D_i) with D_i = sum_j p_j dp_j (torch's
        // softmax backward; equals dot(dout_i, out_i) in exact arithmetic, and cancels exactly
        // when a row has one key)
        sgemm_cpu(false, true, T, T, HS, 1.0f, gb, ldq, vb, ldk, 0.0f, dS.data(), T);
        for (int64_t i = 0; i < T; ++i) {
          float* ds = dS.data() + i * T;
          const float* p = P.data() + i * T;
          double D = 0.0;
          for (int64_t j = 0; j < T; ++j) D += double(p[j]) * double(ds[j]);
          for (int64_t j = 0; j < T; ++j) ds[j] = float(double(p[j]) * (double(ds[j]) - D));
        }
        // dq_h = scale * ds · k_g (=); the group's first head overwrites dk_g / dv_g, the rest add
        const float beta = (h % group == 0) ? 0.0f : 1.0f;
        sgemm_cpu(false, false, T, HS, T, scale, dS.data(), T, kb, ldk, 0.0f, dq + qoff, ldq);
        sgemm_cpu(true, false, T, HS, T, scale, dS.data(), T, qb, ldq, beta, dk + koff, ldk);
        sgemm_cpu(true, false, T, HS, T, 1.0f, P.data(), T, gb, ldq, beta, dv + koff, ldk);
      }
    }
  });
}

}  // namespace kaito
