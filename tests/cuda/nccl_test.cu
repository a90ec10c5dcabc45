// NCCL communicator and gradient bucketer. Host-only part (runs everywhere nvcc does): the
// version and a unique id (NCCL's bootstrap needs no GPU). On a GPU: a one-rank communicator
// (NCCL allows one rank per GPU, and the device hosts have one), the bucketer's storage layout,
// overlap plumbing and in-place reduce of three buckets, checked element by element. Exits 77
// (CTest: skipped) for the GPU part when there is no device.
#include <cstdio>
#include <vector>

#include "kernels/cuda/cuda_context.h"
#include "kernels/cuda/nccl_comm.h"
#include "tests/cuda/check_true.h"

namespace {

using ::kaito::testing::failures;

}  // namespace

int main() {
  using namespace kaito;
  int v = nccl_version();
  CHECK_TRUE(v >= 21800, "NCCL version %d", v);
  auto id = nccl_new_id();
  CHECK_TRUE(id.ok(), "%s", id.ok() ? "" : id.error().to_string().c_str());
  if (id.ok()) {
    bool nonzero = false;
    for (uint8_t b : *id) nonzero |= b != 0;
    CHECK_TRUE(nonzero, "unique id is all zero");
  }
  std::printf("host part: NCCL %d, unique id %s\n", v, id.ok() ? "ok" : "failed");
  if (cuda_device_count() == 0) {
    std::printf("no CUDA device: GPU part skipped (%d failures)\n", failures);
    return failures ? 1 : 77;
  }
  auto comm = nccl_comm::init(*id, 0, 1, 0);
  CHECK_TRUE(comm.ok(), "%s", comm.ok() ? "" : comm.error().to_string().c_str());
  if (!comm.ok()) return 1;
  cudaStream_t s;
  cudaStreamCreate(&s);
  nccl_grad_bucketer bk(**comm, s, 1000 * sizeof(float), /*average=*/true);
  std::vector<size_t> counts = {600, 300, 900, 5000, 7};
  for (size_t c : counts) CHECK_TRUE(bk.add(c).ok(), "add");
  CHECK_TRUE(bk.allocate().ok(), "allocate");
  CHECK_TRUE(bk.plan().num_buckets() == 4, "buckets %zu", bk.plan().num_buckets());
  for (int step = 0; step < 2; ++step) {
    for (size_t i = 0; i < counts.size(); ++i) {
      std::vector<float> h(counts[i]);
      for (size_t k = 0; k < h.size(); ++k) h[k] = float(i * 10000 + k + step);
      cudaMemcpyAsync(bk.grad(i), h.data(), h.size() * 4, cudaMemcpyHostToDevice, s);
      auto st = bk.ready(i);
      CHECK_TRUE(st.ok(), "ready(%zu): %s", i, st.to_string().c_str());
    }
    auto st = bk.finish();
    CHECK_TRUE(st.ok(), "finish: %s", st.to_string().c_str());
    cudaStreamSynchronize(s);
    for (size_t i = 0; i < counts.size(); ++i) {
      std::vector<float> h(counts[i]);
      cudaMemcpy(h.data(), bk.grad(i), h.size() * 4, cudaMemcpyDeviceToHost);
      for (size_t k = 0; k < h.size(); ++k)
        if (h[k] != float(i * 10000 + k + step)) {
          CHECK_TRUE(false, "step %d grad %zu[%zu] = %g", step, i, k, h[k]);
          break;
        }
    }
  }
  CHECK_TRUE(bk.finish().code() == status_code::failed_precondition, "finish twice");
  std::printf("nccl_test: %d failures\n", failures);
  return failures ? 1 : 0;
}
