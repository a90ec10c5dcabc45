// Token embedding lookup (torch.nn.Embedding / F.embedding).
//   forward:   out[n,c] = table[ids[n], c]                                 overwritten (=)
//   backward:  dtable[ids[n], c] += dout[n,c] for every n (repeats sum)    accumulated (+=)
// Shapes (legend: N = B*T tokens, V vocab rows, C channels): ids (N) int32 with 0 <= id < V
// (the engine checks token ids once at its entry; the twins KAITO_CHECK it as an invariant);
// table, dtable: (V, C) row-major; out, dout: (N, C). Forward saves nothing (backward needs ids).
// padding_idx (HF passes pad_token_id) only matters when training the embedding, which QLoRA
// freezes: backward does NOT zero the padding row's gradient; callers that train it must.
// CPU twin: fp32 copy; backward in token order (deterministic). CUDA twin: bf16 table and out,
// fp32 dtable (atomics allowed: the order of the sum may differ from the CPU twin).
#pragma once

#include <cstdint>

#include "kernels/dtype.h"

namespace kaito {

void embedding_forward_cpu(float* out, const int32_t* ids, const float* table, int64_t N, int64_t V,
                           int64_t C);
void embedding_forward_bf16_cpu(float* out, const int32_t* ids, const bf16* table, int64_t N,
                                int64_t V, int64_t C);
void embedding_backward_cpu(float* dtable, const float* dout, const int32_t* ids, int64_t N,
                            int64_t V, int64_t C);

#if KAITO_WITH_CUDA
void embedding_forward_cuda(cuda_context& cx, bf16* out, const int32_t* ids, const bf16* table,
                            int64_t N, int64_t V, int64_t C);
void embedding_backward_cuda(cuda_context& cx, float* dtable, const bf16* dout, const int32_t* ids,
                             int64_t N, int64_t V, int64_t C);
#endif

}  // namespace kaito
