// nccl_comm and nccl_grad_bucketer; see nccl_comm.h.
#include "kernels/cuda/nccl_comm.h"

#include <nccl.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "kernels/cuda/cuda_context.h"
#include "kernels/cuda/launch.cuh"

namespace kaito {

namespace {

#define KAITO_NCCL(expr)                                                            \
  do {                                                                              \
    ncclResult_t r_ = (expr);                                                       \
    if (r_ != ncclSuccess) return nccl_error_status(r_, #expr, __FILE__, __LINE__); \
  } while (0)

#define KAITO_CUDA_OK(expr)                                                         \
  do {                                                                              \
    cudaError_t e_ = (expr);                                                        \
    if (e_ != cudaSuccess) return cuda_error_status(e_, #expr, __FILE__, __LINE__); \
  } while (0)

__global__ void scale_kernel(float* x, size_t n, float s) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n;
       i += size_t(gridDim.x) * blockDim.x)
    x[i] *= s;
}

}  // namespace

int nccl_version() {
  int v = 0;
  return ncclGetVersion(&v) == ncclSuccess ? v : 0;
}

status nccl_error_status(int nccl_result, const char* expr, const char* file, int line) {
  auto r = static_cast<ncclResult_t>(nccl_result);
  status_code code = status_code::internal;
  switch (r) {
    case ncclSystemError:
    case ncclRemoteError:
      code = status_code::unavailable;
      break;
    case ncclInvalidArgument:
    case ncclInvalidUsage:
      code = status_code::invalid_argument;
      break;
    case ncclInProgress:
      code = status_code::unavailable;
      break;
    default:
      break;
  }
  return status(code, std::string(ncclGetErrorString(r)) + " in " + expr,
                std::string(file) + ":" + std::to_string(line));
}

result<nccl_id> nccl_new_id() {
  ncclUniqueId u;
  KAITO_NCCL(ncclGetUniqueId(&u));
  nccl_id id;
  static_assert(sizeof(u.internal) == nccl_id_bytes);
  std::memcpy(id.data(), u.internal, nccl_id_bytes);
  return id;
}

result<std::unique_ptr<nccl_comm>> nccl_comm::init(const nccl_id& id, int rank, int world,
                                                   int device) {
  if (world < 1 || rank < 0 || rank >= world)
    return invalid_argument(
        "rank " + std::to_string(rank) + " outside world " + std::to_string(world), "rank");
  KAITO_CUDA_OK(cudaSetDevice(device));
  std::unique_ptr<nccl_comm> c(new nccl_comm());
  ncclUniqueId u;
  std::memcpy(u.internal, id.data(), nccl_id_bytes);
  KAITO_NCCL(ncclCommInitRank(&c->comm_, world, u, rank));
  c->rank_ = rank;
  c->world_ = world;
  c->device_ = device;
  return std::move(c);
}

nccl_comm::~nccl_comm() {
  if (!comm_) return;
  if (broken_.ok())
    ncclCommDestroy(comm_);
  else
    ncclCommAbort(comm_);
}

status nccl_comm::all_reduce_sum_f32(float* dev, size_t count, cudaStream_t stream) {
  if (!broken_.ok()) return broken_;
  if (count == 0) return {};
  KAITO_NCCL(ncclAllReduce(dev, dev, count, ncclFloat32, ncclSum, comm_, stream));
  return {};
}

status nccl_comm::all_reduce_sum_bf16(void* dev, size_t count, cudaStream_t stream) {
  if (!broken_.ok()) return broken_;
  if (count == 0) return {};
  KAITO_NCCL(ncclAllReduce(dev, dev, count, ncclBfloat16, ncclSum, comm_, stream));
  return {};
}

status nccl_comm::async_error() {
  if (!broken_.ok()) return broken_;
  ncclResult_t r = ncclSuccess;
  KAITO_NCCL(ncclCommGetAsyncError(comm_, &r));
  if (r != ncclSuccess && r != ncclInProgress)
    (void)(broken_ = nccl_error_status(r, "ncclCommGetAsyncError", __FILE__, __LINE__));
  return broken_;
}

void nccl_comm::abort() {
  if (broken_.ok()) (void)(broken_ = status(status_code::unavailable, "communicator aborted"));
}

nccl_grad_bucketer::nccl_grad_bucketer(nccl_comm& comm, cudaStream_t compute, size_t bucket_bytes,
                                       bool average)
    : comm_(comm), compute_(compute), average_(average), plan_(bucket_bytes) {}

nccl_grad_bucketer::~nccl_grad_bucketer() {
  for (float* p : storage_) cudaFree(p);
  for (cudaEvent_t e : done_) cudaEventDestroy(e);
  if (grad_ready_) cudaEventDestroy(grad_ready_);
  if (comm_stream_) cudaStreamDestroy(comm_stream_);
}

result<size_t> nccl_grad_bucketer::add(size_t count) {
  return plan_.add(count);
}

status nccl_grad_bucketer::allocate() {
  if (plan_.sealed()) return status(status_code::failed_precondition, "allocate() called twice");
  plan_.seal();
  KAITO_CUDA_OK(cudaStreamCreateWithFlags(&comm_stream_, cudaStreamNonBlocking));
  KAITO_CUDA_OK(cudaEventCreateWithFlags(&grad_ready_, cudaEventDisableTiming));
  for (size_t b = 0; b < plan_.num_buckets(); ++b) {
    float* p = nullptr;
    KAITO_CUDA_OK(cudaMalloc(&p, plan_.bucket(b).elements * sizeof(float)));
    storage_.push_back(p);
    cudaEvent_t e;
    KAITO_CUDA_OK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    done_.push_back(e);
  }
  return {};
}

float* nccl_grad_bucketer::grad(size_t index) {
  const grad_slot& s = plan_.slot(index);
  return storage_.empty() ? nullptr : storage_[s.bucket] + s.offset;
}

status nccl_grad_bucketer::ready(size_t index) {
  if (storage_.empty()) return status(status_code::failed_precondition, "allocate() first");
  KAITO_ASSIGN_OR_RETURN(auto complete, plan_.mark_ready(index));
  if (!complete) return {};
  size_t b = *complete;
  // The comm stream runs this bucket's all-reduce once the compute stream got this far.
  KAITO_CUDA_OK(cudaEventRecord(grad_ready_, compute_));
  KAITO_CUDA_OK(cudaStreamWaitEvent(comm_stream_, grad_ready_, 0));
  size_t n = plan_.bucket(b).elements;
  KAITO_TRY(comm_.all_reduce_sum_f32(storage_[b], n, comm_stream_));
  if (average_ && comm_.world() > 1) {
    int blocks = static_cast<int>(std::min<size_t>((n + 255) / 256, 1024));
    KAITO_LAUNCH(blocks, 256, 0, comm_stream_, scale_kernel)(storage_[b], n, 1.0f / comm_.world());
    KAITO_CUDA_OK(cudaGetLastError());
  }
  KAITO_CUDA_OK(cudaEventRecord(done_[b], comm_stream_));
  return {};
}

status nccl_grad_bucketer::finish() {
  if (!plan_.all_ready()) {
    plan_.reset();  // the step is abandoned; the next one starts with no gradient marked
    return status(status_code::failed_precondition,
                  "finish() before every gradient was marked ready");
  }
  for (cudaEvent_t e : done_) KAITO_CUDA_OK(cudaStreamWaitEvent(compute_, e, 0));
  plan_.reset();
  return comm_.async_error();
}

}  // namespace kaito
