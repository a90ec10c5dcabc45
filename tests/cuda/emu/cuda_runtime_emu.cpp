// cuda_runtime_emu.cpp: the CUDA runtime calls kaito-cpp makes, implemented on the CPU, so the
// engine's GPU code (kernels/cuda, engine/cuda compiled as C++ against tests/cuda/
// cuda_emulation.h with KAITO_CUDA_EMULATE_RUNTIME) runs whole training steps and decodes in CI.
// The functions keep the declarations of the toolkit's cuda_runtime_api.h (this library replaces
// libcudart; never link both).
//
// Semantics kept from the real runtime, because they are what the emulation is for:
//   - one device, "compute capability 9.0" (so the sm_90 paths run: tensor-core kernels and
//     programmatic launch, whose attribute is a no-op in stream order);
//   - device memory is host memory of exactly the requested size (AddressSanitizer sees any read
//     or write past an allocation), filled with 0xFF bytes (NaN in bf16 and fp32: the GPU's
//     fresh memory is whatever was there, often zeros that hide a read of unwritten memory);
//     cudaFree of an unknown pointer is cudaErrorInvalidValue;
//   - launches are checked as the runtime checks them (block size and shape, grid dimensions,
//     dynamic shared memory above 48 KB only after cudaFuncSetAttribute raised the kernel's
//     limit, and never above the 227 KB opt-in); the last error stays until cudaGetLastError
//     reads it;
//   - streams run in issue order, one after another (every cross-stream order a real GPU may
//     pick is not explored);
//   - stream capture records launches, copies and memsets with their arguments frozen at capture
//     time, and a graph launch replays them: a graph that reads a host value changed after
//     capture behaves here as on the GPU; synchronizing a capturing stream invalidates the
//     capture (cudaStreamEndCapture then fails);
//   - events carry host timestamps (cudaEventElapsedTime is emulation time, not GPU time).
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "tests/cuda/cuda_emulation.h"

struct CUgraph_st {
  std::vector<std::function<void()>> nodes;
};
struct CUgraphExec_st {
  std::vector<std::function<void()>> nodes;
};
struct CUstream_st {
  CUgraph_st* capture = nullptr;  // the graph being captured, or none
  bool invalidated = false;       // an illegal call during the capture
};
struct CUevent_st {
  std::chrono::steady_clock::time_point at{};
  bool recorded = false;
};

namespace {

constexpr size_t kDefaultSmem = 48 * 1024;     // dynamic shared memory without the attribute
constexpr size_t kOptinSmem = 227 * 1024;      // cudaDevAttrMaxSharedMemoryPerBlockOptin
constexpr size_t kDeviceMemory = 64ull << 30;  // what the emulated device reports

struct state {
  std::mutex mu;
  std::map<const void*, size_t> device;  // live cudaMalloc blocks
  std::map<const void*, size_t> host;    // live cudaMallocHost / cudaHostAlloc blocks
  std::unordered_map<const void*, int> max_dynamic_smem;  // cudaFuncSetAttribute
};
state& st() {
  static state s;
  return s;
}
thread_local cudaError_t last_error = cudaSuccess;

cudaError_t fail(cudaError_t e) {
  last_error = e;
  return e;
}

// An allocation of exactly `bytes` (256-byte aligned), recorded in `live` (device or host).
cudaError_t allocate(void** p, size_t bytes, std::map<const void*, size_t>& live) {
  *p = nullptr;
  if (posix_memalign(p, 256, std::max<size_t>(bytes, 1)) != 0) {
    *p = nullptr;
    return fail(cudaErrorMemoryAllocation);
  }
  std::lock_guard<std::mutex> lock(st().mu);
  live[*p] = bytes;
  return cudaSuccess;
}
// Frees an allocation `live` records; cudaErrorInvalidValue for any other pointer.
cudaError_t release(void* p, std::map<const void*, size_t>& live) {
  if (p == nullptr) return cudaSuccess;
  {
    std::lock_guard<std::mutex> lock(st().mu);
    if (live.erase(p) == 0) return fail(cudaErrorInvalidValue);
  }
  std::free(p);
  return cudaSuccess;
}

// A synchronizing call on a capturing stream invalidates its capture, as on the GPU.
cudaError_t sync_point(cudaStream_t s) {
  if (s != nullptr && s->capture != nullptr) {
    s->invalidated = true;
    return fail(cudaErrorStreamCaptureUnsupported);
  }
  return cudaSuccess;
}

}  // namespace

