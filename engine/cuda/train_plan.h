// train_plan: where every activation and scratch buffer of one training step lives inside the
// trainer's single device region (engine/cuda/train_step.h). Pure host arithmetic: offsets in
// bytes from the region base, each 256-byte aligned, no two buffers overlapping, sized up front
// from (B, T, shape, checkpointing, dropout, loss chunk) so a step never allocates.
//
// Legend: N = B*T rows, C hidden, Q = NH*HS, KV = NKV*HS, QKV = Q + 2 KV, I intermediate,
// V vocab, R the largest LoRA rank (shape.max_lora_rank(): split_lora blocks), Nc = rows of
// one lm_head + cross-entropy chunk. bf16 unless marked.
//   inputs:  ids, targets (N) i32; rope cos, sin (N, HS) f32 (the model's table per sequence)
//   xin:     L + 1 residual streams (N, C): xin[l] is layer l's input, xin[L] the last output
//   layer activation sets (L of them, or 1 with checkpointing; the forward of layer l writes set
//   l, or the single set, which a checkpointed backward refills by recomputing layer l):
//     rstd1, rstd2 (N) f32; q (N, Q); k, v (N, KV) (after rope); att (N, Q);
//     lse (B, NH, T) f32; xmid (N, C); gu (N, 2I); z[t] (N, R);
//     xd[t] (N, in_t) only with dropout > 0 (the LoRA input after dropout)
//   NOT saved: the normed inputs h1 = norm1(x), h2 = norm2(xmid) and act = silu(gate) * up, the
//   LoRA inputs of qkv, gate_up and down. The forward writes them to the shared hn and act
//   below; without dropout, backward recomputes each from what is kept (xin[l], or the set's
//   xmid and gu) just before the LoRA backward that reads it: the same kernels on the same
//   inputs, so the same bits. 2C + I fewer bf16 values a row per layer (Phi-3-mini, 4 x 1024,
//   no checkpointing: 3,496 of the region's 13,080 MiB) for three elementwise kernels a layer
//   in backward (about 0.3 GB of memory traffic each layer at that shape).
//   head:    hf (N, C); rstdf (N) f32; losses, ce_lse (N) f32; logits (Nc, V) bf16 (also the
//            bf16 dlogits); logits32 (Nc, V) f32 (also dlogits in place); dhf (N, C)
//   scratch: hn (N, C): h1, then h2 of the layer running; act (N, I);
//            qkv (N, QKV) (also the o / down projection output);
//            dres, dtmp, dh (N, C); dgu (N, 2I); dact (N, I); datt, dq (N, Q); dk, dv (N, KV);
//            dqkv (N, QKV); dz (N, R); sumsq (1) f32
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/status.h"
#include "engine/cuda/gpu_model.h"

namespace kaito::gpu {

struct layer_slots {  // offsets relative to the set's base
  size_t rstd1, q, k, v, att, lse, xmid, rstd2, gu;
  size_t z[kLoraTargets], xd[kLoraTargets];  // xd: 0 bytes (unused) without dropout
};

struct train_plan {
  int64_t B = 0, T = 0, N = 0, chunk_rows = 0;
  bool checkpoint = false, dropout = false;
  size_t ids = 0, targets = 0, cos = 0, sin = 0;
  size_t xin = 0, xin_stride = 0;   // xin[l] at xin + l * xin_stride
  size_t sets = 0, set_stride = 0;  // set s at sets + s * set_stride
  int64_t set_count = 0;
  layer_slots slot{};
  size_t hf = 0, rstdf = 0, losses = 0, ce_lse = 0, logits = 0, logits32 = 0, dhf = 0;
  size_t hn = 0, act = 0;
  size_t qkv = 0, dres = 0, dtmp = 0, dh = 0, dgu = 0, dact = 0, datt = 0, dq = 0, dk = 0, dv = 0,
         dqkv = 0, dz = 0, sumsq = 0;
  size_t total = 0;  // bytes of the region
};

// chunk_rows <= 0 picks min(N, 1024). invalid_argument naming the field for B, T <= 0 or a
// region above 2^50 bytes.
result<train_plan> make_train_plan(const gpu_model_shape& s, int64_t B, int64_t T, bool checkpoint,
                                   bool dropout, int64_t chunk_rows);

}  // namespace kaito::gpu
