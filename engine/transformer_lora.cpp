// LoRA branches on the fused base projections: slices of a (N, ld) output go through contiguous
// scratch because kernels/lora.h works on (N, OUT) contiguous tensors.
#include <cstring>

#include "engine/transformer.h"
#include "kernels/lora.h"
#include "kernels/rng.h"

namespace kaito::engine {

void lora_site_forward(const lora_adapter& a, int64_t layer, lora_site site, const float* x,
                       int64_t N, float* y, int64_t ld, const forward_options& opt,
                       std::vector<lora_acts>& acts) {
  const float p = opt.training ? static_cast<float>(a.config.dropout) : 0.0f;
  std::vector<float> tmp;
  for (size_t i = 0; i < a.modules.size(); ++i) {
    const lora_module& m = a.modules[i];
    if (m.layer != layer || m.site != site) continue;
    lora_acts& la = acts[i];
    la.seed = rng_derive(opt.dropout_seed, i);
    la.p = p;
    la.xd.resize(static_cast<size_t>(N * m.in));
    la.z.resize(static_cast<size_t>(N * m.r));
    if (m.row_offset == 0 && m.out == ld) {
      lora_forward_cpu(y, la.xd.data(), la.z.data(), x, m.A.data(), m.B.data(), N, m.in, m.r, m.out,
                       m.scale, p, la.seed);
      continue;
    }
    tmp.assign(static_cast<size_t>(N * m.out), 0.0f);
    lora_forward_cpu(tmp.data(), la.xd.data(), la.z.data(), x, m.A.data(), m.B.data(), N, m.in, m.r,
                     m.out, m.scale, p, la.seed);
    // seek to y[n, row_offset:]
    for (int64_t n = 0; n < N; ++n) {
      float* dst = y + n * ld + m.row_offset;
      const float* src = tmp.data() + n * m.out;
      for (int64_t o = 0; o < m.out; ++o) dst[o] += src[o];
    }
  }
}

void lora_site_backward(lora_adapter& a, int64_t layer, lora_site site, const float* dy, int64_t N,
                        int64_t ld, float* dx, const std::vector<lora_acts>& acts) {
  std::vector<float> slice, dz;
  for (size_t i = 0; i < a.modules.size(); ++i) {
    lora_module& m = a.modules[i];
    if (m.layer != layer || m.site != site) continue;
    const lora_acts& la = acts[i];
    dz.assign(static_cast<size_t>(N * m.r), 0.0f);
    const float* dys = dy;
    if (!(m.row_offset == 0 && m.out == ld)) {
      slice.resize(static_cast<size_t>(N * m.out));
      for (int64_t n = 0; n < N; ++n)
        std::memcpy(slice.data() + n * m.out, dy + n * ld + m.row_offset,
                    static_cast<size_t>(m.out) * sizeof(float));
      dys = slice.data();
    }
    lora_backward_cpu(dx, m.dA.data(), m.dB.data(), dz.data(), dys, la.xd.data(), la.z.data(),
                      m.A.data(), m.B.data(), N, m.in, m.r, m.out, m.scale, la.p, la.seed);
  }
}

}  // namespace kaito::engine
