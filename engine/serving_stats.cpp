// Served-model counters; see serving_stats.h.
#include "engine/serving_stats.h"

namespace kaito::engine {

void latency_histogram::observe(double seconds) {
  for (size_t i = 0; i < bounds.size(); ++i)
    if (seconds <= bounds[i]) ++buckets[i];
  ++count;
  sum += seconds;
}

serving_stats::serving_stats() {
  // vLLM's buckets (vllm/engine/metrics.py).
  s_.time_to_first_token.bounds = {0.001, 0.005, 0.01, 0.02,  0.04,  0.06,  0.08, 0.1,
                                   0.25,  0.5,   0.75, 1.0,   2.5,   5.0,   7.5,  10.0,
                                   20.0,  40.0,  80.0, 160.0, 640.0, 2560.0};
  s_.e2e_latency.bounds = {0.3,  0.5,  0.8,  1.0,  1.5,   2.0,   2.5,   5.0,   10.0,   15.0,  20.0,
                           30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};
  s_.time_to_first_token.buckets.assign(s_.time_to_first_token.bounds.size(), 0);
  s_.e2e_latency.buckets.assign(s_.e2e_latency.bounds.size(), 0);
}

void serving_stats::record(int64_t prompt_tokens, int64_t generated_tokens, finish_reason why,
                           double ttft_s, double e2e_s) {
  std::lock_guard lock(mu_);
  s_.prompt_tokens += static_cast<uint64_t>(prompt_tokens);
  s_.generation_tokens += static_cast<uint64_t>(generated_tokens);
  (why == finish_reason::stop     ? s_.finished_stop
   : why == finish_reason::length ? s_.finished_length
                                  : s_.finished_abort)++;
  if (ttft_s >= 0) s_.time_to_first_token.observe(ttft_s);
  s_.e2e_latency.observe(e2e_s);
}

serving_snapshot serving_stats::snapshot() const {
  std::lock_guard lock(mu_);
  return s_;
}

}  // namespace kaito::engine
