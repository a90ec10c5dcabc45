// cuda_context: device, stream, cuBLASLt handle + workspace, arena. See cuda_context.h.
#include "kernels/cuda/cuda_context.h"

#include <cstring>

#include <cuda_runtime.h>

#include <string>

#define KAITO_CTX_CUDA(expr)                                                                    \
  do {                                                                                          \
    cudaError_t kaito_e_ = (expr);                                                              \
    if (kaito_e_ != cudaSuccess) return cuda_error_status(kaito_e_, #expr, __FILE__, __LINE__); \
  } while (0)

namespace kaito {

status cuda_error_status(cudaError_t err, const char* expr, const char* file, int line) {
  const status_code code = (err == cudaErrorMemoryAllocation) ? status_code::resource_exhausted
                           : (err == cudaErrorNoDevice || err == cudaErrorInsufficientDriver)
                               ? status_code::unavailable
                               : status_code::internal;
  return status(
      code, std::string(cudaGetErrorName(err)) + " (" + cudaGetErrorString(err) + ") in " + expr,
      std::string(file) + ":" + std::to_string(line));
}

status cublas_error_status(cublasStatus_t err, const char* expr, const char* file, int line) {
  const status_code code = err == CUBLAS_STATUS_ALLOC_FAILED    ? status_code::resource_exhausted
                           : err == CUBLAS_STATUS_NOT_SUPPORTED ? status_code::unimplemented
                                                                : status_code::internal;
  return status(
      code, std::string("cuBLAS status ") + std::to_string(static_cast<int>(err)) + " in " + expr,
      std::string(file) + ":" + std::to_string(line));
}

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky "no device" error
    return 0;
  }
  return n;
}

// --- arena -----------------------------------------------------------------------------------

cuda_arena::~cuda_arena() {
  if (base_ != nullptr) cudaFree(base_);
}

status cuda_arena::init(size_t bytes) {
  KAITO_CHECK(base_ == nullptr, "cuda_arena::init called twice");
  if (bytes > 0) KAITO_CTX_CUDA(cudaMalloc(reinterpret_cast<void**>(&base_), bytes));
  capacity_ = bytes;
  used_ = 0;
  return {};
}

result<void*> cuda_arena::alloc(size_t bytes) {
  constexpr size_t align = 256;
  const size_t start = (used_ + align - 1) / align * align;
  if (start > capacity_ || bytes > capacity_ - start) {
    return status(status_code::resource_exhausted, "cuda_arena: " + std::to_string(bytes) +
                                                       " bytes requested, " +
                                                       std::to_string(capacity_ - used_) + " of " +
                                                       std::to_string(capacity_) + " free");
  }
  used_ = start + bytes;
  if (used_ > high_water_) high_water_ = used_;
#ifdef KAITO_CUDA_EMULATE
  // The emulated runtime (tests/cuda/emu) runs work when it is enqueued, so the slice is free now:
  // NaN bytes make a kernel's read of scratch nothing wrote show in its outputs.
  std::memset(base_ + start, 0xFF, bytes);
#endif
  return static_cast<void*>(base_ + start);
}

// --- context ---------------------------------------------------------------------------------

result<std::unique_ptr<cuda_context>> cuda_context::create(const cuda_context_options& opts) {
  const int count = cuda_device_count();
  if (count == 0) return status(status_code::unavailable, "no CUDA device");
  if (opts.device < 0 || opts.device >= count) {
    return invalid_argument(
        "device " + std::to_string(opts.device) + " of " + std::to_string(count), "device");
  }
  std::unique_ptr<cuda_context> cx(new cuda_context());
  cx->device_ = opts.device;
  KAITO_CTX_CUDA(cudaSetDevice(opts.device));
  KAITO_CTX_CUDA(cudaGetDeviceProperties(&cx->props_, opts.device));
  KAITO_CTX_CUDA(cudaStreamCreateWithFlags(&cx->stream_, cudaStreamNonBlocking));
  const cublasStatus_t cs = cublasLtCreate(&cx->cublaslt_);
  if (cs != CUBLAS_STATUS_SUCCESS)
    return cublas_error_status(cs, "cublasLtCreate", __FILE__, __LINE__);
  if (opts.cublas_workspace_bytes > 0) {
    KAITO_CTX_CUDA(cudaMalloc(&cx->workspace_, opts.cublas_workspace_bytes));
    cx->workspace_bytes_ = opts.cublas_workspace_bytes;
  }
  KAITO_TRY(cx->arena_.init(opts.arena_bytes));
  return std::move(cx);  // NOLINT: nvcc's front end does not move into result<T> implicitly
}

cuda_context::~cuda_context() {
  if (stream_ != nullptr) cudaStreamSynchronize(stream_);
  if (workspace_ != nullptr) cudaFree(workspace_);
  if (cublaslt_ != nullptr) cublasLtDestroy(cublaslt_);
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

status cuda_context::take_error() {
  status s = std::move(error_);
  static_cast<void>(error_ = status());  // (void): status is [[nodiscard]]
  return s;
}

status cuda_context::synchronize() {
  const cudaError_t sync = cudaStreamSynchronize(stream_);
  status recorded = take_error();
  if (!recorded.ok()) return recorded;
  if (sync != cudaSuccess)
    return cuda_error_status(sync, "cudaStreamSynchronize", __FILE__, __LINE__);
  KAITO_CTX_CUDA(cudaGetLastError());
  return {};
}

}  // namespace kaito
