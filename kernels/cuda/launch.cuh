// launch.cuh: the one spelling of a kernel launch and of a kernel's dynamic shared memory in
// kernels/cuda/ and engine/cuda/, so that the same source also runs on the CPU emulation of the
// CUDA runtime (tests/cuda/emu/, KAITO_CUDA_EMULATE), which runs whole models without a GPU.
//
//   KAITO_LAUNCH(grid, block, smem_bytes, stream, kernel)(args...);
//     nvcc: kernel<<<grid, block, smem_bytes, stream>>>(args...). The kernel may be a template
//     instance with commas (KAITO_LAUNCH(g, b, 0, s, k<T, 4>)); the arguments are converted to
//     the kernel's parameter types as in a CUDA launch. Launch errors are read, as always, with
//     cudaGetLastError().
//     emulation: emu::launcher(...) checks the configuration as the runtime does (block size,
//     grid dimensions, dynamic shared memory against cudaFuncSetAttribute's limit), copies the
//     arguments, and runs the grid on `stream` (or records it while the stream is captured).
//   KAITO_DYNAMIC_SMEM(type, name);
//     nvcc: extern __shared__ __align__(128) type name[];  (the block's dynamic shared memory)
//     emulation: type* name = the launch's dynamic shared memory (a buffer of exactly smem_bytes).
#pragma once

#ifdef KAITO_CUDA_EMULATE
#define KAITO_LAUNCH(grid, block, smem_bytes, stream, ...) \
  ::emu::launcher(grid, block, smem_bytes, stream, __VA_ARGS__, #__VA_ARGS__)
#define KAITO_DYNAMIC_SMEM(type, name) \
  type* const name = reinterpret_cast<type*>(::emu::dynamic_smem)
#else
#define KAITO_LAUNCH(grid, block, smem_bytes, stream, ...) \
  __VA_ARGS__<<<grid, block, smem_bytes, stream>>>
#define KAITO_DYNAMIC_SMEM(type, name) extern __shared__ __align__(128) type name[]
#endif
