// Persistent worker pool for the CPU SGEMM (kernels/sgemm_avx512.cpp).
//   sgemm_threads():          the configured count: KAITO_NUM_THREADS, else OPENBLAS_NUM_THREADS,
//                             else OMP_NUM_THREADS (the variables the benches and deployments
//                             already set for OpenBLAS), else the CPUs in this process's affinity
//                             mask; clamped to [1, 32]. Read once.
//   sgemm_set_threads(n):     overrides it for the whole process (tests, benches); n <= 0
//                             restores the configured count.
//   sgemm_parallel(n, fn, c): runs fn(c, t) for every t in [0, n) and returns when all are done;
//                             the caller runs t = 0, pool workers (started on first use, kept
//                             for the process) run the others, except a worker that has not
//                             started its piece when the caller finishes t = 0: that piece is
//                             skipped, so fn must share out its work dynamically (the SGEMM
//                             takes chunks from an atomic counter), never rely on every t
//                             running. One parallel region at a time:
//                             a call made while another is running (another thread, or from
//                             inside fn) runs its n pieces serially on the caller.
// Workers spin for a few tens of microseconds after a region (back-to-back GEMMs of a layer) and
// then sleep on a futex (std::atomic::wait), so an idle process uses no CPU.
#pragma once

namespace kaito {

int sgemm_threads();
void sgemm_set_threads(int n);

using sgemm_task = void (*)(void* ctx, int t);
void sgemm_parallel(int n, sgemm_task fn, void* ctx);

}  // namespace kaito
