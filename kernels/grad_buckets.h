// grad_buckets: the bucket plan of a gradient all-reduce overlapped with backward (the reducer of
// PyTorch DDP, torch/csrc/distributed/c10d/reducer.cpp, in miniature). Host logic only: the NCCL
// bucketer (kernels/cuda/nccl_comm.h) and CPU reducers share it.
//
// Gradients are registered in the order backward finishes them (last layer first). Consecutive
// gradients are packed into buckets of at most bucket_bytes (a gradient larger than that gets a
// bucket of its own); every gradient has an offset inside its bucket's flat storage, so one
// collective per bucket reduces all of them without copies. As backward marks a gradient ready,
// mark_ready() says which bucket (if any) just became complete and may be reduced while backward
// continues. reset() starts the next step.
//
//   grad_buckets plan(25 << 20);
//   for (auto& g : grads_in_backward_order) g.slot = plan.add(g.count);
//   plan.seal();
//   ... if (auto b = plan.mark_ready(slot)) launch_all_reduce(*b);
//
// Errors: add() after seal(), mark_ready of an unknown or already-ready slot -> status
// (failed_precondition / invalid_argument), the plan unchanged.
// Thread-safety: one thread (the one driving backward).
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "base/status.h"

namespace kaito {

struct grad_slot {
  size_t bucket = 0;
  size_t offset = 0;  // elements from the bucket's start
  size_t count = 0;   // elements
};

struct grad_bucket {
  size_t elements = 0;        // total elements of its gradients
  std::vector<size_t> slots;  // gradient indices it holds
};

class grad_buckets {
 public:
  // bucket_bytes: target bucket size in bytes (elements are 4 bytes, fp32).
  explicit grad_buckets(size_t bucket_bytes);

  // Registers a gradient of `count` elements; returns its index.
  result<size_t> add(size_t count);
  void seal();  // no more add(); buckets fixed
  bool sealed() const { return sealed_; }

  const grad_slot& slot(size_t index) const { return slots_[index]; }
  const grad_bucket& bucket(size_t b) const { return buckets_[b]; }
  size_t num_slots() const { return slots_.size(); }
  size_t num_buckets() const { return buckets_.size(); }
  size_t total_elements() const;

  // Gradient `index` is final. Returns the bucket that this completed, if any.
  result<std::optional<size_t>> mark_ready(size_t index);
  bool all_ready() const { return complete_ == buckets_.size(); }
  void reset();  // every gradient pending again (next step)

 private:
  size_t bucket_elements_;
  bool sealed_ = false;
  std::vector<grad_slot> slots_;
  std::vector<grad_bucket> buckets_;
  std::vector<bool> ready_;
  std::vector<size_t> pending_;  // per bucket: gradients not ready yet
  size_t complete_ = 0;
};

}  // namespace kaito
