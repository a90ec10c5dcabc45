// Kaito's queue-depth rate limit (actors/queue_guard.h): the guard's arithmetic (in-flight
// requests hedging the lagging waiting count, one admission at a time under a burst), its 429
// body, and the inference routes with it: while an answer holds the only batch slot, requests
// queue until more wait than max-num-seqs, then generation routes answer 429 (never /health or
// /metrics), /metrics counts them, and --disable-rate-limit queues everything.
#include "actors/queue_guard.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/inference_routes.h"
#include "engine/chat_service.h"
#include "engine/model_weights.h"
#include "engine/sequence_decoder.h"
#include "tests/actors/captured_reply.h"
#include "tests/engine/forwarding_decoder.h"
#include "tests/engine/tiny_chat_model.h"

namespace kaito::actors {
namespace {

TEST(queue_guard, admits_until_more_wait_than_the_threshold) {
  queue_guard g(2);
  std::vector<queue_guard::ticket> held;
  for (int i = 0; i < 5; ++i) {  // 2 running, 2 waiting, and one more: 5 - 2 = 3 > 2 is not yet
    held.push_back(g.admit(0));
    EXPECT_TRUE(held.back().admitted()) << i;
  }
  auto sixth = g.admit(0);  // pending 5 - 2 = 3 waiting > 2
  EXPECT_FALSE(sixth.admitted());
  EXPECT_EQ(sixth.effective(), 3);
  EXPECT_EQ(g.pending(), 5);
  held.pop_back();
  EXPECT_EQ(g.pending(), 4);
  EXPECT_TRUE(g.admit(0).admitted());  // room again (released at once)
  auto reported = g.admit(3);          // the engine's own count alone is enough
  EXPECT_FALSE(reported.admitted());
  EXPECT_EQ(reported.effective(), 3);
  EXPECT_EQ(g.rejected(), 2u);
  held.clear();
  EXPECT_EQ(g.pending(), 0);

  queue_guard off(0);  // disabled: everything, uncounted
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(off.admit(100).admitted());
  EXPECT_EQ(off.pending(), 0);
  EXPECT_EQ(off.rejected(), 0u);
}

TEST(queue_guard, a_burst_is_judged_one_admission_at_a_time) {
  queue_guard g(3);
  std::atomic<int> admitted{0};
  std::vector<std::thread> burst;
  std::vector<std::unique_ptr<queue_guard::ticket>> held(64);
  for (int i = 0; i < 64; ++i)
    burst.emplace_back([&, i] {
      held[size_t(i)] = std::make_unique<queue_guard::ticket>(g.admit(0));
      if (held[size_t(i)]->admitted()) ++admitted;
    });
  for (auto& t : burst) t.join();
  EXPECT_EQ(admitted.load(), 2 * 3 + 1);  // 3 running + 3 waiting + the one judged at 3
  EXPECT_EQ(g.rejected(), uint64_t(64 - 7));
}

TEST(queue_guard, answers_kaitos_429_body_on_generation_routes) {
  const auto j = nlohmann::json::parse(rate_limit_body(5, 4));
  EXPECT_EQ(j["error"]["message"],
            "Too many requests: waiting queue (5) exceeds max-num-seqs (4).");
  EXPECT_EQ(j["error"]["type"], "requests");
  EXPECT_TRUE(j["error"]["param"].is_null());
  EXPECT_EQ(j["error"]["code"], "rate_limit_exceeded");
  for (const char* p :
       {"/v1/completions", "/v1/chat/completions", "/tokenize", "/v1/responses", "/chat"})
    EXPECT_TRUE(rate_limited_path(p)) << p;
  for (const char* p : {"/health", "/metrics", "/v1/models", "/", "/detokenize", "/version"})
    EXPECT_FALSE(rate_limited_path(p)) << p;
}

// One batch slot whose first decode step waits for `release`: the first answer holds the slot,
// the next ones wait.
TEST(queue_guard, the_routes_turn_away_what_would_queue_past_max_num_seqs) {
  const std::string dir = testing::tiny_chat_model_folder("queue-guard");
  auto model = engine::load_model(dir);
  ASSERT_TRUE(model.ok()) << model.error().to_string();
  std::shared_ptr<engine::model> keep = *model;
  for (const bool limit : {true, false}) {
    std::atomic<bool> release{false};
    engine::chat_service_config cfg;
    cfg.model_dir = dir;
    cfg.max_batch = 1;
    cfg.make_decoder =
        [&](const engine::chat_service_config& c,
            const engine::model_config&) -> result<std::unique_ptr<engine::sequence_decoder>> {
      auto d = std::make_unique<testing::forwarding_decoder>(
          engine::make_cpu_decoder(*keep, c.max_batch));
      d->hold_first_decode([&] { return release.load(); });
      return std::unique_ptr<engine::sequence_decoder>(std::move(d));
    };
    auto svc = engine::chat_service::load(cfg);
    ASSERT_TRUE(svc.ok()) << svc.error().to_string();
    const http_handler routes =
        inference_routes(**svc, "tiny", api::tool_call_format::none, {.rate_limit = limit});
    const std::string body = R"({"model":"tiny","prompt":"hello","max_tokens":3})";
    auto post = [&](testing::captured_reply& out) {
      routes({"POST", "/v1/completions", "/v1/completions", "", "application/json", body}, out);
    };
    auto wait_for = [&](auto done) {
      for (int i = 0; i < 2000 && !done(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      return done();
    };
    // A runs (held at its first step), B and C wait: 2 waiting > 1 is not yet reached.
    std::vector<testing::captured_reply> queued(3);
    std::vector<std::thread> clients;
    for (int i = 0; i < 3; ++i) {
      clients.emplace_back([&, i] { post(queued[size_t(i)]); });
      ASSERT_TRUE(wait_for([&] {
        const auto s = (*svc)->stats();
        return s.running + s.waiting == i + 1;
      })) << "request "
          << i << " never reached the batch";
    }
    testing::captured_reply turned_away;  // limited: 429 at once; else it waits too
    std::thread fourth([&] { post(turned_away); });
    if (limit) {
      fourth.join();
      EXPECT_EQ(turned_away.status, 429) << turned_away.body;
      EXPECT_NE(turned_away.body.find("\"code\":\"rate_limit_exceeded\""), std::string::npos)
          << turned_away.body;
      testing::captured_reply health, metrics;
      routes({"GET", "/health", "/health", "", "", ""}, health);
      EXPECT_EQ(health.status, 200);
      routes({"GET", "/metrics", "/metrics", "", "", ""}, metrics);
      EXPECT_NE(metrics.body.find("\nkaito_ratelimit_rejected_total 1.0\n"), std::string::npos)
          << metrics.body;
    } else {
      EXPECT_TRUE(wait_for([&] { return (*svc)->stats().waiting == 3; }));
    }
    release = true;
    for (auto& t : clients) t.join();
    if (fourth.joinable()) fourth.join();
    for (const auto& r : queued) EXPECT_EQ(r.status, 200) << r.body;
    if (!limit) EXPECT_EQ(turned_away.status, 200) << turned_away.body;
  }
}

}  // namespace
}  // namespace kaito::actors
