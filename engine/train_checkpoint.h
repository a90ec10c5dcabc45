// train_checkpoint: a training checkpoint folder, shared by the CPU trainer (engine/trainer.h) and
// the GPU one (engine/cuda_hf/gpu_tuner.h), so either resumes the other's run:
//   the PEFT adapter files (peft_adapter.h: adapter_config.json + adapter_model.safetensors), and
//   trainer_state.safetensors: exp_avg.<peft name> and exp_avg_sq.<peft name> (torch AdamW's
//   moments, F32, the shape of the weight) for every A and B, and in __metadata__ "step" (optimizer
//   steps done), "micro_index" (micro-batches consumed, all ranks together) and "seed".
//
// Thread-safety: free functions over values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "engine/lora_adapter.h"
#include "engine/model_config.h"

namespace kaito::engine {

struct train_state {
  lora_adapter adapter;  // the weights (A, B); gradients are not saved
  // By module i of the adapter: [2 * i] its A's, [2 * i + 1] its B's (same sizes).
  std::vector<std::vector<float>> exp_avg, exp_avg_sq;
  int64_t step = 0, micro_index = 0;
  uint64_t seed = 0;
};

// Writes the folder (creating it). invalid_argument when the moments do not match the modules.
status save_train_checkpoint(const std::string& dir, const train_state& s);

// Reads a folder made for a model with config `c` whose adapter must have exactly the modules and
// ranks of `like` (failed_precondition naming the first module that differs) and the seed `seed`
// (failed_precondition naming "seed"); not_found / invalid_argument naming the file and tensor or
// metadata key for a missing or malformed part.
result<train_state> load_train_checkpoint(const std::string& dir, const model_config& c,
                                          const lora_adapter& like, uint64_t seed);

}  // namespace kaito::engine
