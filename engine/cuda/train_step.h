// gpu_trainer: one QLoRA training step of a gpu_model on one GPU (issue #6), composed from the
// launchers of kernels/cuda (contract headers in kernels/*.h) and engine/cuda/train_ops.h.
//
// step(ids, targets) = zero LoRA grads; forward; loss; backward; clip; AdamW; refresh bf16 LoRA:
//   forward:  x0 = embed[ids]; per layer (gpu_model.h) with LoRA on qkv, o, gate_up, down;
//             hf = final_norm(xL).
//   head:     lm_head + cross-entropy in row chunks of Nc rows (train_plan.h): bf16 logits ->
//             fp32 -> CE forward (per-row loss, lse) -> CE backward in place (grad_scale =
//             1/count of targets != -100) -> bf16 dlogits -> dhf rows = dlogits · lm_head.
//             Full (N, V) logits never exist; HF's loss (mean over non-ignored targets) results.
//             Or (fused_head_vocab_chunk > 0) the fused linear_cross_entropy kernels over
//             vocabulary chunks: same loss and dhf, fp32 chunk logits.
//   backward: final norm, then layers L-1..0 down to the LoRA grads; dX flows through the frozen
//             NF4 base (dequantized per product) and the frozen norms (no dweight). The LoRA
//             inputs h1, h2 and act are never kept: each is recomputed (a norm or SwiGLU, same
//             bits) just before the LoRA backward that reads it (train_plan.h). With
//             checkpointing only each layer's input is kept; backward of layer l first recomputes
//             its forward (same kernels, same dropout masks: bitwise the same activations).
//   clip:     torch clip_grad_norm_(max_grad_norm) over every LoRA grad (fp32 sum of squares on
//             the device, read back once: one host sync), skipped when max_grad_norm <= 0.
//   update:   adamw_update_multi_cuda over every LoRA master (one launch), then bf16 refresh.
// targets are already shifted (targets[b, t] = labels[b, t + 1], -100 ignored), as
// kernels/cross_entropy.h requires. Sequences start at position 0 (no packing).
// Memory: ONE device region (train_plan.h) plus the AdamW moments, allocated by create(); a step
// allocates nothing (kernels' scratch comes from cx's arena: size it for the largest NF4 linear,
// OC*C*2 bytes + its absmax; 256 MiB covers Phi-3-mini). Errors are statuses: invalid_argument
// for bad ids/targets/shape, resource_exhausted when the region does not fit, the first CUDA
// failure of the step otherwise. A non-finite gradient norm skips the update (reported).
// Lifetime: the trainer keeps references to cx and m (it writes m's LoRA grads and masters); both
// must outlive it. Thread-safety: one host thread per trainer (it uses cx's stream).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "base/status.h"
#include "engine/cuda/device_buffer.h"
#include "engine/cuda/gpu_model.h"
#include "engine/cuda/grad_reducer.h"
#include "engine/cuda/step_profile.h"
#include "engine/cuda/train_plan.h"
#include "kernels/adamw.h"

namespace kaito::gpu {

struct train_options {
  int64_t B = 1, T = 1;
  bool checkpoint = false;      // per-layer activation checkpointing
  float lora_dropout = 0.0f;    // PEFT lora_dropout p in [0, 1)
  double max_grad_norm = 0.3;   // <= 0: no clipping (QLoRA default 0.3)
  adamw_params adamw;           // lr, betas, eps, weight_decay
  int64_t loss_chunk_rows = 0;  // lm_head + CE rows per chunk; <= 0: min(N, 1024)
  // > 0: lm_head + cross-entropy through the fused linear_cross_entropy_*_cuda
  // (kernels/linear_cross_entropy.h) over vocabulary chunks of this many rows (fp32 chunk logits,
  // arena scratch N*chunk*6 + N*C*4 bytes) instead of the row-chunked head above. Which is faster
  // is for bench/cuda/model_bench to measure.
  int64_t fused_head_vocab_chunk = 0;
  // Tensor-core attention (attention_{forward,backward}_mma_cuda) for head sizes 64, 96, 128;
  // false, or another head size: the SIMT kernels (attention_{forward,backward}_cuda).
  bool attention_mma = true;
  uint64_t seed = 0;  // dropout masks: rng_derive(seed, step), then per layer/module
};

struct step_result {
  double loss = 0.0;       // mean cross-entropy over targets != -100 (0 when none)
  double grad_norm = 0.0;  // total norm before clipping
  int64_t tokens = 0;      // targets != -100
  bool updated = false;    // false when the norm was not finite (update skipped)
};

class gpu_trainer {
 public:
  static result<std::unique_ptr<gpu_trainer>> create(cuda_context& cx, gpu_model& m,
                                                     const train_options& o);
  gpu_trainer(const gpu_trainer&) = delete;
  gpu_trainer& operator=(const gpu_trainer&) = delete;

  // One optimizer step on ids, targets: (B*T) int32 host arrays.
  result<step_result> step(const int32_t* ids, const int32_t* targets);

  // The parts of step(), for tests: zero grads + forward + head + backward (grads in the model's
  // dA, dB, unclipped); returns the loss and sets tokens.
  result<double> forward_backward(const int32_t* ids, const int32_t* targets);
  // Clip + AdamW + refresh on the grads forward_backward left; returns step() minus the loss.
  result<step_result> clip_and_update();

