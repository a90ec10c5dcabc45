// serve_metrics: GET /metrics of the inference server, Prometheus' text format (0.0.4) with
// vLLM's metric names, so dashboards and autoscalers written for Kaito's vLLM runtime (KEDA on
// vllm:num_requests_waiting, say) read kaito-cpp the same way:
//   vllm:num_requests_running, vllm:num_requests_waiting          gauges
//   vllm:prompt_tokens_total, vllm:generation_tokens_total         counters
//   vllm:request_success_total{finished_reason="stop"|"length"|"abort"}
//   vllm:time_to_first_token_seconds, vllm:e2e_request_latency_seconds   histograms
// each labelled model_name="<served name>" (label values escaped as Prometheus says); with LoRA
// modules, vllm:lora_requests_info{max_lora, running_lora_adapters, waiting_lora_adapters} (the
// modules of the running and waiting answers, comma-separated; the value the time, as vLLM's:
// what a LoRA-aware router such as the Gateway API inference extension reads).
// Thread-safety: pure function (but for lora_requests_info's clock).
#pragma once

#include <cstdint>
#include <string>

#include "engine/serving_stats.h"

namespace kaito::actors {

inline constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

std::string prometheus_text(const engine::serving_snapshot& s, const std::string& model_name);

// Kaito's counter of the requests its queue-depth guard turned away with 429 (queue_guard.h),
// unlabelled as Kaito's rate_limit.py registers it: kaito_ratelimit_rejected_total.
std::string rate_limit_metrics(uint64_t rejected);

}  // namespace kaito::actors
