// NF4-weight linear layers, CPU twin (contract: kernels/nf4_gemm.h).
#include "kernels/nf4_gemm.h"

#include <algorithm>
#include <vector>

#include "kernels/gemm.h"
#include "kernels/nf4.h"

namespace kaito {

namespace {
int64_t panel_rows(int64_t C) {
  return std::max<int64_t>(1, (int64_t(1) << 18) / std::max<int64_t>(C, 1));
}

// Dequantizes weight rows [o0, o0 + rows) into panel (rows, C): elements e = o*C + c of the
// flattened weight, nibble and block chosen by the global index e (blocks may span rows).
void dequantize_rows(float* panel, const uint8_t* packed, const float* absmax, int64_t o0,
                     int64_t rows, int64_t C) {
  const int64_t e0 = o0 * C, e1 = (o0 + rows) * C;
  for (int64_t e = e0; e < e1; ++e) {
    uint8_t byte = packed[e / 2];
    uint8_t q = (e % 2 == 0) ? uint8_t(byte >> 4) : uint8_t(byte & 0x0f);
    panel[e - e0] = nf4_code[q] * absmax[e / nf4_block_size];
  }
}
}  // namespace

void nf4_gemm_forward_cpu(float* out, const float* inp, const uint8_t* packed, const float* absmax,
                          const float* bias, int64_t N, int64_t C, int64_t OC) {
  const int64_t P = panel_rows(C);
  std::vector<float> panel(static_cast<size_t>(std::min(P, OC) * C));
  for (int64_t o0 = 0; o0 < OC; o0 += P) {
    const int64_t rows = std::min(P, OC - o0);
    dequantize_rows(panel.data(), packed, absmax, o0, rows, C);
    float beta = 0.0f;
    if (bias) {
      for (int64_t n = 0; n < N; ++n) std::copy(bias + o0, bias + o0 + rows, out + n * OC + o0);
      beta = 1.0f;
    }
    // out[:, o0:o0+rows] (+)= inp(N,C) · panel(rows,C)ᵀ
    sgemm_cpu(false, true, N, rows, C, 1.0f, inp, C, panel.data(), C, beta, out + o0, OC);
  }
}

void nf4_gemm_backward_inp_cpu(float* dinp, const float* dout, const uint8_t* packed,
                               const float* absmax, int64_t N, int64_t C, int64_t OC) {
  if (OC == 0) {
    std::fill(dinp, dinp + N * C, 0.0f);
    return;
  }
  const int64_t P = panel_rows(C);
  std::vector<float> panel(static_cast<size_t>(std::min(P, OC) * C));
  for (int64_t o0 = 0; o0 < OC; o0 += P) {
    const int64_t rows = std::min(P, OC - o0);
    dequantize_rows(panel.data(), packed, absmax, o0, rows, C);
    // dinp (+)= dout[:, o0:o0+rows] · panel; the first panel overwrites
    sgemm_cpu(false, false, N, C, rows, 1.0f, dout + o0, OC, panel.data(), C, o0 == 0 ? 0.0f : 1.0f,
              dinp, C);
  }
}

}  // namespace kaito
