// gemv_choice: which fused NF4 decode GEMV (kernels/nf4.h nf4_gemv_kernel) a model's decode steps
// use, decided by measurement on the device they run on (issue #6: "decide by measurement").
//
// choose_gemv_kernel(cx, m, B) first checks that the two kernels agree on every quantized linear
// of layer 0 (same deterministic x; max |a - b| / max |a| <= kGemvAgreement), then times one pass
// over every layer's quantized linears at batch B per kernel (CUDA events; the weights stream from
// HBM as in a decode step; best of 3 passes after a warm-up pass) and keeps the faster. A kernel
// that disagrees is never chosen: scaled_lut (whose values are exactly nf4_dequantize's) stays.
// About 10 ms on Phi-3-mini; runs once, in gpu_generator::create, outside any graph capture.
// Errors: CUDA failures come back as the status (nothing is chosen then), except a failed
// register_lut launch in the agreement check, which leaves scaled_lut chosen (said in `note`).
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"
#include "engine/cuda/gpu_model.h"
#include "kernels/nf4.h"

namespace kaito::gpu {

inline constexpr double kGemvAgreement = 2e-2;

struct gemv_choice {
  nf4_gemv_kernel kernel = nf4_gemv_kernel::scaled_lut;
  bool measured = false;      // false: nothing to measure (no quantized linear, C % 128 != 0)
  double us[2] = {0.0, 0.0};  // one pass over all layers, [scaled_lut, register_lut]
  double max_rel_diff = 0.0;  // register_lut vs scaled_lut on layer 0
  std::string note;           // one line for logs and bench reports
};

// The decision from the measurements (host logic, unit-tested without a GPU).
gemv_choice decide_gemv_kernel(double us_scaled, double us_register, double max_rel_diff);

// Measures on cx's device at batch B (1..16).
result<gemv_choice> choose_gemv_kernel(cuda_context& cx, const gpu_model& m, int64_t B);

}  // namespace kaito::gpu
