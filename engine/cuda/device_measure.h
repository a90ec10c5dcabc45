// device_measure: the two halves of a measured choice between kernels (engine/cuda/gemv_choice.h,
// gemm_choice.h): how far two bf16 results on the device are apart, and how long a pass of
// enqueued work takes.
// Thread-safety: one thread per cx.
#pragma once

#include <cstdint>
#include <functional>

#include "base/status.h"
#include "kernels/cuda/cuda_context.h"
#include "kernels/dtype.h"

namespace kaito::gpu {

// max |a - b| / max |a| over n bf16 values on the device (max |a - b| when a is all zero; NaN
// counts as infinitely far). Copies both to the host; call after the work that wrote them.
result<double> bf16_max_rel_diff(const bf16* a_dev, const bf16* b_dev, int64_t n);

// The time of one call of `pass` (which enqueues work on cx.stream()) in microseconds: CUDA events
// around each of 1 + `reps` calls, the best of the last `reps` (the first warms up). Errors: CUDA
// failures of the events; the pass's own failures are the caller's to collect (cx.synchronize()).
result<double> best_pass_us(cuda_context& cx, const std::function<void()>& pass, int reps = 3);

}  // namespace kaito::gpu
