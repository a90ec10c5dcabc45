// serving_stats: what a served model has done, for Prometheus' /metrics (vLLM's metric names,
// actors/serve_metrics.h): tokens in and out, finished answers by reason, and the latency
// histograms of the first token and of the whole answer. chat_service records one answer at a
// time; a snapshot adds the batch's running and waiting counts (batch_generator::load).
//
// Thread-safety: record() and snapshot() may be called from any thread.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace kaito::engine {

// Prometheus histogram: cumulative counts per upper bound (le), plus +Inf = count.
struct latency_histogram {
  std::vector<double> bounds;     // seconds, increasing
  std::vector<uint64_t> buckets;  // cumulative: answers at or under bounds[i]
  uint64_t count = 0;
  double sum = 0.0;
  void observe(double seconds);
};

enum class finish_reason { stop, length, abort };

struct serving_snapshot {
  int64_t running = 0, waiting = 0;  // sequences decoding now / waiting for a batch slot
  uint64_t preemptions = 0;          // answers sent back to wait (a paged KV cache ran out)
  double kv_cache_usage = 0.0;       // the share of a paged KV cache's blocks in use (0 unpaged)
  uint64_t prefix_cache_queries = 0, prefix_cache_hits = 0;  // prompt tokens looked up / found
  uint64_t prompt_tokens = 0, generation_tokens = 0;
  uint64_t finished_stop = 0, finished_length = 0, finished_abort = 0;
  latency_histogram time_to_first_token, e2e_latency;
  // LoRA modules (chat_service_config::lora_modules): how many are served (0: none, and no
  // lora_requests_info), and the names of those the running / waiting answers use.
  int64_t lora_modules = 0;
  std::vector<std::string> running_loras, waiting_loras;
};

class serving_stats {
 public:
  serving_stats();
  // One finished answer; ttft_s < 0 when no token came.
  void record(int64_t prompt_tokens, int64_t generated_tokens, finish_reason why, double ttft_s,
              double e2e_s);
  serving_snapshot snapshot() const;

 private:
  mutable std::mutex mu_;
  serving_snapshot s_;
};

}  // namespace kaito::engine
