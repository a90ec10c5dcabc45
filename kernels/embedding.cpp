// Embedding CPU twin (contract: kernels/embedding.h).
#include "kernels/embedding.h"

#include <algorithm>

#include "base/check.h"

namespace kaito {

void embedding_forward_cpu(float* out, const int32_t* ids, const float* table, int64_t N, int64_t V,
                           int64_t C) {
  for (int64_t n = 0; n < N; ++n) {
    int64_t id = ids[n];
    KAITO_CHECK(id >= 0 && id < V, "token id ", id, " outside [0, ", V, ") at position ", n);
    std::copy(table + id * C, table + (id + 1) * C, out + n * C);  // out[n,:] = table[id,:]
  }
}

void embedding_forward_bf16_cpu(float* out, const int32_t* ids, const bf16* table, int64_t N,
                                int64_t V, int64_t C) {
  for (int64_t n = 0; n < N; ++n) {
    int64_t id = ids[n];
    KAITO_CHECK(id >= 0 && id < V, "token id ", id, " outside [0, ", V, ") at position ", n);
    bf16_to_f32_cpu(out + n * C, table + id * C, C);
  }
}

void embedding_backward_cpu(float* dtable, const float* dout, const int32_t* ids, int64_t N,
                            int64_t V, int64_t C) {
  for (int64_t n = 0; n < N; ++n) {  // token order: deterministic sums for repeated ids
    int64_t id = ids[n];
    KAITO_CHECK(id >= 0 && id < V, "token id ", id, " outside [0, ", V, ") at position ", n);
    float* row = dtable + id * C;  // dtable[id,:]
    const float* g = dout + n * C;
    for (int64_t c = 0; c < C; ++c) row[c] += g[c];
  }
}

}  // namespace kaito
