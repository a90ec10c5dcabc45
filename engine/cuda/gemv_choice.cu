// gemv_choice (contract: engine/cuda/gemv_choice.h): agreement check, then a timed pass over the
// model's quantized linears per decode GEMV kernel. A register_lut launch that fails in the
// agreement check (an error the context records, such as a launch the device refuses) leaves
// scaled_lut chosen instead of failing the generator; scaled_lut's own errors are returned.
#include "engine/cuda/gemv_choice.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <vector>

#include "engine/cuda/cuda_try.h"
#include "engine/cuda/device_buffer.h"
#include "engine/cuda/device_measure.h"
#include "kernels/dtype.h"

namespace kaito::gpu {

gemv_choice decide_gemv_kernel(double us_scaled, double us_register, double max_rel_diff) {
  gemv_choice c;
  c.measured = true;
  c.us[0] = us_scaled;
  c.us[1] = us_register;
  c.max_rel_diff = max_rel_diff;
  char line[200];
  if (!(max_rel_diff <= kGemvAgreement)) {  // (NaN disagrees too)
    std::snprintf(line, sizeof line,
                  "scaled_lut: register_lut disagrees with it (max rel diff %.3g > %.3g)",
                  max_rel_diff, kGemvAgreement);
  } else if (us_register < us_scaled) {
    c.kernel = nf4_gemv_kernel::register_lut;
    std::snprintf(line, sizeof line, "register_lut: %.1f us vs scaled_lut %.1f us per pass",
                  us_register, us_scaled);
  } else {
    std::snprintf(line, sizeof line, "scaled_lut: %.1f us vs register_lut %.1f us per pass",
                  us_scaled, us_register);
  }
  c.note = line;
  return c;
}

namespace {

void launch(cuda_context& cx, const gpu_model& m, const gpu_base_linear& w, bf16* out,
            const bf16* x, int64_t B, nf4_gemv_kernel k) {
  nf4_dq_gemv_cuda(cx, out, x, w.packed.as<uint8_t>(), w.qabsmax.as<uint8_t>(), m.code8.as<float>(),
                   w.nested_absmax.as<float>(), w.offset, B, w.C, w.OC, k);
}

bool usable(const gpu_base_linear& w) {
  return w.quantized() && w.C % 128 == 0;
}

}  // namespace

result<gemv_choice> choose_gemv_kernel(cuda_context& cx, const gpu_model& m, int64_t B) {
  if (B < 1 || B > 16) return invalid_argument("gemv choice: batch must be 1..16", "B");
  if (m.layers.empty()) {
    gemv_choice c;
    c.note = "scaled_lut: not measured (no layers)";
    return c;
  }
  int64_t max_c = 0, max_oc = 0;
  for (const gpu_layer& ly : m.layers) {
    for (int t = 0; t < kLoraTargets; ++t) {
      if (!usable(ly.base(t))) {
        gemv_choice c;
        c.note = "scaled_lut: not measured (a base linear is not NF4 with C % 128 == 0)";
        return c;
      }
      max_c = std::max(max_c, ly.base(t).C);
      max_oc = std::max(max_oc, ly.base(t).OC);
    }
  }

  // x: deterministic bf16 values in [-1, 1); two outputs.
  std::vector<bf16> xh(size_t(B * max_c));
  std::mt19937 rng(20261129u);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (bf16& v : xh) v = f32_to_bf16(u(rng));
  KAITO_ASSIGN_OR_RETURN(device_buffer x, device_buffer::alloc(xh.size() * 2, "gemv_choice.x"));
  KAITO_ASSIGN_OR_RETURN(device_buffer y0,
                         device_buffer::alloc(size_t(B * max_oc) * 2, "gemv_choice.y0"));
  KAITO_ASSIGN_OR_RETURN(device_buffer y1,
                         device_buffer::alloc(size_t(B * max_oc) * 2, "gemv_choice.y1"));
  GPU_TRY_CUDA(
      cudaMemcpyAsync(x.get(), xh.data(), xh.size() * 2, cudaMemcpyHostToDevice, cx.stream()));

  // Agreement on layer 0's linears.
  double diff = 0.0;
  for (int t = 0; t < kLoraTargets; ++t) {
    const gpu_base_linear& w = m.layers[0].base(t);
    launch(cx, m, w, y0.as<bf16>(), x.as<bf16>(), B, nf4_gemv_kernel::scaled_lut);
    KAITO_TRY(cx.synchronize());  // the kernel decode has always used: its errors are real ones
    launch(cx, m, w, y1.as<bf16>(), x.as<bf16>(), B, nf4_gemv_kernel::register_lut);
    if (status st = cx.synchronize(); !st.ok()) {  // e.g. a launch this device refuses
      gemv_choice c;
      c.note = "scaled_lut: register_lut failed (" + st.to_string() + ")";
      return c;
    }
    KAITO_ASSIGN_OR_RETURN(double e, bf16_max_rel_diff(y0.as<bf16>(), y1.as<bf16>(), B * w.OC));
    diff = std::max(diff, e);
  }

  // Timing: best of 3 passes over every layer after one warm-up pass, per kernel.
  double best[2];
  for (int k = 0; k < 2; ++k) {
    const auto kernel = k == 0 ? nf4_gemv_kernel::scaled_lut : nf4_gemv_kernel::register_lut;
    KAITO_ASSIGN_OR_RETURN(best[k], best_pass_us(cx, [&] {
                             for (const gpu_layer& ly : m.layers)
                               for (int t = 0; t < kLoraTargets; ++t)
                                 launch(cx, m, ly.base(t), y0.as<bf16>(), x.as<bf16>(), B, kernel);
                           }));
  }
  KAITO_TRY(cx.synchronize());
  return decide_gemv_kernel(best[0], best[1], diff);
}

}  // namespace kaito::gpu
