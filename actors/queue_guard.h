// queue_guard: Kaito's queue-depth rate limit (its vLLM preset's rate_limit.py middleware). A
// generation request is turned away with HTTP 429 while the requests waiting for a batch slot
// outnumber the slots (max-num-seqs): a burst then fails fast at the server that cannot take it,
// and the client or a load balancer retries elsewhere, instead of queueing without bound.
//
//   queue_guard guard(service.max_batch());      // threshold 0: admits everything (disabled)
//   auto t = guard.admit(service.waiting());
//   if (!t.admitted()) reply 429 with rate_limit_body(t.effective(), guard.threshold());
//   ... answer; ~ticket ends the request's count
//
// The waiting count the engine reports lags admissions (a request is waiting only once it
// reached the batch), so, as Kaito's guard, the requests admitted and not yet answered count too:
// effective = max(waiting, pending - threshold), and a request is rejected when effective >
// threshold. Guarded: POST /v1/completions, /v1/chat/completions, /tokenize (Kaito's list) and
// this server's other generation routes, /v1/responses and /chat; never /health, /metrics,
// /v1/models. rejected() counts the 429s (kaito_ratelimit_rejected_total).
// Thread-safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace kaito::actors {

class queue_guard {
 public:
  explicit queue_guard(int64_t threshold) : threshold_(threshold) {}

  class ticket {
   public:
    // holder: the guard whose pending count it holds (null: none, rejected or disabled).
    ticket(queue_guard* holder, bool admitted, int64_t effective)
        : g_(holder), admitted_(admitted), effective_(effective) {}
    ticket(ticket&& o) noexcept : g_(o.g_), admitted_(o.admitted_), effective_(o.effective_) {
      o.g_ = nullptr;
    }
    ticket(const ticket&) = delete;
    ticket& operator=(const ticket&) = delete;
    ticket& operator=(ticket&&) = delete;
    ~ticket() {
      if (g_) g_->pending_.fetch_sub(1);
    }
    bool admitted() const { return admitted_; }
    int64_t effective() const { return effective_; }  // the waiting count it was judged on

   private:
    queue_guard* g_;  // set while it holds a pending count
    bool admitted_;
    int64_t effective_;
  };

  ticket admit(int64_t waiting);
  int64_t threshold() const { return threshold_; }
  uint64_t rejected() const { return rejected_.load(); }
  int64_t pending() const { return pending_.load(); }

 private:
  const int64_t threshold_;
  std::atomic<int64_t> pending_{0};
  std::atomic<uint64_t> rejected_{0};
};

// Whether a POST to `path` is a generation request the guard judges.
bool rate_limited_path(const std::string& path);

// Kaito's 429 body: {"error": {"message": "Too many requests: waiting queue (N) exceeds
// max-num-seqs (T).", "type": "requests", "param": null, "code": "rate_limit_exceeded"}}.
std::string rate_limit_body(int64_t effective, int64_t threshold);

}  // namespace kaito::actors
