// train_ops: the small element kernels the training step needs between the kernels/ launchers
// (launcher conventions of kernels/cuda: cuda_context& first, enqueue on cx.stream(), errors
// recorded in cx). bf16 data, fp32 math, round to nearest even on store.
//   add_bf16:          out[i] = a[i] + b[i]              (=; out may alias a or b)
//   qkv_split_bf16:    q (N, Q), k (N, KV), v (N, KV) <- the row blocks [q | k | v] of qkv (N, QKV)
//   qkv_merge_bf16:    dqkv (N, QKV) <- [dq | dk | dv]   (=)
// Preconditions (KAITO_CHECKed): n >= 0; Q % 8 == 0 and KV % 8 == 0 and 16-byte aligned
// pointers for split/merge (true for every attention_head_size and the train_plan offsets).
#pragma once

#include <cstdint>

#include "kernels/dtype.h"

namespace kaito::gpu {

void add_bf16(cuda_context& cx, bf16* out, const bf16* a, const bf16* b, int64_t n);
void qkv_split_bf16(cuda_context& cx, bf16* q, bf16* k, bf16* v, const bf16* qkv, int64_t N,
                    int64_t Q, int64_t KV);
void qkv_merge_bf16(cuda_context& cx, bf16* dqkv, const bf16* dq, const bf16* dk, const bf16* dv,
                    int64_t N, int64_t Q, int64_t KV);

}  // namespace kaito::gpu
