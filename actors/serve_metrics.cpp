// Prometheus text for the inference server; see serve_metrics.h.
#include "actors/serve_metrics.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace kaito::actors {

namespace {

std::string escaped(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

// The shortest text that reads back as v (Python's repr, which prometheus_client prints).
std::string number(double v) {
  char buf[64];
  if (std::isfinite(v) && v == std::trunc(v) && std::fabs(v) < 1e16) {  // 40.0, not 4e+01
    std::snprintf(buf, sizeof buf, "%.1f", v);
    return buf;
  }
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  std::string s = buf;
  if (s.find_first_of(".eni") == std::string::npos) s += ".0";  // as prometheus_client prints
  return s;
}

struct writer {
  std::string out;
  std::string model;  // model_name="..."
  void head(const char* name, const char* type, const char* help) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  void sample(const std::string& name, const std::string& extra_labels, double v) {
    out += name + "{" + extra_labels + model + "} " + number(v) + "\n";
  }
  void histogram(const char* name, const char* help, const engine::latency_histogram& h) {
    head(name, "histogram", help);
    const std::string n = name;
    for (size_t i = 0; i < h.bounds.size(); ++i)
      sample(n + "_bucket", "le=\"" + number(h.bounds[i]) + "\",", double(h.buckets[i]));
    sample(n + "_bucket", "le=\"+Inf\",", double(h.count));
    sample(n + "_count", "", double(h.count));
    sample(n + "_sum", "", h.sum);
  }
};

}  // namespace

std::string prometheus_text(const engine::serving_snapshot& s, const std::string& model_name) {
  writer w;
  w.model = "model_name=\"" + escaped(model_name) + "\"";
  w.head("vllm:num_requests_running", "gauge", "Number of requests currently running.");
  w.sample("vllm:num_requests_running", "", double(s.running));
  w.head("vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed.");
  w.sample("vllm:num_requests_waiting", "", double(s.waiting));
  w.head("vllm:gpu_cache_usage_perc", "gauge", "GPU KV-cache usage. 1 means 100 percent usage.");
  w.sample("vllm:gpu_cache_usage_perc", "", s.kv_cache_usage);
  w.head("vllm:num_preemptions", "counter", "Cumulative number of preemption from the engine.");
  w.sample("vllm:num_preemptions_total", "", double(s.preemptions));
  w.head("vllm:prefix_cache_queries", "counter",
         "Prefix cache queries, in terms of number of queried tokens.");
  w.sample("vllm:prefix_cache_queries_total", "", double(s.prefix_cache_queries));
  w.head("vllm:prefix_cache_hits", "counter",
         "Prefix cache hits, in terms of number of cached tokens.");
  w.sample("vllm:prefix_cache_hits_total", "", double(s.prefix_cache_hits));
  w.head("vllm:prompt_tokens", "counter", "Number of prefill tokens processed.");
  w.sample("vllm:prompt_tokens_total", "", double(s.prompt_tokens));
  w.head("vllm:generation_tokens", "counter", "Number of generation tokens processed.");
  w.sample("vllm:generation_tokens_total", "", double(s.generation_tokens));
  w.head("vllm:request_success", "counter", "Count of successfully processed requests.");
  w.sample("vllm:request_success_total", "finished_reason=\"stop\",", double(s.finished_stop));
  w.sample("vllm:request_success_total", "finished_reason=\"length\",", double(s.finished_length));
  w.sample("vllm:request_success_total", "finished_reason=\"abort\",", double(s.finished_abort));
  w.histogram("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.",
              s.time_to_first_token);
  w.histogram("vllm:e2e_request_latency_seconds",
              "Histogram of end to end request latency in seconds.", s.e2e_latency);
  if (s.lora_modules > 0) {  // (vLLM's, with LoRA enabled: no model_name; the value is the time)
    auto joined = [](const std::vector<std::string>& names) {
      std::string out;
      for (const std::string& n : names) out += (out.empty() ? "" : ",") + escaped(n);
      return out;
    };
    w.head("vllm:lora_requests_info", "gauge", "Running stats on lora requests.");
    const double now =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    w.out += "vllm:lora_requests_info{max_lora=\"" + std::to_string(s.lora_modules) +
             "\",running_lora_adapters=\"" + joined(s.running_loras) +
             "\",waiting_lora_adapters=\"" + joined(s.waiting_loras) + "\"} " + number(now) + "\n";
  }
  return w.out;
}

std::string rate_limit_metrics(uint64_t rejected) {
  writer w;
  w.head("kaito_ratelimit_rejected", "counter",
         "Requests rejected with HTTP 429 by the KAITO queue-depth rate limit guard");
  w.out += "kaito_ratelimit_rejected_total " + number(double(rejected)) + "\n";
  return w.out;
}

}  // namespace kaito::actors
