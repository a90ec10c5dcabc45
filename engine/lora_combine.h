// lora_combine: several PEFT adapters, each at its strength, as ONE adapter on every decoder
// linear with one rank and scale, for an engine that applies a single unmerged LoRA of uniform
// rank (the GPU model, engine/cuda/gpu_model.h) where the CPU engine merges each adapter into the
// base (lora_merge.h). Exact: on each linear the modules' terms are summed,
//   sum_i w_i * s_i * B_i A_i  =  B A  with  A = [A_1; A_2; ...; 0],  B = [w_1 s_1 B_1, ...; 0],
// rank R = the largest sum of the adapters' ranks on one linear (zero rows and columns pad the
// rest), scale 1 (alpha = R, no rslora). A linear no adapter targets gets zero A and B (no
// effect). rank_pattern / alpha_pattern / use_rslora are folded into each module's s_i.
// With no adapters the result has R = 1 and zeros everywhere.
// Errors: invalid_argument naming "strengths" (one per adapter in [0, 1], or none: all 1) or a
// module whose sizes do not fit the model.
#pragma once

#include <vector>

#include "base/status.h"
#include "engine/lora_adapter.h"
#include "engine/model_config.h"

namespace kaito::engine {

result<lora_adapter> lora_combine(const model_config& c, const std::vector<lora_adapter>& adapters,
                                  const std::vector<float>& strengths);

}  // namespace kaito::engine
