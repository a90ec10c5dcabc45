// gpu_tuner: LoRA / QLoRA fine-tuning of a GPU model as engine::trainer does it on the CPU (HF
// Trainer + PEFT semantics): the same micro-batches in the same order (engine/train_batches.h),
// gradient accumulation normalised by the step's supervised tokens (HF's num_items_in_batch),
// global-norm clipping, the HF learning-rate schedule and torch AdamW. Each micro-batch runs
// through gpu::gpu_trainer::accumulate (engine/cuda/train_step.h); the update is
// clip_and_update with the schedule's rate.
//
// Differences from the CPU trainer, by design:
//   - every micro-batch is padded to opts.T tokens (one activation region, allocated once), not
//     to its longest example: the loss and gradients are the same (padding is causal and
//     unsupervised), only the work is larger. With longrope the long factors apply when T exceeds
//     original_max_position_embeddings (HF switches on the padded batch length too).
//   - dropout masks come from the GPU trainer's own stream (statistically PEFT's dropout, not the
//     CPU trainer's masks bit for bit).
// Checkpoints are engine/train_checkpoint.h's folders, the CPU trainer's format: either trainer
// resumes the other's run (the PEFT adapter, AdamW moments per PEFT module, step, data position).
// Data parallel (set_data_parallel), engine::trainer's scheme: W tuners built from the same
// model, adapter, data and config each run one rank and call step() together. Rank r takes the
// global micro-batches micro_index + k*W + r; the step's supervised tokens (before the backward,
// for the 1/total scale) and its loss (after) are summed over an engine::all_reducer; the LoRA
// gradients by a gpu_grad_reducer in SUM mode (nccl_grad_reducer or host_grad_reducer with
// average = false: each rank's gradients are already scaled by 1/total), handed over during the
// backward of the step's last micro-batch. The result equals one rank with W * grad_accum up to
// float summation order; checkpoints resume with the same W.
//
// Lifetime: the tuner keeps references to cx and the model; both must outlive it.
// Thread-safety: one host thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "engine/all_reduce.h"
#include "engine/cuda/gemm_choice.h"
#include "engine/cuda/grad_reducer.h"
#include "engine/cuda/train_step.h"
#include "engine/cuda_hf/gpu_model_from_hf.h"
#include "engine/trainer.h"

namespace kaito::gpu {

// The NF4 base products' path (gpu_model::fused_nf4_gemm): measured per direction on the device
// (engine/cuda/gemm_choice.h; the default), or pinned to one path for runs that must repeat bit for
// bit across processes (a resumed run measures again and may take the other path otherwise).
enum class nf4_gemm_mode { measure, dequantize, fused };

struct gpu_tune_options {
  int64_t T = 0;                       // tokens per sequence; 0: the longest example
  bool checkpoint = false;             // per-layer activation checkpointing
  bool attention_mma = true;           // train_options::attention_mma
  int64_t fused_head_vocab_chunk = 0;  // train_options::fused_head_vocab_chunk
  nf4_gemm_mode nf4_gemm = nf4_gemm_mode::measure;
};

class gpu_tuner {
 public:
  // invalid_argument naming the field: the data (engine::validate_train_data), a non-positive
  // micro_batch_size / grad_accum, an example longer than T, T above the model's max_T;
  // resource_exhausted when the activations do not fit. Sets the model's NF4 GEMM paths
  // (opts.nf4_gemm; measured at micro_batch_size x T rows before the activations are allocated).
  static result<std::unique_ptr<gpu_tuner>> create(cuda_context& cx, gpu_hf_model& m,
                                                   std::vector<engine::train_example> data,
                                                   engine::train_config cfg,
                                                   const gpu_tune_options& opts = {});

  // One optimizer step. step_info.loss is the mean over the step's supervised tokens; a step whose
  // gradient norm is not finite skips the update (last_updated() false) and still counts.
  result<engine::step_info> step();
  int64_t steps_done() const { return step_; }
  // Mean loss over every supervised token of the dataset, engine::trainer::evaluate's number (no
  // dropout, no update): the examples in data order, micro_batch_size at a time, each batch padded
  // to T (and a short last batch with unsupervised rows) through gpu_trainer::evaluate. Training
  // around it goes on bit for bit as without it. Every rank evaluates the whole dataset (not a
  // collective call).
  result<double> evaluate();
  // Before the first step; both must outlive the tuner. invalid_argument for a null argument,
  // failed_precondition after a step or when set twice.
  status set_data_parallel(engine::all_reducer* ranks, gpu_grad_reducer* grads);
  // Writes / restores a checkpoint folder (engine/train_checkpoint.h). load_checkpoint needs the
  // same model, adapter modules, data and seed (failed_precondition naming what differs).
  status save_checkpoint(const std::string& dir) const;
  status load_checkpoint(const std::string& dir);
  bool last_updated() const { return last_updated_; }
  int64_t T() const { return T_; }
  // Device bytes the training step holds: activations region + AdamW moments (gpu_trainer).
  size_t trainer_bytes() const;
  // The NF4 GEMM paths create() set, with the measurement behind them (measure mode).
  const gemm_choice& nf4_gemm() const { return nf4_gemm_; }

 private:
  gpu_tuner() = default;
  cuda_context* cx_ = nullptr;
  gpu_hf_model* m_ = nullptr;
  std::unique_ptr<gpu_trainer> trainer_;
  engine::all_reducer* ranks_ = nullptr;  // set_data_parallel
  std::vector<engine::train_example> data_;
  engine::train_config cfg_;
  int64_t T_ = 0;
  int64_t step_ = 0;
  int64_t micro_index_ = 0;
  bool last_updated_ = false;
  gemm_choice nf4_gemm_;
};

}  // namespace kaito::gpu