namespace emu {

cudaError_t check_launch(const launch_config& c) {
  const uint64_t threads = uint64_t(c.block.x) * c.block.y * c.block.z;
  if (threads == 0 || threads > 1024 || c.block.z > 64 || c.grid.x == 0 || c.grid.y == 0 ||
      c.grid.z == 0 || c.grid.y > 65535 || c.grid.z > 65535 || c.grid.x > 0x7fffffffu)
    return fail(cudaErrorInvalidConfiguration);
  size_t limit = kDefaultSmem;
  {
    std::lock_guard<std::mutex> lock(st().mu);
    auto it = st().max_dynamic_smem.find(c.func);
    if (it != st().max_dynamic_smem.end()) limit = size_t(it->second);
  }
  if (c.smem_bytes > limit) return fail(cudaErrorInvalidValue);
  return cudaSuccess;
}

void enqueue(cudaStream_t s, std::function<void()> work) {
  if (s != nullptr && s->capture != nullptr) {
    s->capture->nodes.push_back(std::move(work));
    return;
  }
  work();
}

namespace {
// KAITO_EMU_TRACE=1: each grid's name and shape on stderr; =nan: also the device allocations
// whose count of NaN bf16 / fp32 values the grid changed (to find the first kernel of a NaN).
int trace_level() {
  static const int level = [] {
    const char* e = std::getenv("KAITO_EMU_TRACE");
    if (e == nullptr || *e == 0 || std::strcmp(e, "0") == 0) return 0;
    return std::strcmp(e, "nan") == 0 ? 2 : 1;
  }();
  return level;
}
struct nan_counts {
  size_t bf16 = 0, f32 = 0;
  bool operator!=(const nan_counts& o) const { return bf16 != o.bf16 || f32 != o.f32; }
};
std::map<const void*, nan_counts> count_nans() {
  std::map<const void*, nan_counts> out;
  std::lock_guard<std::mutex> lock(st().mu);
  for (const auto& [p, n] : st().device) {
    nan_counts c;
    const auto* u16 = static_cast<const uint16_t*>(p);
    for (size_t i = 0; i < n / 2; ++i) c.bf16 += (u16[i] & 0x7f80u) == 0x7f80u && (u16[i] & 0x7fu);
    const auto* u32 = static_cast<const uint32_t*>(p);
    for (size_t i = 0; i < n / 4; ++i)
      c.f32 += (u32[i] & 0x7f800000u) == 0x7f800000u && (u32[i] & 0x7fffffu);
    out[p] = c;
  }
  return out;
}
}  // namespace

void traced(const std::string& label, const std::function<void()>& work) {
  const int level = trace_level();
  std::map<const void*, nan_counts> before;
  if (level >= 1) std::fprintf(stderr, "emu: %s\n", label.c_str());
  if (level >= 2) before = count_nans();
  work();
  if (level >= 2) {
    for (const auto& [p, n] : count_nans()) {
      auto it = before.find(p);
      if (it == before.end() || it->second != n)
        std::fprintf(stderr, "emu:   NaN in %p: bf16 %zu -> %zu, f32 %zu -> %zu\n", p,
                     it == before.end() ? 0 : it->second.bf16, n.bf16,
                     it == before.end() ? 0 : it->second.f32, n.f32);
    }
  }
}

void run_grid(const launch_config& c, const std::function<void()>& kernel) {
  std::unique_ptr<unsigned char[]> smem;
  if (c.smem_bytes > 0) {
    smem.reset(new unsigned char[c.smem_bytes]);
    std::memset(smem.get(), 0xFF, c.smem_bytes);  // stale data: bf16/fp32 NaN
  }
  unsigned char* const saved = dynamic_smem;
  dynamic_smem = smem.get();
  const auto go = [&] { run(c.grid, c.block, kernel); };
  if (trace_level() == 0) {
    go();
  } else {
    char shape[128];
    std::snprintf(shape, sizeof(shape), " <<<(%u,%u,%u), (%u,%u,%u), %zu>>>", c.grid.x, c.grid.y,
                  c.grid.z, c.block.x, c.block.y, c.block.z, c.smem_bytes);
    traced(std::string(c.name) + shape, go);
  }
  dynamic_smem = saved;
}

}  // namespace emu

