// The parity harness behind tests/cuda/parity_test.cu (test-backend-ops in miniature).
//
// dev_buf: a device buffer with 256-byte guard bands on both sides, filled with a fixed pattern
// before every run and checked after it; outputs are poisoned with 0xFF bytes (NaN as fp32 and as
// bf16) so an unwritten element shows up as NaN. compare(): max relative error normalised by
// max |ref| (the engine issue's measure), NMSE as a second number, and hard failures on NaN, on an
// Inf whose sign differs from the reference, and on a touched guard band.
// Plain C++ + the CUDA runtime: no GoogleTest (GPU hosts may lack it). Not thread-safe.
#pragma once

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/dtype.h"

namespace kaito::parity {

// Test-side CUDA failures end the test with a message (the harness is a test main, not a layer).
inline void cuda_or_die(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "parity: %s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
  }
}

enum class elem { f32, bf16, u8, i32 };
inline size_t elem_size(elem t) {
  return t == elem::u8 ? 1 : t == elem::bf16 ? 2 : 4;
}

class dev_buf {
 public:
  static constexpr size_t kGuardBytes = 256;
  static constexpr uint8_t kGuardByte = 0xA5;
  static constexpr uint8_t kPoisonByte = 0xFF;  // NaN as fp32 (0xFFFFFFFF) and bf16 (0xFFFF)

  dev_buf(elem t, int64_t n) : t_(t), n_(n), bytes_(size_t(n) * elem_size(t)) {
    cuda_or_die(cudaMalloc(&base_, bytes_ + 2 * kGuardBytes), "cudaMalloc");
    poison();
  }
  ~dev_buf() { cudaFree(base_); }
  dev_buf(const dev_buf&) = delete;
  dev_buf& operator=(const dev_buf&) = delete;

  elem type() const { return t_; }
  int64_t size() const { return n_; }
  template <class T>
  T* as() {
    return reinterpret_cast<T*>(static_cast<char*>(base_) + kGuardBytes);
  }
  // Guards set, interior = host bytes (n elements of the buffer's type).
  void upload(const void* host) {
    cuda_or_die(cudaMemset(base_, kGuardByte, bytes_ + 2 * kGuardBytes), "memset guard");
    cuda_or_die(cudaMemcpy(as<char>(), host, bytes_, cudaMemcpyHostToDevice), "upload");
    // both go on the legacy default stream, which the context's non-blocking stream does not
    // wait for, and either may return before the device has the bytes
    cuda_or_die(cudaDeviceSynchronize(), "upload sync");
  }
  // Guards set, interior poisoned.
  void poison() {
    cuda_or_die(cudaMemset(base_, kGuardByte, bytes_ + 2 * kGuardBytes), "memset guard");
    cuda_or_die(cudaMemset(as<char>(), kPoisonByte, bytes_), "memset poison");
    cuda_or_die(cudaDeviceSynchronize(), "poison sync");  // (as in upload)
  }
  bool guards_intact() const {
    std::vector<uint8_t> g(kGuardBytes);
    const char* b = static_cast<const char*>(base_);
    for (const char* p : {b, b + kGuardBytes + bytes_}) {
      cuda_or_die(cudaMemcpy(g.data(), p, kGuardBytes, cudaMemcpyDeviceToHost), "guard read");
      for (uint8_t v : g)
        if (v != kGuardByte) return false;
    }
    return true;
  }
  // The interior widened to fp32 (f32 and bf16 buffers only).
  std::vector<float> to_float() const {
    std::vector<float> out(static_cast<size_t>(n_));
    const char* src = static_cast<const char*>(base_) + kGuardBytes;
    if (t_ == elem::f32) {
      cuda_or_die(cudaMemcpy(out.data(), src, bytes_, cudaMemcpyDeviceToHost), "download");
    } else {
      std::vector<bf16> h(static_cast<size_t>(n_));
      cuda_or_die(cudaMemcpy(h.data(), src, bytes_, cudaMemcpyDeviceToHost), "download");
      for (size_t i = 0; i < h.size(); ++i) out[i] = bf16_to_f32(h[i]);
    }
    return out;
  }

 private:
  elem t_;
  int64_t n_;
  size_t bytes_;
  void* base_ = nullptr;
};

// Random data: uniform in [-scale, scale], rounded to bf16 so the CPU twin (fp32) and the CUDA twin
// (bf16) see the same values. `bf` receives the bf16 copy.
inline std::vector<float> random_bf16_values(std::mt19937& rng, int64_t n, float scale,
                                             std::vector<bf16>& bf) {
  std::uniform_real_distribution<float> u(-scale, scale);
  std::vector<float> f(static_cast<size_t>(n));
  bf.resize(static_cast<size_t>(n));
  for (size_t i = 0; i < f.size(); ++i) {
    bf[i] = f32_to_bf16(u(rng));
    f[i] = bf16_to_f32(bf[i]);
  }
  return f;
}

inline std::vector<float> random_f32(std::mt19937& rng, int64_t n, float lo, float hi) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> f(static_cast<size_t>(n));
  for (float& v : f) v = u(rng);
  return f;
}

struct compare_result {
  double max_rel = 0.0;  // max |got - ref| / max |ref|
  double nmse = 0.0;     // sum (got - ref)^2 / sum ref^2
  std::string failure;   // empty when the values pass the hard checks (NaN, Inf sign, guards)
};

inline compare_result compare(const std::vector<float>& ref, const std::vector<float>& got,
                              bool guards_ok) {
  compare_result r;
  if (!guards_ok) r.failure = "guard band touched";
  if (ref.size() != got.size()) {
    r.failure = "size mismatch";
    return r;
  }
  double max_ref = 0.0, max_err = 0.0, se = 0.0, sr = 0.0;
  int64_t nan_at = -1, inf_at = -1;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double a = ref[i], b = got[i];
    if (std::isnan(b) && !std::isnan(a)) {
      if (nan_at < 0) nan_at = int64_t(i);
      continue;
    }
    if (std::isinf(a) || std::isinf(b)) {
      if (!(std::isinf(a) && std::isinf(b) && std::signbit(a) == std::signbit(b)) && inf_at < 0)
        inf_at = int64_t(i);
      continue;
    }
    if (std::isnan(a)) continue;  // NaN where the reference is NaN too
    max_ref = std::max(max_ref, std::fabs(a));
    max_err = std::max(max_err, std::fabs(a - b));
    se += (a - b) * (a - b);
    sr += a * a;
  }
  if (nan_at >= 0 && r.failure.empty())
    r.failure = "NaN at element " + std::to_string(nan_at) + " (unwritten or computed)";
  if (inf_at >= 0 && r.failure.empty())
    r.failure = "Inf mismatch at element " + std::to_string(inf_at);
  r.max_rel = max_ref > 0.0 ? max_err / max_ref : max_err;
  r.nmse = sr > 0.0 ? se / sr : se;
  return r;
}

}  // namespace kaito::parity
