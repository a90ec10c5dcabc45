// cuda_emulation.h: runs CUDA kernel source on the CPU for tests on machines without a GPU. The
// kernel's .cu is #included by a host-compiled test after this header, with KAITO_CUDA_EMULATE
// defined (the .cu files then leave out their host launchers, and nf4_mma_common.cuh its inline
// PTX, which the test emulates itself).
//   thread model: one block at a time, blockDim.x std::threads (threadIdx, blockIdx are
//     thread_local); __syncthreads is a std::barrier over the block; `static __shared__`
//     variables are function statics, shared by the block's threads;
//   warp collectives: __shfl_xor_sync, __shfl_sync and the test's own ops (emu::warp_op)
//     exchange values through two alternating per-warp slots with one std::barrier per op, so
//     every lane of a warp must reach every collective (as on the GPU with a full mask);
//     __syncwarp is a barrier of the warp;
//   grids may be 3-D (blocks run one at a time, x fastest, then y, then z);
//   dynamic shared memory: the test defines the array the kernel's extern declaration names
//     (`smem`, ...; in the kernel's namespace).
// Only for tests: slow (an OS thread per CUDA thread), no memory model beyond the barriers.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#define KAITO_CUDA_EMULATE 1
#ifndef __launch_bounds__  // (host_defines.h defines it for nvcc only)
#define __launch_bounds__(...)
#endif

inline thread_local uint3 threadIdx;
inline thread_local uint3 blockIdx;
inline dim3 blockDim, gridDim;

namespace emu {

constexpr int kMaxWarps = 32;
struct warp_slot {
  uint32_t u[32][8];  // per lane: up to 8 words of one collective op
};
inline std::unique_ptr<std::barrier<>> block_barrier;
inline std::unique_ptr<std::barrier<>> warp_barrier[kMaxWarps];
inline warp_slot slots[kMaxWarps][2];  // alternating per op: see the header comment
inline thread_local unsigned op_count = 0;

inline int lane() {
  return int(threadIdx.x) & 31;
}
// This op's exchange slot of the calling thread's warp.
inline warp_slot& slot() {
  return slots[threadIdx.x >> 5][op_count & 1];
}
// Publish (done by the caller into slot().u[lane()]), then wait for the warp; read; then next().
inline void warp_wait() {
  warp_barrier[threadIdx.x >> 5]->arrive_and_wait();
}
inline void next() {
  ++op_count;
}

// Runs `kernel` for every block of `grid`, `threads` std::threads per block (a multiple of 32),
// blocks one after another. `per_thread_init` runs in each thread before the kernel (test state).
inline void run(dim3 grid, int threads, const std::function<void()>& kernel,
                const std::function<void()>& per_thread_init = {},
                const std::function<void()>& per_block_init = {}) {
  gridDim = grid;
  blockDim = dim3(unsigned(threads));
  for (unsigned bz = 0; bz < grid.z; ++bz) {
    for (unsigned by = 0; by < grid.y; ++by) {
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        if (per_block_init) per_block_init();
        block_barrier = std::make_unique<std::barrier<>>(threads);
        for (int w = 0; w < threads / 32; ++w)
          warp_barrier[w] = std::make_unique<std::barrier<>>(32);
        std::vector<std::thread> pool;
        for (int t = 0; t < threads; ++t) {
          pool.emplace_back([&, t] {
            threadIdx = make_uint3(unsigned(t), 0, 0);
            blockIdx = make_uint3(bx, by, bz);
            op_count = 0;
            if (per_thread_init) per_thread_init();
            kernel();
          });
        }
        for (auto& th : pool) th.join();
      }
    }
  }
}

}  // namespace emu

inline void __syncthreads() {
  emu::block_barrier->arrive_and_wait();
}

// Host versions of the device math the kernels spell out (IEEE fp32, round to nearest even: the
// emulation tests build with -ffp-contract=off, so nothing is fused) and CUDA's min/max.
inline float __fadd_rn(float a, float b) {
  return a + b;
}
inline float __fsub_rn(float a, float b) {
  return a - b;
}
inline float __fmul_rn(float a, float b) {
  return a * b;
}
inline float __fdiv_rn(float a, float b) {
  return a / b;
}
inline float __fsqrt_rn(float a) {
  return std::sqrt(a);
}
// The GPU's rsqrtf is an approximation (<= 2 ulp); this one is correctly rounded 1/sqrt, so an
// emulated kernel matches the GPU to within those ulps, and itself exactly.
inline float rsqrtf(float a) {
  return 1.0f / std::sqrt(a);
}
// Read-only and streaming loads are plain loads here.
template <class T>
inline T __ldg(const T* p) {
  return *p;
}
template <class T>
inline T __ldcs(const T* p) {
  return *p;
}
template <class T>
inline T __ldcg(const T* p) {
  return *p;
}
// Global-memory fences and atomics: the emulation's memory model is its barriers, and a grid's
// blocks run one after another, so a fence is a host fence and an atomic a host atomic.
inline void __threadfence() {
  std::atomic_thread_fence(std::memory_order_seq_cst);
}
inline unsigned atomicAdd(unsigned* p, unsigned v) {
  return std::atomic_ref<unsigned>(*p).fetch_add(v);
}
template <class T>
inline T min(T a, T b) {
  return b < a ? b : a;
}
template <class T>
inline T max(T a, T b) {
  return a < b ? b : a;
}

inline int __shfl_xor_sync(unsigned /*mask: full warps only*/, int v, int lane_mask) {
  std::memcpy(&emu::slot().u[emu::lane()][0], &v, 4);
  emu::warp_wait();
  int r;
  std::memcpy(&r, &emu::slot().u[emu::lane() ^ lane_mask][0], 4);
  emu::next();
  return r;
}

inline float __shfl_xor_sync(unsigned /*mask: full warps only*/, float v, int lane_mask) {
  std::memcpy(&emu::slot().u[emu::lane()][0], &v, 4);
  emu::warp_wait();
  float r;
  std::memcpy(&r, &emu::slot().u[emu::lane() ^ lane_mask][0], 4);
  emu::next();
  return r;
}

inline float __shfl_sync(unsigned /*mask: full warps only*/, float v, int src_lane) {
  std::memcpy(&emu::slot().u[emu::lane()][0], &v, 4);
  emu::warp_wait();
  float r;
  std::memcpy(&r, &emu::slot().u[src_lane & 31][0], 4);
  emu::next();
  return r;
}

// A barrier of the calling thread's warp (no exchange slot: safe between collectives).
inline void __syncwarp(unsigned /*mask: full warps only*/ = 0xffffffffu) {
  emu::warp_wait();
}