extern "C" {

// ---- device and errors ----
cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) {
  return device == 0 ? cudaSuccess : fail(cudaErrorInvalidDevice);
}
cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
  if (device != 0) return fail(cudaErrorInvalidDevice);
  std::memset(p, 0, sizeof(*p));
  std::snprintf(p->name, sizeof(p->name), "kaito CPU emulation (sm_90)");
  p->major = 9;
  p->minor = 0;
  p->multiProcessorCount = 132;
  p->totalGlobalMem = kDeviceMemory;
  p->sharedMemPerBlock = kDefaultSmem;
  p->sharedMemPerBlockOptin = kOptinSmem;
  p->sharedMemPerMultiprocessor = 228 * 1024;
  p->regsPerBlock = 65536;
  p->regsPerMultiprocessor = 65536;
  p->warpSize = 32;
  p->maxThreadsPerBlock = 1024;
  p->maxThreadsPerMultiProcessor = 2048;
  p->maxThreadsDim[0] = 1024;
  p->maxThreadsDim[1] = 1024;
  p->maxThreadsDim[2] = 64;
  p->maxGridSize[0] = 0x7fffffff;
  p->maxGridSize[1] = 65535;
  p->maxGridSize[2] = 65535;
  p->l2CacheSize = 50 << 20;
  p->memoryBusWidth = 6144;
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize(void) {
  return cudaSuccess;
}
cudaError_t cudaGetLastError(void) {
  const cudaError_t e = last_error;
  last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError(void) {
  return last_error;
}
const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess:
      return "cudaSuccess";
    case cudaErrorInvalidValue:
      return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation:
      return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration:
      return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevice:
      return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle:
      return "cudaErrorInvalidResourceHandle";
    case cudaErrorIllegalState:
      return "cudaErrorIllegalState";
    case cudaErrorStreamCaptureUnsupported:
      return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated:
      return "cudaErrorStreamCaptureInvalidated";
    default:
      return "cudaErrorUnknown";
  }
}
const char* cudaGetErrorString(cudaError_t e) {
  return cudaGetErrorName(e);  // (the emulation's strings are the names)
}
cudaError_t cudaFuncSetAttribute(const void* func, cudaFuncAttribute attr, int value) {
  if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
    if (value < 0 || size_t(value) > kOptinSmem) return fail(cudaErrorInvalidValue);
    std::lock_guard<std::mutex> lock(st().mu);
    st().max_dynamic_smem[func] = value;
  }
  return cudaSuccess;
}

