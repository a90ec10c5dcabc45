// GPU_TRY_CUDA(expr): inside engine/cuda functions that return status or result<T>, evaluate a
// cudaError_t expression and return a status naming the call and line when it failed
// (kernels/cuda/cuda_context.h cuda_error_status). Launchers keep using CUDA_CHECK.
#pragma once

#include <cuda_runtime_api.h>

#include "kernels/cuda/cuda_context.h"

#define GPU_TRY_CUDA(expr)                                                        \
  do {                                                                            \
    cudaError_t gpu_try_err_ = (expr);                                            \
    if (gpu_try_err_ != cudaSuccess)                                              \
      return ::kaito::cuda_error_status(gpu_try_err_, #expr, __FILE__, __LINE__); \
  } while (0)