  // Gradient accumulation (HF Trainer's, engine/trainer.h): one optimizer step over several
  // micro-batches of this B x T is zero_grads(); accumulate() per micro-batch; clip_and_update().
  // accumulate adds grad_scale * d(sum of the micro-batch's token losses over targets != -100) to
  // the LoRA grads (+=; grad_scale = 1 / the supervised tokens of the whole step, HF's
  // num_items_in_batch) and returns that loss sum (fp64, cross_entropy_mean's order). With a grad
  // reducer, only the backward of the micro-batch marked `last` hands the (accumulated) grads to
  // it. forward_backward = zero_grads + accumulate(1 / count, last) / count.
  void zero_grads();
  result<double> accumulate(const int32_t* ids, const int32_t* targets, double grad_scale,
                            bool last);
  // Evaluation (HF Trainer.evaluate's loss): the forward alone over this B x T batch, without
  // dropout, returning the sum of its token losses over targets != -100 (as accumulate; divide by
  // cross_entropy_count for the mean). No backward: the LoRA grads, AdamW state and dropout stream
  // are untouched, so training around it goes on bit for bit as without it.
  result<double> evaluate(const int32_t* ids, const int32_t* targets);
  // The AdamW state of lora_target t of layer l, in the model's (block) form: exp_avg and
  // exp_avg_sq of A (r, in) and B (out, r), for checkpoints (engine/train_checkpoint.h).
  // invalid_argument for a layer or target outside the model or a wrong size. Synchronize.
  struct lora_moments {
    lora_pair exp_avg, exp_avg_sq;
  };
  result<lora_moments> download_moments(int64_t l, int t);
  status upload_moments(int64_t l, int t, const lora_moments& mo);
  // The optimizer steps done (AdamW's bias-correction count), when resuming a checkpoint.
  void set_steps_done(int64_t t) { t_ = t; }

  // The AdamW learning rate of the following updates (a schedule sets it before each step).
  void set_lr(double lr) { o_.adamw.lr = lr; }
  double lr() const { return o_.adamw.lr; }
  // fp32 logits of rows [row0, row0 + n) recomputed from the last forward's final hidden state
  // (n <= chunk rows), (n, V) row-major.
  result<std::vector<float>> logits_rows(int64_t row0, int64_t n);

  // Data-parallel training: registers every LoRA gradient with `r` in the order backward completes
  // them (last layer first) and seals it. From then on forward_backward hands each layer's
  // gradients to r as soon as they are enqueued and, after backward, waits in r->finish() (on the
  // stream) for the sums across ranks, so clipping and AdamW see the reduced gradients. r must
  // outlive the trainer; failed_precondition when a reducer is already set.
  status set_grad_reducer(gpu_grad_reducer* r);

  // Charges the following steps' work to named segments (engine/cuda/step_profile.h) while p
  // records; nullptr to stop. p must outlive its use.
  void set_profile(step_profile* p) { prof_ = p; }

  const train_plan& plan() const { return plan_; }
  // Device bytes the trainer holds (region + AdamW moments).
  size_t bytes() const { return region_.bytes() + moments_.bytes(); }
  int64_t steps_done() const { return t_; }

 private:
  gpu_trainer(cuda_context& cx, gpu_model& m, const train_options& o) : cx_(cx), m_(m), o_(o) {}
  template <class T>
  T* at(size_t off) const {
    return reinterpret_cast<T*>(region_.as<char>() + off);
  }
  // The activation set layer l uses (set 0 with checkpointing).
  char* set_base(int64_t l) const;
  uint64_t dropout_seed(int64_t l, int t) const;
  void layer_forward(int64_t l, bool recompute);
  void layer_backward(int64_t l);
  // Final norm, lm_head and the token losses; with backward also their gradient (grad_scale) down
  // to the last layer's output.
  void head(float grad_scale, bool backward);
  // invalid_argument naming the entry for an id or target outside the vocabulary.
  status check_batch(const int32_t* ids, const int32_t* targets) const;
  // ids and targets to the device, the embedding, every layer's forward (no dropout when eval_).
  status forward(const int32_t* ids, const int32_t* targets);
  // The sum of the token losses of the last forward over targets != -100 (synchronizes).
  result<double> loss_sum(const int32_t* targets);

  cuda_context& cx_;
  gpu_model& m_;
  train_options o_;
  train_plan plan_;
  device_buffer region_, moments_;
  std::vector<adamw_tensor> adam_list_;
  gpu_grad_reducer* reducer_ = nullptr;  // data-parallel gradient sums (set_grad_reducer)
  step_profile* prof_ = nullptr;         // set_profile
  std::vector<size_t> reducer_index_;    // [(l * kLoraTargets + t) * 2 + (0: dA, 1: dB)]
  int64_t t_ = 0;                        // optimizer steps done
  int64_t fb_ = 0;                       // forward_backward calls (dropout stream)
  int64_t tokens_ = 0;                   // of the last forward_backward / accumulate
  bool reduce_pass_ = true;              // this backward hands its grads to reducer_
  bool eval_ = false;                    // layer_forward without dropout (evaluate)
};

}  // namespace kaito::gpu
