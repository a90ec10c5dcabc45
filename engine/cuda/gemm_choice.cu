// gemm_choice (contract: engine/cuda/gemm_choice.h): per direction, an agreement check and a timed
// pass over layer 0's NF4 linears for each path, remembered per (device, rows measured, shapes).
#include "engine/cuda/gemm_choice.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <vector>

#include "engine/cuda/cuda_try.h"
#include "engine/cuda/device_buffer.h"
#include "engine/cuda/device_measure.h"
#include "kernels/dtype.h"
#include "kernels/nf4.h"

namespace kaito::gpu {

nf4_gemm_direction decide_nf4_gemm(int linears, double us_dequant, double us_fused,
                                   double max_rel_diff) {
  nf4_gemm_direction d;
  d.linears = linears;
  if (linears <= 0) {
    d.note = "dequantize: not measured (no NF4 linear the fused kernel takes)";
    return d;
  }
  d.measured = true;
  d.us[0] = us_dequant;
  d.us[1] = us_fused;
  d.max_rel_diff = max_rel_diff;
  char line[200];
  if (!(max_rel_diff <= kGemmAgreement)) {  // (NaN disagrees too)
    std::snprintf(line, sizeof line,
                  "dequantize: fused disagrees with it (max rel diff %.3g > %.3g)", max_rel_diff,
                  kGemmAgreement);
  } else if (us_fused < us_dequant) {
    d.fused = true;
    std::snprintf(line, sizeof line, "fused: %.1f us vs dequantize %.1f us per layer", us_fused,
                  us_dequant);
  } else {
    std::snprintf(line, sizeof line, "dequantize: %.1f us vs fused %.1f us per layer", us_dequant,
                  us_fused);
  }
  d.note = line;
  return d;
}

std::string gemm_choice::note() const {
  return "forward: " + forward.note + "; backward_inp: " + backward_inp.note +
         (remembered ? " (remembered)" : "");
}

namespace {

// What a measurement depends on: the device, the rows and layer 0's linears.
std::string choice_key(const cuda_context& cx, const gpu_model& m, int64_t N) {
  std::string k = std::to_string(cx.device()) + "/" + std::to_string(N);
  for (int t = 0; t < kLoraTargets; ++t) {
    const gpu_base_linear& w = m.layers[0].base(t);
    k += "/" + std::to_string(w.C) + "x" + std::to_string(w.OC) + (w.quantized() ? "q" : "d");
  }
  return k;
}

std::mutex g_mu;
std::map<std::string, gemm_choice>& remembered() {
  static std::map<std::string, gemm_choice> m;
  return m;
}

// One direction's base product through linear t of layer 0: y = x · Wᵀ (forward, x (N, C)) or
// y = x · W (backward_inp, x (N, OC)).
void product(cuda_context& cx, const gpu_model& m, int t, bool backward, bool fused, bf16* y,
             const bf16* x, int64_t N) {
  const gpu_base_linear& w = m.layers[0].base(t);
  if (backward)
    base_linear_backward_inp_via(cx, m, w, y, x, N, fused);
  else
    base_linear_forward_via(cx, m, w, y, x, N, fused);
}

struct buffers {
  device_buffer x, y0, y1;
};

// One direction: which linears the fused kernel takes, their agreement at n0 rows (y1 holds n0
// rows), then one timed pass per path over every NF4 linear at N rows.
result<nf4_gemm_direction> measure(cuda_context& cx, const gpu_model& m, bool backward, buffers& b,
                                   int64_t N) {
  const bf16* x = b.x.as<bf16>();
  bf16 *y0 = b.y0.as<bf16>(), *y1 = b.y1.as<bf16>();
  // Only alignment is checked of absmax: any 256-byte aligned pointer stands for the scratch.
  const float* absmax_like = b.y1.as<float>();
  std::vector<int> nf4, taken;
  for (int t = 0; t < kLoraTargets; ++t) {
    const gpu_base_linear& w = m.layers[0].base(t);
    if (!w.quantized()) continue;
    nf4.push_back(t);
    const uint8_t* packed = w.packed.as<uint8_t>();
    const status ok =
        backward ? nf4_gemm_mma_backward_inp_check(y0, x, packed, absmax_like, N, w.C, w.OC)
                 : nf4_gemm_mma_forward_check(y0, x, packed, absmax_like, N, w.C, w.OC);
    if (ok.ok()) taken.push_back(t);
  }
  if (taken.empty()) return decide_nf4_gemm(0, 0.0, 0.0, 0.0);

  // Agreement at n0 rows: dequantize (whose errors are real ones), then fused.
  const int64_t n0 = std::min<int64_t>(N, 64);
  double diff = 0.0;
  for (int t : taken) {
    const gpu_base_linear& w = m.layers[0].base(t);
    const int64_t out_cols = backward ? w.C : w.OC;
    product(cx, m, t, backward, false, y0, x, n0);
    KAITO_TRY(cx.synchronize());
    product(cx, m, t, backward, true, y1, x, n0);
    if (status st = cx.synchronize(); !st.ok()) {
      nf4_gemm_direction d = decide_nf4_gemm(0, 0.0, 0.0, 0.0);
      d.linears = int(taken.size());
      d.note = "dequantize: the fused kernel failed (" + st.to_string() + ")";
      return d;
    }
    KAITO_ASSIGN_OR_RETURN(double e, bf16_max_rel_diff(y0, y1, n0 * out_cols));
    diff = std::max(diff, e);
  }

  // Timing: best of 3 passes after a warm-up pass, per path.
  double best[2];
  for (int path = 0; path < 2; ++path) {
    KAITO_ASSIGN_OR_RETURN(best[path], best_pass_us(cx, [&] {
                             for (int t : nf4) product(cx, m, t, backward, path == 1, y0, x, N);
                           }));
  }
  KAITO_TRY(cx.synchronize());
  return decide_nf4_gemm(int(taken.size()), best[0], best[1], diff);
}

}  // namespace

result<gemm_choice> choose_nf4_gemm(cuda_context& cx, const gpu_model& m, int64_t N) {
  if (N < 1) return invalid_argument("nf4 gemm choice: N must be positive", "N");
  gemm_choice c;
  if (m.layers.empty()) {
    c.forward = c.backward_inp = decide_nf4_gemm(0, 0.0, 0.0, 0.0);
    return c;
  }
  const int64_t rows = std::min(N, kGemmChoiceMaxRows);
  const std::string key = choice_key(cx, m, rows);
  {
    std::lock_guard<std::mutex> lock(g_mu);
    if (auto it = remembered().find(key); it != remembered().end()) {
      c = it->second;
      c.remembered = true;
      return c;
    }
  }
  int64_t width = 0;
  for (int t = 0; t < kLoraTargets; ++t) {
    const gpu_base_linear& w = m.layers[0].base(t);
    if (w.quantized()) width = std::max({width, w.C, w.OC});
  }
  if (width > 0) {
    // x: deterministic bf16 values in [-1, 1): 64 rows drawn, then copied down to N rows.
    const int64_t n0 = std::min<int64_t>(rows, 64);
    const size_t bytes = size_t(rows * width) * 2;
    buffers b;
    KAITO_ASSIGN_OR_RETURN(b.x, device_buffer::alloc(bytes, "gemm_choice.x"));
    KAITO_ASSIGN_OR_RETURN(b.y0, device_buffer::alloc(bytes, "gemm_choice.y0"));
    KAITO_ASSIGN_OR_RETURN(b.y1, device_buffer::alloc(size_t(n0 * width) * 2, "gemm_choice.y1"));
    std::vector<bf16> xh(size_t(n0 * width));
    std::mt19937 rng(20261129u);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (bf16& v : xh) v = f32_to_bf16(u(rng));
    GPU_TRY_CUDA(cudaMemcpy(b.x.get(), xh.data(), xh.size() * 2, cudaMemcpyHostToDevice));
    for (int64_t r = n0; r < rows; r += n0) {
      const int64_t n = std::min(n0, rows - r);
      GPU_TRY_CUDA(cudaMemcpy(b.x.as<bf16>() + r * width, b.x.get(), size_t(n * width) * 2,
                              cudaMemcpyDeviceToDevice));
    }
    // The products read x as (N, C) or (N, OC) row-major: any prefix of the buffer is valid input.
    KAITO_ASSIGN_OR_RETURN(c.forward, measure(cx, m, /*backward=*/false, b, rows));
    KAITO_ASSIGN_OR_RETURN(c.backward_inp, measure(cx, m, /*backward=*/true, b, rows));
  } else {
    c.forward = c.backward_inp = decide_nf4_gemm(0, 0.0, 0.0, 0.0);
  }
  std::lock_guard<std::mutex> lock(g_mu);
  remembered()[key] = c;
  return c;
}

}  // namespace kaito::gpu
