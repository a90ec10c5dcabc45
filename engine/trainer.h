// trainer: LoRA fine-tuning of a frozen (fp32 or NF4) base model on token sequences, as HF
// Trainer + PEFT do it: micro-batches, gradient accumulation, global-norm clipping, torch AdamW and
// an HF learning-rate schedule, with checkpoints that resume bit-exactly.
//
// One optimizer step = grad_accum micro-batches of micro_batch_size examples each; which examples
// a micro-batch holds, and its right-padding (token 0, label -100: causal attention, so the
// padding never influences real tokens), is engine/train_batches.h's (a per-epoch permutation
// drawn from the seed). The loss of a step is the mean cross-entropy over every supervised token
// of its micro-batches (HF's num_items_in_batch normalisation), so accumulation does not change
// the gradient. Dropout masks come from (seed, micro-batch index). All randomness is
// counter-based (kernels/rng.h), so the state is (adapter weights, AdamW moments, step,
// micro-batch index) and resume is bit-exact.
//
// Data parallel: with an all_reducer of world W (set_all_reducer), W trainers built from the same
// model, adapter initialisation, data and config each run one rank. An optimizer step then covers
// W * grad_accum micro-batches: rank r takes global micro-batches micro_index + k*W + r, the
// supervised-token count, loss and LoRA gradients are summed across ranks (one all-reduce of one
// flat bucket), and every rank applies the identical update. The result equals one process with
// grad_accum * W up to float summation order; checkpoints resume with the same W.
//
// Thread-safety: one thread drives a trainer. The model is shared read-only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "engine/all_reduce.h"
#include "engine/lora_adapter.h"
#include "engine/model_weights.h"
#include "engine/train_batches.h"
#include "kernels/adamw.h"
#include "kernels/lr_schedule.h"

namespace kaito::engine {

struct train_config {
  int64_t micro_batch_size = 1;  // sequences per micro-batch
  int64_t grad_accum = 1;        // micro-batches per optimizer step
  int64_t total_steps = 1;       // optimizer steps (for the schedule)
  adamw_params adamw;            // adamw.lr is ignored: the schedule gives the rate
  lr_schedule schedule;          // base_lr, kind, warmup_steps, total_steps
  double max_grad_norm = 0.0;    // 0 = no clipping
  uint64_t seed = 0;
};

struct step_info {
  int64_t step = 0;        // optimizer steps done, after this one
  double loss = 0.0;       // mean over the step's supervised tokens
  double lr = 0.0;         // rate used by this step
  double grad_norm = 0.0;  // before clipping
  int64_t tokens = 0;      // supervised tokens in the step
};

class trainer {
 public:
  // invalid_argument for an empty dataset, mismatched ids/labels, or non-positive sizes.
  static result<trainer> create(std::shared_ptr<const model> m, lora_adapter adapter,
                                std::vector<train_example> data, train_config cfg);

  trainer(trainer&&) = default;
  trainer& operator=(trainer&&) = default;
  trainer(const trainer&) = delete;
  trainer& operator=(const trainer&) = delete;

  // Runs one optimizer step (with an all_reducer: a collective call every rank must make).
  result<step_info> step();
  // Before the first step; nullptr = single process.
  void set_all_reducer(std::shared_ptr<all_reducer> r) { reducer_ = std::move(r); }
  int64_t steps_done() const { return step_; }
  const lora_adapter& adapter() const { return adapter_; }

  // Mean loss over every supervised token of the dataset (no dropout, no update).
  result<double> evaluate() const;

  // Checkpoint folder (engine/train_checkpoint.h, which the GPU tuner reads and writes too): the
  // PEFT adapter files plus trainer_state.safetensors (AdamW moments as exp_avg.<peft name> /
  // exp_avg_sq.<peft name>, step and data position in __metadata__).
  status save_checkpoint(const std::string& dir) const;
  // Restores a checkpoint into this trainer (same model, data and config); failed_precondition
  // when the checkpoint's adapter does not match this trainer's modules.
  status load_checkpoint(const std::string& dir);

 private:
  trainer() = default;

  std::shared_ptr<const model> model_;
  lora_adapter adapter_;
  std::vector<train_example> data_;
  train_config cfg_;
  std::vector<std::vector<float>> m_, v_;  // AdamW moments, A then B for every module
  int64_t step_ = 0;
  int64_t micro_index_ = 0;  // micro-batches consumed so far (all ranks together)
  std::shared_ptr<all_reducer> reducer_;
};

}  // namespace kaito::engine
