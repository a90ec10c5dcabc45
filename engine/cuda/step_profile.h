// step_profile: where a GPU step's time goes, by named segment, measured with CUDA events on the
// step's stream. The device hosts may refuse hardware counters (ncu) and have no Nsight Systems,
// so this is how bench/cuda/model_bench --profile and infer_bench --profile name the largest
// remaining cost (issue #6).
//
// mark(name) records an event and opens segment `name`, which runs until the next mark (or
// stop()): everything the stream executes in between is charged to it. Names are string
// literals (the pointer is kept); the same name may open many segments (one per layer), and
// stop() sums them. Events are created by start(), never while recording, so mark() costs one
// cudaEventRecord and allocates nothing. The events add a few microseconds per mark to the
// step; profile a separate step from the one you time. Not for CUDA graph capture (record the
// eager path instead).
// Thread-safety: the stream's host thread only.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace kaito::gpu {

struct segment_total {
  std::string name;
  double ms = 0.0;    // summed over the segments of this name
  int64_t count = 0;  // how many segments
};

// Totals by name, largest first (ties: by name), from the names of consecutive segments and
// their durations (names[i] lasted ms[i]). Host-only; what stop() returns.
std::vector<segment_total> sum_segments(const std::vector<const char*>& names,
                                        const std::vector<double>& ms);

class step_profile {
 public:
  step_profile() = default;
  ~step_profile();
  step_profile(const step_profile&) = delete;
  step_profile& operator=(const step_profile&) = delete;

  // Starts recording on `stream`, with events for up to max_marks marks.
  status start(cudaStream_t stream, size_t max_marks = 16384);
  bool active() const { return active_; }
  // Opens segment `name` (no-op when not active; marks past max_marks are dropped and stop()
  // reports resource_exhausted).
  void mark(const char* name);
  // Closes the last segment, waits for the stream, returns the totals and stops recording.
  result<std::vector<segment_total>> stop();

  // hold() parks the stream on a kernel that spins until release() (or timeout_ms), so that work
  // enqueued in between runs back to back once released and small kernels are measured without
  // the host's launch gaps. held_expired() after stop(): the timeout ended the hold first (the
  // host took longer to enqueue, or the launch queue filled), so the times include host gaps.
  status hold(double timeout_ms = 2000.0);
  void release();
  bool held_expired() const;

 private:
  cudaStream_t stream_ = nullptr;
  int* flags_ = nullptr;      // pinned, mapped: [0] release, [1] expired
  int* flags_dev_ = nullptr;  // the device's view of flags_
  std::vector<cudaEvent_t> events_;
  std::vector<const char*> names_;
  size_t used_ = 0;
  bool active_ = false, overflow_ = false;
};

// Charges what follows to `name` when p is recording (the one-liner the engine's steps use).
inline void profile_mark(step_profile* p, const char* name) {
  if (p != nullptr && p->active()) p->mark(name);
}

}  // namespace kaito::gpu
