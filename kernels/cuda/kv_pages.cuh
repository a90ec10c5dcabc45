// kv_pages.cuh: where position t of cache slot `slot` lives in a KV cache, on the device
// (kernels/attention.h kv_pages: contiguous slots, or vLLM-style blocks through a block table).
// Shared by the attention decode kernels (attention_decode.cu) and the decoder's cache writers
// (engine/cuda/infer_ops.cu), which must agree on every row.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "base/status.h"
#include "kernels/attention.h"

namespace kaito {

// kv_pages as the kernels take it (by value). table null: contiguous, row slot * Tcap + t.
struct kv_page_map {
  const int32_t* table;
  int block_size, table_ld, blocks;
  int64_t Tcap;
};

inline kv_page_map page_map(const kv_pages& p, int64_t Tcap) {
  return {p.table, int(p.block_size), int(p.table_ld), int(p.blocks), Tcap};
}

// (host) A paged layout must be whole and span Tcap positions; a null table (contiguous) passes.
// invalid_argument naming `who` and "pages".
inline status check_kv_pages(const char* who, const kv_pages& p, int64_t Tcap) {
  if (p.table == nullptr) return {};
  if (p.block_size < 1 || p.table_ld < 1 || p.blocks < 1 || p.block_size > INT32_MAX ||
      p.table_ld > INT32_MAX || p.blocks > INT32_MAX || p.block_size * p.table_ld != Tcap)
    return invalid_argument(
        std::string(who) + ": paged cache block_size=" + std::to_string(p.block_size) +
            " table_ld=" + std::to_string(p.table_ld) + " blocks=" + std::to_string(p.blocks) +
            " (need each >= 1 and block_size * table_ld = Tcap = " + std::to_string(Tcap) + ")",
        "pages");
  return {};
}

// The cache row (the index of a (NKV, HS) row) of position t (0 <= t < Tcap) of slot `slot`.
// A block id read from the table is clamped into [0, blocks) (memory safety: a stale or unset
// entry reads or writes some block of the pool, never past it).
__device__ __forceinline__ int64_t kv_cache_row(const kv_page_map& m, int64_t slot, int64_t t) {
  if (m.table == nullptr) return slot * m.Tcap + t;
  const int32_t id = m.table[slot * m.table_ld + t / m.block_size];
  return int64_t(min(max(id, 0), m.blocks - 1)) * m.block_size + t % m.block_size;
}

}  // namespace kaito
