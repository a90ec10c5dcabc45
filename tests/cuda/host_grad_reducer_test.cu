// host_grad_reducer_test: gpu_trainer with a host_grad_reducer (engine/cuda/host_grad_reducer.h),
// the gpu_grad_reducer over an engine::all_reducer (the CPU ring's interface). In-process
// all_reducers stand in for the ring (which tests/actors/ring_all_reduce_test runs across
// processes): local (one rank: the identity), mirror (world 2, every rank holding the same
// gradients: the sum doubles them), failing (a lost peer). Checks, two steps each:
//   local, average            grads bit-identical to a trainer without a reducer
//   mirror, average           bit-identical too (2g / 2 is exact)
//   mirror, sum               exactly 2 x the plain grads
//   failing                   forward_backward returns the all_reducer's error, naming the peer
//   protocol                  finish() with a gradient not marked ready, or one marked twice, is
//                             failed_precondition; add() after seal() too
// Exit 0 all pass, 1 any failure, 77 without a CUDA device.
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/all_reduce.h"
#include "engine/cuda/gpu_model.h"
#include "engine/cuda/host_grad_reducer.h"
#include "engine/cuda/train_step.h"
#include "kernels/cuda/cuda_context.h"
#include "tests/cuda/device_readback.h"

namespace {

using namespace kaito;
using namespace kaito::gpu;

int failures = 0;
void expect(bool ok, const std::string& what) {
  if (!ok) ++failures;
  std::printf("  %-64s %s\n", what.c_str(), ok ? "ok" : "FAIL");
}

class mirror_reducer final : public engine::all_reducer {
 public:
  uint32_t rank() const override { return 0; }
  uint32_t world_size() const override { return 2; }
  status all_reduce_sum(float* data, size_t count) override {
    for (size_t i = 0; i < count; ++i) data[i] += data[i];
    ++calls;
    return {};
  }
  int calls = 0;
};

class failing_reducer final : public engine::all_reducer {
 public:
  uint32_t rank() const override { return 0; }
  uint32_t world_size() const override { return 2; }
  status all_reduce_sum(float*, size_t) override {
    return status(status_code::unavailable, "rank 1 lost (test)", "peer");
  }
};

size_t count_differ(const std::vector<float>& a, const std::vector<float>& b, float scale) {
  if (a.size() != b.size()) return a.size() + b.size();
  size_t d = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const float want = a[i] * scale;
    d += std::memcmp(&want, &b[i], sizeof(float)) != 0;
  }
  return d;
}

}  // namespace

