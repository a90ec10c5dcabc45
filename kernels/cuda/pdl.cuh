// pdl.cuh: programmatic dependent launch (compute capability >= 9.0; CUDA programming guide,
// "Programmatic Dependent Launch and Synchronization"); internal to kernels/cuda/.
//
// launch_pdl() launches a kernel with the ProgrammaticStreamSerialization attribute while
// cx.programmatic_launch() is on (engine/cuda/infer.cu turns it on around a decode step), plain
// otherwise. Such a kernel may start before the kernel ahead of it on the stream has finished:
// its blocks may be scheduled once every block of that kernel has run pdl_trigger() or exited.
// So every kernel launched through launch_pdl() keeps this contract:
//   - pdl_wait() (griddepcontrol.wait) before its first read of anything an earlier kernel of the
//     stream wrote and before its first global write (the kernel ahead may still be reading what
//     it would overwrite); it returns once the kernel ahead has completed and its writes are
//     visible, which, by the same contract, means every earlier kernel has too;
//   - before pdl_wait() it reads only what no kernel of the stream writes (weights, tables), to
//     overlap those loads with the kernel ahead (the decode GEMV prefetches its weights);
//   - pdl_trigger() (griddepcontrol.launch_dependents) lets the *next* kernel's blocks be scheduled
//     early; it does not make this kernel's writes visible (the next kernel's pdl_wait() waits for
//     this whole grid). Called by every thread, first thing, before any early return.
// Launched without the attribute, both instructions are no-ops; in the CPU emulation
// (tests/cuda/cuda_emulation.h) they compile to nothing.
#pragma once

#include <cuda_runtime.h>

#include <utility>

#include "kernels/cuda/cuda_common.cuh"

namespace kaito {

__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}

__device__ __forceinline__ void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

#ifndef KAITO_CUDA_EMULATE
// kernel<<<grid, block, smem, cx.stream()>>>(args...), with programmatic serialization when
// cx.programmatic_launch(); a launch error is recorded in cx (CUDA_CHECK).
template <class... Params, class... Args>
void launch_pdl(cuda_context& cx, void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem,
                Args&&... args) {
  cudaLaunchAttribute attr[1] = {};
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = cx.stream();
  cfg.attrs = attr;
  cfg.numAttrs = cx.programmatic_launch() ? 1 : 0;
  CUDA_CHECK(cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...));
}
#else
// The emulated runtime (tests/cuda/cuda_emulation.h) runs kernels in stream order; the
// attribute changes nothing there.
template <class... Params, class... Args>
void launch_pdl(cuda_context& cx, void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem,
                Args&&... args) {
  ::emu::launcher(grid, block, smem, cx.stream(), kernel,
                  "launch_pdl")(std::forward<Args>(args)...);
  CUDA_CHECK(cudaGetLastError());
}
#endif

}  // namespace kaito
