// The GPU engine's tune job for `kaito tune --device cuda` and a worker's --task=tune on a CUDA
// slot: engine/cuda_hf/gpu_tune_job.h on a fresh CUDA context; and its server for `kaito serve
// --device cuda` and a worker's --task=serve on a CUDA slot (engine/cuda_hf/
// gpu_sequence_decoder.h). In a kaito built without nvcc they fail with failed_precondition
// naming `flag`.
#pragma once

#include <string>

#include "base/status.h"
#include "engine/chat_service.h"
#include "engine/tune_job.h"

namespace kaito::cli {

// Whether this kaito was built with the CUDA engine.
bool cuda_tuner_built();

result<engine::tune_summary> tune_on_cuda(const engine::tune_job& j,
                                          const engine::tune_progress& on_step,
                                          const std::string& flag = "--device");

// Answers on the GPU: bf16 base weights, or NF4 with double quantization when `nf4`.
engine::decoder_factory cuda_decoder_factory(bool nf4, const std::string& flag = "--device");

}  // namespace kaito::cli
