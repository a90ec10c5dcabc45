// The GPU engine's tune job for `kaito tune --device cuda` and a worker's --task=tune on a CUDA
// slot: engine/cuda_hf/gpu_tune_job.h on a fresh CUDA context. In a kaito built without nvcc it
// fails with failed_precondition naming `flag`.
#pragma once

#include <string>

#include "base/status.h"
#include "engine/tune_job.h"

namespace kaito::cli {

// Whether this kaito was built with the CUDA engine.
bool cuda_tuner_built();

result<engine::tune_summary> tune_on_cuda(const engine::tune_job& j,
                                          const engine::tune_progress& on_step,
                                          const std::string& flag = "--device");

}  // namespace kaito::cli
