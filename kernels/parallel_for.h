// parallel_for: the row-parallel loop of the CPU twins, on the SGEMM worker pool.
//
//   parallel_for(n, grain, fn)   calls fn(begin, end) over disjoint chunks covering [0, n), each
//                                at most `grain` long, on up to sgemm_threads() threads (the
//                                caller included); returns when every chunk is done. With one
//                                thread (or n <= grain) it is a single inline call fn(0, n).
//
// Chunks are taken from an atomic counter, so a worker that is not scheduled in time simply takes
// none (sgemm_parallel's contract). Which thread runs a chunk never changes what it computes: fn
// must write only the outputs of its own rows, so results are bit-identical for any thread count
// (training resume and the fixture tests rely on that). A call from inside another parallel region
// runs all chunks on the caller.
#pragma once

#include <atomic>
#include <cstdint>

#include "kernels/sgemm_threads.h"

namespace kaito {

template <class F>
void parallel_for(int64_t n, int64_t grain, F&& fn) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  const int64_t chunks = (n + grain - 1) / grain;
  int threads = sgemm_threads();
  if (threads > chunks) threads = static_cast<int>(chunks);
  if (threads <= 1) {
    fn(int64_t{0}, n);
    return;
  }
  struct ctx_t {
    F* fn;
    int64_t n, grain;
    std::atomic<int64_t> next{0};
  } ctx{&fn, n, grain};
  sgemm_parallel(
      threads,
      [](void* p, int) {
        auto* c = static_cast<ctx_t*>(p);
        for (;;) {
          const int64_t b = c->next.fetch_add(c->grain, std::memory_order_relaxed);
          if (b >= c->n) return;
          (*c->fn)(b, b + c->grain < c->n ? b + c->grain : c->n);
        }
      },
      &ctx);
}

// A grain giving each chunk about `target` scalar operations when one item costs `per_item`.
inline int64_t parallel_grain(int64_t per_item, int64_t target = 32768) {
  if (per_item < 1) per_item = 1;
  const int64_t g = target / per_item;
  return g < 1 ? 1 : g;
}

}  // namespace kaito
