// SwiGLU CPU twin (contract: kernels/swiglu.h). fp32 math in torch's order.
#include "kernels/swiglu.h"

#include <algorithm>
#include <cmath>

#include "kernels/parallel_for.h"
#include "kernels/vexp.h"

namespace kaito {

void swiglu_forward_cpu(float* out, const float* gate, const float* up, int64_t N, int64_t I,
                        int64_t ld) {
  parallel_for(N, parallel_grain(8 * I), [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      const float* g = gate + n * ld;  // gate[n,:]
      const float* u = up + n * ld;    // up[n,:]
      float* o = out + n * I;          // out[n,:]
      float e[256];                    // exp(-gate) of a stretch of the row
      for (int64_t i = 0; i < I; ++i) {
        if (i % 256 == 0) exp_negated_cpu(e, g + i, std::min<int64_t>(256, I - i));
        float silu = g[i] / (1.0f + e[i % 256]);
        o[i] = u[i] * silu;  // HF: up_states * act(gate)
      }
    }
  });
}

void swiglu_backward_cpu(float* dgate, float* dup, const float* dout, const float* gate,
                         const float* up, int64_t N, int64_t I, int64_t ld) {
  parallel_for(N, parallel_grain(12 * I), [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      const float* g = gate + n * ld;
      const float* u = up + n * ld;
      const float* d = dout + n * I;
      float* dg = dgate + n * ld;
      float* du = dup + n * ld;
      float e[256];  // exp(-gate) of a stretch of the row
      for (int64_t i = 0; i < I; ++i) {
        if (i % 256 == 0) exp_negated_cpu(e, g + i, std::min<int64_t>(256, I - i));
        float x = g[i];
        float sig = 1.0f / (1.0f + e[i % 256]);
        float silu = x * sig;
        float up_v = u[i];  // read before writing: dgate/dup may share rows with gate/up buffers
        dg[i] = d[i] * up_v * (sig * (1.0f + x * (1.0f - sig)));  // torch silu_backward
        du[i] = d[i] * silu;
      }
    }
  });
}

}  // namespace kaito
