// Kaito's queue-depth rate limit; see queue_guard.h.
#include "actors/queue_guard.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace kaito::actors {

queue_guard::ticket queue_guard::admit(int64_t waiting) {
  if (threshold_ <= 0) return ticket(nullptr, true, 0);  // disabled
  // Judged and counted in one step, so a burst of admissions cannot all read the same count.
  int64_t pending = pending_.load();
  for (;;) {
    const int64_t effective = std::max(waiting, pending - threshold_);
    if (effective > threshold_) {
      rejected_.fetch_add(1);
      return ticket(nullptr, false, effective);
    }
    if (pending_.compare_exchange_weak(pending, pending + 1)) return ticket(this, true, effective);
  }
}

bool rate_limited_path(const std::string& path) {
  return path == "/v1/completions" || path == "/v1/chat/completions" || path == "/tokenize" ||
         path == "/v1/responses" || path == "/chat";
}

std::string rate_limit_body(int64_t effective, int64_t threshold) {
  return nlohmann::ordered_json(
             {{"error",
               {{"message", "Too many requests: waiting queue (" + std::to_string(effective) +
                                ") exceeds max-num-seqs (" + std::to_string(threshold) + ")."},
                {"type", "requests"},
                {"param", nullptr},
                {"code", "rate_limit_exceeded"}}}})
      .dump();
}

}  // namespace kaito::actors
