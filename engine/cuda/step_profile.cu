// step_profile (contract: engine/cuda/step_profile.h).
#include "engine/cuda/step_profile.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <map>

#include "engine/cuda/cuda_try.h"
#include "kernels/cuda/launch.cuh"

namespace kaito::gpu {

std::vector<segment_total> sum_segments(const std::vector<const char*>& names,
                                        const std::vector<double>& ms) {
  std::map<std::string, segment_total> by_name;
  for (size_t i = 0; i < names.size() && i < ms.size(); ++i) {
    segment_total& t = by_name[names[i]];
    t.name = names[i];
    t.ms += ms[i];
    ++t.count;
  }
  std::vector<segment_total> out;
  for (auto& [name, t] : by_name) out.push_back(std::move(t));
  std::sort(out.begin(), out.end(), [](const segment_total& a, const segment_total& b) {
    return a.ms != b.ms ? a.ms > b.ms : a.name < b.name;
  });
  return out;
}

namespace {

__device__ __forceinline__ unsigned long long global_ns() {
#ifdef KAITO_CUDA_EMULATE
  return static_cast<unsigned long long>(std::chrono::steady_clock::now().time_since_epoch() /
                                         std::chrono::nanoseconds(1));
#else
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
#endif
}

// Spins (one thread) until flags[0] != 0 or timeout_ns passed; flags[1] = 1 on timeout.
__global__ void hold_kernel(volatile int* flags, unsigned long long timeout_ns) {
  const unsigned long long t0 = global_ns();
  while (flags[0] == 0) {
    if (global_ns() - t0 > timeout_ns) {
      flags[1] = 1;
      return;
    }
    __nanosleep(1000);
  }
}

}  // namespace

step_profile::~step_profile() {
  for (cudaEvent_t e : events_) (void)cudaEventDestroy(e);
  if (flags_ != nullptr) (void)cudaFreeHost(flags_);
}

status step_profile::hold(double timeout_ms) {
  if (!active_) return status(status_code::failed_precondition, "hold() before start()");
  if (flags_ == nullptr) {
    void* p = nullptr;
    GPU_TRY_CUDA(cudaHostAlloc(&p, 2 * sizeof(int), cudaHostAllocMapped));
    flags_ = static_cast<int*>(p);
    void* d = nullptr;
    GPU_TRY_CUDA(cudaHostGetDevicePointer(&d, p, 0));
    flags_dev_ = static_cast<int*>(d);
  }
  GPU_TRY_CUDA(cudaStreamSynchronize(stream_));  // no earlier hold still reads the flags
  reinterpret_cast<volatile int*>(flags_)[0] = 0;
  reinterpret_cast<volatile int*>(flags_)[1] = 0;
#ifdef KAITO_CUDA_EMULATE
  return {};  // the emulation runs a kernel as it is enqueued: a hold could only time out
#endif
  KAITO_LAUNCH(1, 1, 0, stream_, hold_kernel)
  (flags_dev_, static_cast<unsigned long long>(timeout_ms * 1e6));
  GPU_TRY_CUDA(cudaGetLastError());
  return {};
}

void step_profile::release() {
  if (flags_ == nullptr) return;
  std::atomic_thread_fence(std::memory_order_seq_cst);
  reinterpret_cast<volatile int*>(flags_)[0] = 1;
}

bool step_profile::held_expired() const {
  return flags_ != nullptr && reinterpret_cast<volatile int*>(flags_)[1] != 0;
}

status step_profile::start(cudaStream_t stream, size_t max_marks) {
  if (active_) return status(status_code::failed_precondition, "profile already recording");
  if (max_marks < 1) return invalid_argument("max_marks must be >= 1", "max_marks");
  while (events_.size() < max_marks + 1) {  // +1: the closing event of stop()
    cudaEvent_t e = nullptr;
    GPU_TRY_CUDA(cudaEventCreate(&e));
    events_.push_back(e);
  }
  stream_ = stream;
  names_.clear();
  names_.reserve(max_marks);
  used_ = 0;
  overflow_ = false;
  active_ = true;
  return {};
}

void step_profile::mark(const char* name) {
  if (!active_) return;
  if (used_ + 1 >= events_.size()) {
    overflow_ = true;
    return;
  }
  if (cudaEventRecord(events_[used_], stream_) != cudaSuccess) {
    (void)cudaGetLastError();
    overflow_ = true;  // reported by stop()
    return;
  }
  names_.push_back(name);
  ++used_;
}

result<std::vector<segment_total>> step_profile::stop() {
  if (!active_) return status(status_code::failed_precondition, "profile not recording");
  active_ = false;
  if (overflow_)
    return status(status_code::resource_exhausted,
                  "more marks than events (" + std::to_string(events_.size() - 1) +
                      "), or an event record failed: start() with a larger max_marks",
                  "max_marks");
  if (used_ == 0) return std::vector<segment_total>{};
  GPU_TRY_CUDA(cudaEventRecord(events_[used_], stream_));
  GPU_TRY_CUDA(cudaEventSynchronize(events_[used_]));
  std::vector<double> ms(used_);
  for (size_t i = 0; i < used_; ++i) {
    float f = 0.0f;
    GPU_TRY_CUDA(cudaEventElapsedTime(&f, events_[i], events_[i + 1]));
    ms[i] = double(f);
  }
  return sum_segments(names_, ms);
}

}  // namespace kaito::gpu