int main() {
  if (cuda_device_count() == 0) {
    std::printf("no CUDA device: skipped\n");
    return 77;
  }
  auto cxr = cuda_context::create();
  if (!cxr.ok()) {
    std::printf("FAIL cuda_context: %s\n", cxr.error().to_string().c_str());
    return 1;
  }
  cuda_context& cx = **cxr;
  std::printf("device: %s\n", cx.device_name().c_str());

  gpu_model_shape s;
  s.C = 128, s.L = 2, s.NH = 2, s.NKV = 1, s.HS = 64, s.I = 256, s.V = 512;
  const int64_t B = 2, T = 32, N = B * T;
  auto mr = gpu_model_random(cx, s, T, 11, /*lora_b_zero=*/false);
  if (!mr.ok()) {
    std::printf("FAIL gpu_model_random: %s\n", mr.error().to_string().c_str());
    return 1;
  }
  gpu_model& m = *mr;
  train_options o;
  o.B = B, o.T = T, o.seed = 3;

  std::mt19937 rng(9);
  std::vector<int32_t> ids(static_cast<size_t>(N)), targets(static_cast<size_t>(N));
  auto next_batch = [&] {
    for (int64_t i = 0; i < N; ++i) {
      ids[size_t(i)] = int32_t(rng() % uint32_t(s.V));
      targets[size_t(i)] = i % 7 == 0 ? -100 : int32_t(rng() % uint32_t(s.V));
    }
  };

  auto plain = gpu_trainer::create(cx, m, o);
  if (!plain.ok()) {
    std::printf("FAIL trainer: %s\n", plain.error().to_string().c_str());
    return 1;
  }
  engine::local_all_reducer local;
  mirror_reducer mirror_avg, mirror_sum;
  struct variant {
    const char* name;
    engine::all_reducer* r;
    bool average;
    float scale;
  };
  for (const variant& v : {variant{"local, average", &local, true, 1.0f},
                           variant{"mirror (world 2), average", &mirror_avg, true, 1.0f},
                           variant{"mirror (world 2), sum", &mirror_sum, false, 2.0f}}) {
    auto tr = gpu_trainer::create(cx, m, o);
    host_grad_reducer reducer(*v.r, cx.stream(), v.average);
    const status st = tr.ok() ? (*tr)->set_grad_reducer(&reducer) : tr.error();
    expect(st.ok(), std::string(v.name) + ": set_grad_reducer " + st.to_string());
    if (!st.ok()) continue;
    expect(!reducer.add(reinterpret_cast<float*>(m.lm_head.get()), 4).ok(),
           std::string(v.name) + ": add() after seal() fails");
    for (int step = 0; step < 2; ++step) {
      next_batch();
      auto la = (*plain)->forward_backward(ids.data(), targets.data());
      const std::vector<float> want = testing::all_lora_grads(cx, m);
      auto lb = (*tr)->forward_backward(ids.data(), targets.data());
      const std::vector<float> got = testing::all_lora_grads(cx, m);
      expect(la.ok() && lb.ok() && *la == *lb,
             std::string(v.name) + ": step " + std::to_string(step) + " same loss");
      const size_t d = count_differ(want, got, v.scale);
      expect(d == 0, std::string(v.name) + ": step " + std::to_string(step) + " grads x" +
                         std::to_string(int(v.scale)) + " bit for bit (" + std::to_string(d) +
                         " of " + std::to_string(want.size()) + " differ)");
    }
  }
  expect(mirror_avg.calls == 2 && mirror_sum.calls == 2, "one all_reduce_sum per step");

  {  // a lost peer comes back as the step's error
    failing_reducer bad;
    auto tr = gpu_trainer::create(cx, m, o);
    host_grad_reducer reducer(bad, cx.stream());
    const bool set = tr.ok() && (*tr)->set_grad_reducer(&reducer).ok();
    next_batch();
    auto l = set ? (*tr)->forward_backward(ids.data(), targets.data())
                 : result<double>(status(status_code::internal, "no trainer"));
    expect(set && !l.ok() && l.error().to_string().find("rank 1 lost") != std::string::npos,
           "failing all_reducer: " + (l.ok() ? std::string("no error") : l.error().to_string()));
  }
  {  // protocol errors
    mirror_reducer r;
    host_grad_reducer reducer(r, cx.stream());
    auto buf = device_buffer::alloc(64 * sizeof(float), "test grads");
    if (!buf.ok()) return 1;
    (void)reducer.add(buf->as<float>(), 32);
    (void)reducer.add(buf->as<float>() + 32, 32);
    expect(reducer.seal().ok() && reducer.staged_floats() == 64, "seal stages 64 floats");
    expect(reducer.ready(0).ok(), "ready(0)");
    expect(!reducer.ready(0).ok(), "ready(0) twice in a step fails");
    expect(!reducer.ready(2).ok(), "ready(2) (never added) fails");
    const status f = reducer.finish();
    expect(f.code() == status_code::failed_precondition,
           "finish() with gradient 1 not ready: " + f.to_string());
    expect(reducer.ready(0).ok() && reducer.ready(1).ok() && reducer.finish().ok(),
           "a full step after the refused one");
  }
  std::printf("%s (%d failures)\n", failures ? "FAILED" : "PASS", failures);
  return failures ? 1 : 0;
}
