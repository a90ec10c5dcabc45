// Packed fp32 SGEMM for AVX-512 CPUs (BLIS-style), the engine of sgemm_cpu (kernels/gemm.h) when
// the CPU has AVX-512F:
//   c(M,N) = alpha * op(a) · op(b) + beta * c,  op(x) = x or xᵀ (trans_*), row-major, ld* = row
//   strides; beta == 0 never reads c (NaN-safe overwrite). Requires K > 0.
// Method: op(a) is packed into 14-row panels and op(b) into 32-column panels (k-major, 64-byte
// aligned, per-thread buffers), blocked KC = 256 deep, NC = 512 wide, MC = 504 tall so a B block
// and the A panel in use stay in L2/L1; a 14x32 microkernel keeps 28 zmm accumulators and does
// 28 FMAs per k (broadcast loads of A, two vector loads of B). Edge rows use a microkernel
// instantiated for 1..13 rows, edge columns use masked loads/stores: no padding compute beyond
// one partial 32-column panel. One row (decode, M == 1) streams op(b) once without packing.
// Accumulation is fp32 in k order within a KC block; blocks are added to c in order, so results
// match a fp32 dot product (error ~ sqrt(K) * 2^-24 relative for random data).
// Threads: sgemm_threads() (kernels/sgemm_threads.h); the threads take chunks of 128 columns
// (of 14-row panels when N is narrow; of columns for M == 1) from a shared counter, so a thread
// delayed by other load does less; problems under ~4M multiply-adds (64K for M == 1) run on the
// calling thread. While a block of op(b) is multiplied, the source of the next one is
// prefetched to L2 (the weights usually come from DRAM).
// sgemm_avx512_available(): the CPU has AVX-512F/BW/DQ/VL and KAITO_SGEMM is not "blas" (that
// value routes sgemm_cpu back to OpenBLAS / plain loops, for comparisons). The file compiles on
// any x86-64 compiler (per-function target attributes), elsewhere to available() == false.
#pragma once

#include <cstdint>

namespace kaito {

bool sgemm_avx512_available();
void sgemm_avx512(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                  const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                  int64_t ldc);

}  // namespace kaito