// ---- memory ----
cudaError_t cudaMalloc(void** p, size_t bytes) {
  const cudaError_t e = allocate(p, bytes, st().device);
  if (e == cudaSuccess) std::memset(*p, 0xFF, bytes);  // NaN in bf16 and fp32: unwritten shows
  return e;
}
cudaError_t cudaFree(void* p) {
  return release(p, st().device);
}
cudaError_t cudaMallocHost(void** p, size_t bytes) {
  return allocate(p, bytes, st().host);
}
cudaError_t cudaHostAlloc(void** p, size_t bytes, unsigned int /*flags*/) {
  return cudaMallocHost(p, bytes);
}
cudaError_t cudaFreeHost(void* p) {
  return release(p, st().host);
}
cudaError_t cudaHostGetDevicePointer(void** dev, void* host, unsigned int /*flags*/) {
  *dev = host;  // one address space
  return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total) {
  size_t used = 0;
  std::lock_guard<std::mutex> lock(st().mu);
  for (const auto& [p, n] : st().device) used += n;
  *total = kDeviceMemory;
  *free_bytes = used < kDeviceMemory ? kDeviceMemory - used : 0;
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind, cudaStream_t s) {
  if (n > 0) emu::enqueue(s, [=] { std::memmove(dst, src, n); });
  return cudaSuccess;
}
cudaError_t cudaMemcpy(void* dst, const void* src, size_t n, cudaMemcpyKind kind) {
  return cudaMemcpyAsync(dst, src, n, kind, nullptr);
}
cudaError_t cudaMemcpy2DAsync(void* dst, size_t dpitch, const void* src, size_t spitch,
                              size_t width, size_t height, cudaMemcpyKind, cudaStream_t s) {
  if (width > dpitch || width > spitch) return fail(cudaErrorInvalidPitchValue);
  emu::enqueue(s, [=] {
    for (size_t r = 0; r < height; ++r)
      std::memmove(static_cast<char*>(dst) + r * dpitch, static_cast<const char*>(src) + r * spitch,
                   width);
  });
  return cudaSuccess;
}
cudaError_t cudaMemcpy2D(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width,
                         size_t height, cudaMemcpyKind kind) {
  return cudaMemcpy2DAsync(dst, dpitch, src, spitch, width, height, kind, nullptr);
}
cudaError_t cudaMemsetAsync(void* p, int value, size_t n, cudaStream_t s) {
  if (n > 0) emu::enqueue(s, [=] { std::memset(p, value, n); });
  return cudaSuccess;
}
cudaError_t cudaMemset(void* p, int value, size_t n) {
  return cudaMemsetAsync(p, value, n, nullptr);
}

// ---- streams, events, graphs ----
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned int /*flags*/) {
  *s = new CUstream_st;
  return cudaSuccess;
}
cudaError_t cudaStreamCreate(cudaStream_t* s) {
  return cudaStreamCreateWithFlags(s, 0);
}
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  if (s == nullptr) return fail(cudaErrorInvalidResourceHandle);
  delete s->capture;
  delete s;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  return sync_point(s);
}
cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t, unsigned int) {
  return cudaSuccess;  // streams already run in issue order
}
cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode) {
  if (s == nullptr) return fail(cudaErrorStreamCaptureUnsupported);  // the legacy stream
  if (s->capture != nullptr) return fail(cudaErrorIllegalState);
  s->capture = new CUgraph_st;
  s->invalidated = false;
  return cudaSuccess;
}
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* g) {
  *g = nullptr;
  if (s == nullptr || s->capture == nullptr) return fail(cudaErrorIllegalState);
  CUgraph_st* captured = s->capture;
  s->capture = nullptr;
  if (s->invalidated) {
    delete captured;
    return fail(cudaErrorStreamCaptureInvalidated);
  }
  *g = captured;
  return cudaSuccess;
}
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t g, unsigned long long) {
  if (g == nullptr) return fail(cudaErrorInvalidValue);
  *exec = new CUgraphExec_st{g->nodes};
  return cudaSuccess;
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t s) {
  if (exec == nullptr) return fail(cudaErrorInvalidValue);
  for (const auto& node : exec->nodes) emu::enqueue(s, node);
  return cudaSuccess;
}
cudaError_t cudaGraphDestroy(cudaGraph_t g) {
  delete g;
  return cudaSuccess;
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  delete exec;
  return cudaSuccess;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned int /*flags*/) {
  *e = new CUevent_st;
  return cudaSuccess;
}
cudaError_t cudaEventCreate(cudaEvent_t* e) {
  return cudaEventCreateWithFlags(e, 0);
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  if (e == nullptr) return fail(cudaErrorInvalidResourceHandle);
  emu::enqueue(s, [e] {
    e->at = std::chrono::steady_clock::now();
    e->recorded = true;
  });
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  return e == nullptr ? fail(cudaErrorInvalidResourceHandle) : cudaSuccess;
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
  if (a == nullptr || b == nullptr || !a->recorded || !b->recorded)
    return fail(cudaErrorInvalidResourceHandle);
  *ms = std::chrono::duration<float, std::milli>(b->at - a->at).count();
  return cudaSuccess;
}

}  // extern "C"
