// grad_buckets: the bucket plan; see grad_buckets.h.
#include "kernels/grad_buckets.h"

#include <algorithm>
#include <string>

namespace kaito {

grad_buckets::grad_buckets(size_t bucket_bytes)
    : bucket_elements_(std::max<size_t>(1, bucket_bytes / sizeof(float))) {}

result<size_t> grad_buckets::add(size_t count) {
  if (sealed_) return status(status_code::failed_precondition, "grad_buckets: add() after seal()");
  if (count == 0) return invalid_argument("gradient of 0 elements", "count");
  if (buckets_.empty() ||
      (buckets_.back().elements > 0 && buckets_.back().elements + count > bucket_elements_))
    buckets_.emplace_back();
  grad_bucket& b = buckets_.back();
  grad_slot s{buckets_.size() - 1, b.elements, count};
  b.elements += count;
  b.slots.push_back(slots_.size());
  slots_.push_back(s);
  return slots_.size() - 1;
}

void grad_buckets::seal() {
  sealed_ = true;
  reset();
}

size_t grad_buckets::total_elements() const {
  size_t n = 0;
  for (const auto& b : buckets_) n += b.elements;
  return n;
}

result<std::optional<size_t>> grad_buckets::mark_ready(size_t index) {
  if (!sealed_)
    return status(status_code::failed_precondition, "grad_buckets: mark_ready() before seal()");
  if (index >= slots_.size())
    return invalid_argument(
        "no gradient " + std::to_string(index) + " (have " + std::to_string(slots_.size()) + ")",
        "index");
  if (ready_[index])
    return invalid_argument("gradient " + std::to_string(index) + " marked ready twice this step",
                            "index");
  ready_[index] = true;
  size_t b = slots_[index].bucket;
  if (--pending_[b] != 0) return std::optional<size_t>();
  ++complete_;
  return std::optional<size_t>(b);
}

void grad_buckets::reset() {
  ready_.assign(slots_.size(), false);
  pending_.resize(buckets_.size());
  for (size_t b = 0; b < buckets_.size(); ++b) pending_[b] = buckets_[b].slots.size();
  complete_ = 0;
}

}  // namespace kaito
