// /metrics of the inference server (actors/serve_metrics.h over engine/serving_stats.h): vLLM's
// names, Prometheus' text format, cumulative histogram buckets ending at +Inf = count, escaped
// label values, LoRA modules in use.
#include "actors/serve_metrics.h"

#include <gtest/gtest.h>

#include <map>
#include <sstream>
#include <string>

namespace kaito::actors {
namespace {

// The sample lines (no comments) as name{labels} -> value text.
std::map<std::string, std::string> samples(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    auto sp = line.rfind(' ');
    out[line.substr(0, sp)] = line.substr(sp + 1);
  }
  return out;
}

TEST(serve_metrics, counters_gauges_and_histograms_in_vllm_names) {
  engine::serving_stats stats;
  stats.record(10, 4, engine::finish_reason::stop, 0.003, 0.2);
  stats.record(7, 16, engine::finish_reason::length, 0.05, 1.2);
  stats.record(5, 1, engine::finish_reason::abort, -1.0, 0.01);  // no first token
  engine::serving_snapshot s = stats.snapshot();
  s.running = 2;
  s.waiting = 3;
  s.preemptions = 4;
  s.kv_cache_usage = 0.25;
  s.prefix_cache_queries = 40;
  s.prefix_cache_hits = 32;
  const std::string text = prometheus_text(s, "phi-3");
  auto m = samples(text);
  const std::string l = "model_name=\"phi-3\"";
  EXPECT_EQ(m["vllm:num_requests_running{" + l + "}"], "2.0");
  EXPECT_EQ(m["vllm:num_requests_waiting{" + l + "}"], "3.0");
  EXPECT_EQ(m["vllm:num_preemptions_total{" + l + "}"], "4.0");
  EXPECT_EQ(m["vllm:gpu_cache_usage_perc{" + l + "}"], "0.25");
  EXPECT_EQ(m["vllm:prefix_cache_queries_total{" + l + "}"], "40.0");
  EXPECT_EQ(m["vllm:prefix_cache_hits_total{" + l + "}"], "32.0");
  EXPECT_EQ(m["vllm:prompt_tokens_total{" + l + "}"], "22.0");
  EXPECT_EQ(m["vllm:generation_tokens_total{" + l + "}"], "21.0");
  EXPECT_EQ(m["vllm:request_success_total{finished_reason=\"stop\"," + l + "}"], "1.0");
  EXPECT_EQ(m["vllm:request_success_total{finished_reason=\"length\"," + l + "}"], "1.0");
  EXPECT_EQ(m["vllm:request_success_total{finished_reason=\"abort\"," + l + "}"], "1.0");
  // Buckets are cumulative; +Inf equals the count; the answer without a token has no TTFT.
  const std::string ttft = "vllm:time_to_first_token_seconds";
  EXPECT_EQ(m[ttft + "_bucket{le=\"0.001\"," + l + "}"], "0.0");
  EXPECT_EQ(m[ttft + "_bucket{le=\"0.005\"," + l + "}"], "1.0");
  EXPECT_EQ(m[ttft + "_bucket{le=\"0.06\"," + l + "}"], "2.0");
  EXPECT_EQ(m[ttft + "_bucket{le=\"+Inf\"," + l + "}"], "2.0");
  EXPECT_EQ(m[ttft + "_count{" + l + "}"], "2.0");
  const std::string e2e = "vllm:e2e_request_latency_seconds";
  EXPECT_EQ(m[e2e + "_bucket{le=\"0.3\"," + l + "}"], "2.0");
  EXPECT_EQ(m[e2e + "_bucket{le=\"1.5\"," + l + "}"], "3.0");
  EXPECT_EQ(m[e2e + "_count{" + l + "}"], "3.0");
  EXPECT_NE(text.find("# TYPE vllm:prompt_tokens counter\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE " + ttft + " histogram\n"), std::string::npos);
  // Label values are escaped.
  auto odd = samples(prometheus_text(s, "a\"b\\c\nd"));
  EXPECT_EQ(odd.count("vllm:num_requests_waiting{model_name=\"a\\\"b\\\\c\\nd\"}"), 1u);
}

// With LoRA modules, vLLM's lora_requests_info: the modules of the running and the waiting
// answers, its value the time (as vLLM sets it); none without modules.
TEST(serve_metrics, lora_requests_info_names_the_modules_in_use) {
  engine::serving_snapshot s;
  EXPECT_EQ(prometheus_text(s, "phi-3").find("lora_requests_info"), std::string::npos);
  s.lora_modules = 3;
  s.running_loras = {"sql", "chat"};
  s.waiting_loras = {"x\"y"};
  const std::string text = prometheus_text(s, "phi-3");
  EXPECT_NE(text.find("# TYPE vllm:lora_requests_info gauge\n"), std::string::npos);
  auto m = samples(text);
  const std::string key =
      "vllm:lora_requests_info{max_lora=\"3\",running_lora_adapters=\"sql,chat\","
      "waiting_lora_adapters=\"x\\\"y\"}";
  ASSERT_EQ(m.count(key), 1u) << text;
  EXPECT_GT(std::stod(m[key]), 1.7e9);
}

// Kaito's rate limit counter, unlabelled, as prometheus_client writes a Counter.
TEST(serve_metrics, the_rate_limit_counter_as_kaito_registers_it) {
  EXPECT_EQ(rate_limit_metrics(3),
            "# HELP kaito_ratelimit_rejected Requests rejected with HTTP 429 by the KAITO "
            "queue-depth rate limit guard\n# TYPE kaito_ratelimit_rejected counter\n"
            "kaito_ratelimit_rejected_total 3.0\n");
}

}  // namespace
}  // namespace kaito::actors
