// LoRA branches on the fused base projections: a module on a slice of a (N, ld) output (q/k/v,
// gate/up) reads and adds its rows in place through the strided LoRA twins.

#include "engine/transformer.h"
#include "kernels/lora.h"
#include "kernels/rng.h"

namespace kaito::engine {

void lora_site_forward(const lora_adapter& a, int64_t layer, lora_site site, const float* x,
                       int64_t N, float* y, int64_t ld, const forward_options& opt,
                       std::vector<lora_acts>& acts) {
  const float p = opt.training ? static_cast<float>(a.config.dropout) : 0.0f;
  for (size_t i = 0; i < a.modules.size(); ++i) {
    const lora_module& m = a.modules[i];
    if (m.layer != layer || m.site != site) continue;
    lora_acts& la = acts[i];
    la.seed = rng_derive(opt.dropout_seed, i);
    la.p = p;
    // Without dropout xd would equal x: nothing is saved and backward reads the site's input.
    if (p > 0.0f)
      la.xd.resize(static_cast<size_t>(N * m.in));
    else
      la.xd.clear();
    la.z.resize(static_cast<size_t>(N * m.r));
    // y[:, row_offset : row_offset + out] += the module's output, straight into the fused rows
    lora_forward_strided_cpu(y + m.row_offset, ld, la.xd.empty() ? nullptr : la.xd.data(),
                             la.z.data(), x, m.A.data(), m.B.data(), N, m.in, m.r, m.out, m.scale,
                             p, la.seed);
  }
}

void lora_site_backward(lora_adapter& a, int64_t layer, lora_site site, const float* x,
                        const float* dy, int64_t N, int64_t ld, float* dx,
                        const std::vector<lora_acts>& acts) {
  std::vector<float> dz;
  for (size_t i = 0; i < a.modules.size(); ++i) {
    lora_module& m = a.modules[i];
    if (m.layer != layer || m.site != site) continue;
    const lora_acts& la = acts[i];
    dz.resize(static_cast<size_t>(N * m.r));
    lora_backward_strided_cpu(dx, m.dA.data(), m.dB.data(), dz.data(), dy + m.row_offset, ld,
                              la.xd.empty() ? x : la.xd.data(), la.z.data(), m.A.data(), m.B.data(),
                              N, m.in, m.r, m.out, m.scale, la.p, la.seed);
  }
}

}  // namespace kaito::engine
