// cuda_context: everything a CUDA launcher needs, passed by reference, never global.
//
// One context = one device, one stream, one cuBLASLt handle with its workspace, and one arena
// (a bump allocator over a single cudaMalloc'd region for per-step scratch). llm.c keeps the
// cuBLASLt handle and the device properties in globals; kaito does not: every launcher in
// kernels/cuda/ takes `cuda_context&` as its first argument and enqueues on `stream()`.
//
// Errors: launchers return void (the contract headers in kernels/ declare them so). A failed CUDA
// or cuBLAS call inside a launcher is recorded here as a status, the first one sticky (as CUDA's
// own errors are); synchronize() and take_error() hand it to the caller, which must check.
// Thread-safety: a context is used by one host thread at a time (like a cudaStream_t). Launchers
// only enqueue work; call synchronize() before reading results on the host.
// Memory: plain cudaMalloc only (no managed memory). The arena hands out 256-byte-aligned slices
// valid until reset() or rewind() past them; it never grows, and an over-large request returns
// resource_exhausted and leaves the arena unchanged.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "base/status.h"

namespace kaito {

// Converts a failed CUDA runtime / cuBLAS call into a status naming the call and the source line.
status cuda_error_status(cudaError_t err, const char* expr, const char* file, int line);
status cublas_error_status(cublasStatus_t err, const char* expr, const char* file, int line);

// Number of usable CUDA devices; 0 (not an error) when there is no driver or no device.
int cuda_device_count();

// A bump allocator over one device allocation. Not thread-safe.
class cuda_arena {
 public:
  cuda_arena() = default;
  ~cuda_arena();
  cuda_arena(const cuda_arena&) = delete;
  cuda_arena& operator=(const cuda_arena&) = delete;

  // Reserves `bytes` of device memory; called once by cuda_context::create.
  status init(size_t bytes);
  // A 256-byte-aligned slice of `bytes`; resource_exhausted when it does not fit.
  result<void*> alloc(size_t bytes);
  template <class T>
  result<T*> alloc_array(size_t count) {
    KAITO_ASSIGN_OR_RETURN(void* p, alloc(count * sizeof(T)));
    return static_cast<T*>(p);
  }
  // mark()/rewind(m): release everything allocated after the mark (scoped scratch).
  size_t mark() const { return used_; }
  void rewind(size_t mark) {
    KAITO_CHECK(mark <= used_, "cuda_arena::rewind past the top");
    used_ = mark;
  }
  void reset() { used_ = 0; }
  size_t capacity() const { return capacity_; }
  size_t used() const { return used_; }
  size_t high_water() const { return high_water_; }

 private:
  char* base_ = nullptr;
  size_t capacity_ = 0;
  size_t used_ = 0;
  size_t high_water_ = 0;
};

struct cuda_context_options {
  int device = 0;
  size_t arena_bytes = size_t{256} << 20;  // scratch for launchers (bytes)
  size_t cublas_workspace_bytes = size_t{32}
                                  << 20;  // cuBLASLt workspace (bytes); 32 MiB for Hopper
};

struct cuda_context {
 public:
  // Selects the device, creates a non-blocking stream, the cuBLASLt handle, its workspace and the
  // arena. Fails with unavailable when there is no device, internal on other CUDA errors.
  static result<std::unique_ptr<cuda_context>> create(const cuda_context_options& opts = {});
  ~cuda_context();
  cuda_context(const cuda_context&) = delete;
  cuda_context& operator=(const cuda_context&) = delete;

  int device() const { return device_; }
  cudaStream_t stream() const { return stream_; }
  cublasLtHandle_t cublaslt() const { return cublaslt_; }
  void* cublas_workspace() const { return workspace_; }
  size_t cublas_workspace_bytes() const { return workspace_bytes_; }
  cuda_arena& arena() { return arena_; }
  const cudaDeviceProp& props() const { return props_; }
  int sm_count() const { return props_.multiProcessorCount; }
  std::string device_name() const { return props_.name; }

  // Waits for all work on stream(); returns the first recorded launcher error, else any
  // asynchronous CUDA error. Clears the recorded error.
  status synchronize();
  // Returns and clears the first error recorded by a launcher (ok when none), without waiting.
  status take_error();
  // Records a launcher failure; the first one is kept until taken.
  void record_error(status s) {
    if (error_.ok()) static_cast<void>(error_ = std::move(s));  // (void): status is [[nodiscard]]
  }
  bool has_error() const { return !error_.ok(); }

  // cuBLASLt algorithm chosen per GEMM problem (key built by kernels/cuda/gemm.cu), so the
  // heuristic query runs once per shape.
  std::unordered_map<std::string, cublasLtMatmulAlgo_t>& gemm_algo_cache() { return gemm_algos_; }

  // Programmatic dependent launch for the launchers built on launch_pdl (kernels/cuda/pdl.cuh):
  // while on, their kernels may start before the kernel ahead of them has finished (each waits
  // for it in the kernel). Takes effect only on devices of compute capability >= 9.0; returns
  // the setting in force.
  bool set_programmatic_launch(bool on) {
    pdl_ = on && props_.major >= 9;
    return pdl_;
  }
  bool programmatic_launch() const { return pdl_; }

 private:
  cuda_context() = default;

  int device_ = 0;
  cudaStream_t stream_ = nullptr;
  cublasLtHandle_t cublaslt_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  cuda_arena arena_;
  cudaDeviceProp props_{};
  status error_;
  std::unordered_map<std::string, cublasLtMatmulAlgo_t> gemm_algos_;
  bool pdl_ = false;
};

}  // namespace kaito
