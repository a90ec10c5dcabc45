// grad_reducer_test: gpu_trainer with an nccl_grad_reducer (engine/cuda/nccl_grad_reducer.h) on a
// one-rank communicator (the device hosts have one GPU; NCCL allows one rank per GPU). A sum over
// one rank is the identity, so every LoRA gradient must come out bit for bit as from a trainer
// without a reducer: this checks the plumbing (registration order, the copies into and out of the
// buckets, every bucket reduced and waited for, ready() for every gradient, the stream order)
// on the real NCCL path. Two steps, so the per-step reset is exercised too. Host part everywhere
// (the NCCL id; set_grad_reducer's precondition errors need a model, so they run on a GPU);
// exits 77 without a device.
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "engine/cuda/gpu_model.h"
#include "engine/cuda/nccl_grad_reducer.h"
#include "engine/cuda/train_step.h"
#include "kernels/cuda/cuda_context.h"
#include "tests/cuda/check_true.h"
#include "tests/cuda/device_readback.h"

namespace {

using ::kaito::testing::failures;

using namespace kaito;
using namespace kaito::gpu;

}  // namespace

int main() {
  auto id = nccl_new_id();
  CHECK_TRUE(id.ok(), "nccl_new_id: %s", id.ok() ? "" : id.error().to_string().c_str());
  if (cuda_device_count() == 0) {
    std::printf("no CUDA device: skipped (%d host failures)\n", failures);
    return failures ? 1 : 77;
  }
  auto cxr = cuda_context::create();
  CHECK_TRUE(cxr.ok(), "cuda_context: %s", cxr.ok() ? "" : cxr.error().to_string().c_str());
  if (!cxr.ok()) return 1;
  cuda_context& cx = **cxr;

  gpu_model_shape s;
  s.C = 128, s.L = 3, s.NH = 2, s.NKV = 1, s.HS = 64, s.I = 256, s.V = 512;
  const int64_t B = 2, T = 32, N = B * T;
  auto mr = gpu_model_random(cx, s, T, 7, /*lora_b_zero=*/false);  // B != 0: dA is not zero
  CHECK_TRUE(mr.ok(), "gpu_model_random: %s", mr.ok() ? "" : mr.error().to_string().c_str());
  if (!mr.ok()) return 1;
  gpu_model& m = *mr;

  train_options o;
  o.B = B, o.T = T, o.lora_dropout = 0.1f, o.seed = 5;
  auto plain = gpu_trainer::create(cx, m, o);
  auto dp = gpu_trainer::create(cx, m, o);
  CHECK_TRUE(plain.ok() && dp.ok(), "trainer::create");
  if (!plain.ok() || !dp.ok()) return 1;

  auto comm = nccl_comm::init(*id, 0, 1, cx.device());
  CHECK_TRUE(comm.ok(), "nccl_comm::init: %s", comm.ok() ? "" : comm.error().to_string().c_str());
  if (!comm.ok()) return 1;
  // Small buckets: several complete (and are reduced) while backward is still running.
  nccl_grad_reducer reducer(**comm, cx.stream(), 64 * 1024, /*average=*/true);
  const status st = (*dp)->set_grad_reducer(&reducer);
  CHECK_TRUE(st.ok(), "set_grad_reducer: %s", st.to_string().c_str());
  CHECK_TRUE(!(*dp)->set_grad_reducer(&reducer).ok(), "a second set_grad_reducer must fail");
  CHECK_TRUE(!reducer.add(nullptr, 4).ok(), "add(nullptr) must fail");

  std::mt19937 rng(3);
  std::vector<int32_t> ids(static_cast<size_t>(N)), targets(static_cast<size_t>(N));
  for (int step = 0; step < 2; ++step) {
    for (int64_t i = 0; i < N; ++i) {
      ids[size_t(i)] = int32_t(rng() % uint32_t(s.V));
      targets[size_t(i)] = i % 9 == 0 ? -100 : int32_t(rng() % uint32_t(s.V));
    }
    auto la = (*plain)->forward_backward(ids.data(), targets.data());
    CHECK_TRUE(la.ok(), "plain step %d: %s", step, la.ok() ? "" : la.error().to_string().c_str());
    const std::vector<float> want = testing::all_lora_grads(cx, m);
    auto lb = (*dp)->forward_backward(ids.data(), targets.data());
    CHECK_TRUE(lb.ok(), "reduced step %d: %s", step, lb.ok() ? "" : lb.error().to_string().c_str());
    const std::vector<float> got = testing::all_lora_grads(cx, m);
    CHECK_TRUE(la.ok() && lb.ok() && *la == *lb, "step %d: loss differs", step);
    size_t differ = 0, nonzero = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      differ += std::memcmp(&want[i], &got[i], sizeof(float)) != 0;
      nonzero += want[i] != 0.0f;
    }
    CHECK_TRUE(want.size() == got.size() && differ == 0, "step %d: %zu of %zu gradients differ",
               step, differ, want.size());
    CHECK_TRUE(nonzero > want.size() / 2, "step %d: only %zu of %zu gradients are non-zero", step,
               nonzero, want.size());
    std::printf("step %d: %zu LoRA gradient values, bit-identical through the one-rank reducer\n",
                step, want.size());
  }
  std::printf("%s (%d failures)\n", failures ? "FAILED" : "ok", failures);
  return failures ? 1 : 0;
}
