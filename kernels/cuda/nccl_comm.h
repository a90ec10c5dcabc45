// nccl_comm: one rank of an NCCL communicator, and the bucketed gradient all-reduce that overlaps
// backward (GPU data-parallel training). The CPU counterpart with the same role is
// actors/ring_all_reduce (engine::all_reducer over the actor runtime).
//
// Bootstrap: rank 0 calls nccl_new_id() (works without a GPU: it only opens the bootstrap socket
// on this host), the 128 id bytes travel to the other ranks in actor messages (the ring
// rendezvous's roster blob, actors/ring_all_reduce.h), and every rank calls
// nccl_comm::init(id, rank, world, device). NCCL allows one rank per GPU.
//
// Collectives only enqueue on the given stream. A peer that dies makes NCCL hang in the
// collective unless the communicator is aborted: async_error() polls ncclCommGetAsyncError and
// abort() ends pending work, after which every call returns the recorded error.
//
// Thread-safety: one host thread per communicator (like a cudaStream_t).
#pragma once

#include <cuda_runtime_api.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "base/status.h"
#include "kernels/grad_buckets.h"

struct ncclComm;

namespace kaito {

inline constexpr size_t nccl_id_bytes = 128;  // NCCL_UNIQUE_ID_BYTES
using nccl_id = std::array<uint8_t, nccl_id_bytes>;

int nccl_version();  // e.g. 22809 for 2.28.9; no GPU needed
result<nccl_id> nccl_new_id();
status nccl_error_status(int nccl_result, const char* expr, const char* file, int line);

class nccl_comm {
 public:
  // Blocks until all `world` ranks called init with the same id (NCCL's own bootstrap).
  static result<std::unique_ptr<nccl_comm>> init(const nccl_id& id, int rank, int world,
                                                 int device);
  ~nccl_comm();
  nccl_comm(const nccl_comm&) = delete;
  nccl_comm& operator=(const nccl_comm&) = delete;

  int rank() const { return rank_; }
  int world() const { return world_; }
  // In-place sum over ranks of `count` elements of device memory, enqueued on `stream`.
  status all_reduce_sum_f32(float* dev, size_t count, cudaStream_t stream);
  status all_reduce_sum_bf16(void* dev, size_t count, cudaStream_t stream);
  // The communicator's asynchronous error, if any (a peer lost, a network failure).
  status async_error();
  void abort();

 private:
  nccl_comm() = default;
  ncclComm* comm_ = nullptr;
  int rank_ = 0;
  int world_ = 1;
  int device_ = 0;
  status broken_;
};

// Gradients of one step live in bucket storage owned here; as backward finishes a gradient,
// ready() records an event on the compute stream, and when its bucket is complete the bucket's
// all-reduce is enqueued on the comm stream behind that event — so earlier layers' backward and
// later buckets' communication overlap. finish() makes the compute stream wait for every bucket
// and scales by 1/world when `average` (DDP's mean).
class nccl_grad_bucketer {
 public:
  nccl_grad_bucketer(nccl_comm& comm, cudaStream_t compute, size_t bucket_bytes, bool average);
  ~nccl_grad_bucketer();
  nccl_grad_bucketer(const nccl_grad_bucketer&) = delete;
  nccl_grad_bucketer& operator=(const nccl_grad_bucketer&) = delete;

  // Registration in backward order, then allocate(): device storage for every bucket.
  result<size_t> add(size_t count);
  status allocate();
  float* grad(size_t index);  // the gradient's device storage (valid after allocate())

  status ready(size_t index);  // enqueue-only
  status finish();             // compute stream waits for all buckets; plan reset for the next step
                               // (also when refused: not every gradient marked ready)
  const grad_buckets& plan() const { return plan_; }

 private:
  nccl_comm& comm_;
  cudaStream_t compute_;
  cudaStream_t comm_stream_ = nullptr;
  bool average_;
  grad_buckets plan_;
  std::vector<float*> storage_;    // per bucket
  std::vector<cudaEvent_t> done_;  // per bucket, recorded on the comm stream
  cudaEvent_t grad_ready_ = nullptr;
};

}  // namespace kaito
