// serve_unit with an engine of the worker's choosing (serve_unit_env::decoder, what a CUDA slot's
// worker passes: cli/cmd_worker.cpp): the factory gets the pod's model folder and its inference
// config's max-num-seqs / max-model-len, its error fails the unit, and a decoder it builds serves;
// an engine failing while serving turns /health to 503 and ends the unit (the pod restarts).
#include "actors/serve_unit.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "actors/gpu_worker.h"
#include "actors/http_server.h"
#include "actors/inference_routes.h"
#include "engine/chat_service.h"
#include "engine/model_weights.h"
#include "engine/sequence_decoder.h"
#include "tests/actors/captured_reply.h"
#include "tests/engine/failing_decoder.h"
#include "tests/engine/forwarding_decoder.h"
#include "tests/engine/tiny_chat_model.h"

namespace kaito::actors {
namespace {

namespace fs = std::filesystem;

struct seen_call {
  int calls = 0;
  std::string model_dir;
  int64_t max_batch = 0, max_model_len = 0;
};

serve_args args_for(const std::string& model_dir) {
  serve_args a;
  a.preset = "tiny";
  a.model_dir = model_dir;
  a.port = 0;  // any free port
  return a;
}

std::string pod_root_with_config(const std::string& name, const std::string& yaml) {
  const fs::path root = fs::temp_directory_path() / ("kaito-serve-unit-" + name);
  fs::remove_all(root);
  fs::create_directories(root / "mnt/config");
  std::ofstream(root / "mnt/config/inference_config.yaml") << yaml;
  return root.string();
}

// POST /v1/completions with `body` to 127.0.0.1:port: the answer's status (-1 when the connection
// broke) and body.
std::pair<int, std::string> post_completion(uint16_t port, const std::string& body) {
  namespace net = boost::asio;
  namespace http = boost::beast::http;
  net::io_context io;
  net::ip::tcp::socket sock(io);
  sock.connect({net::ip::make_address("127.0.0.1"), port});
  http::request<http::string_body> req{http::verb::post, "/v1/completions", 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  http::write(sock, req);
  boost::beast::flat_buffer buf;
  http::response<http::string_body> res;
  boost::system::error_code ec;
  http::read(sock, buf, res, ec);
  return {ec ? -1 : res.result_int(), res.body()};
}

// A short completion, whatever comes back.
void post_chat(uint16_t port) {
  (void)post_completion(port, R"({"model": "tiny", "prompt": "hello", "max_tokens": 5})");
}

TEST(serve_unit, the_workers_engine_gets_the_folder_and_the_inference_config) {
  const std::string dir = testing::tiny_chat_model_folder("serve-unit-a");
  serve_unit_env env;
  env.root = pod_root_with_config("a", "vllm:\n  max-num-seqs: 3\n  max-model-len: 100\n");
  seen_call seen;
  env.decoder =
      [&](const engine::chat_service_config& c,
          const engine::model_config&) -> result<std::unique_ptr<engine::sequence_decoder>> {
    ++seen.calls;
    seen.model_dir = c.model_dir;
    seen.max_batch = c.max_batch;
    seen.max_model_len = c.max_model_len;
    return status(status_code::failed_precondition, "no GPU in this test", "--device");
  };
  std::atomic<bool> cancel{false};
  const status st = run_serve_unit(args_for(dir), env, cancel, {});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.to_string().find("no GPU in this test"), std::string::npos) << st.to_string();
  EXPECT_EQ(seen.calls, 1);
  EXPECT_EQ(seen.model_dir, dir);
  EXPECT_EQ(seen.max_batch, 3);
  EXPECT_EQ(seen.max_model_len, 100);
}

TEST(serve_unit, serves_on_the_decoder_the_worker_builds) {
  const std::string dir = testing::tiny_chat_model_folder("serve-unit-b");
  auto model = engine::load_model(dir);
  ASSERT_TRUE(model.ok()) << model.error().to_string();
  std::shared_ptr<engine::model> keep = *model;
  serve_unit_env env;
  env.root = pod_root_with_config("b", "vllm:\n  max-num-seqs: 2\n");
  int calls = 0;
  env.decoder =
      [&](const engine::chat_service_config& c,
          const engine::model_config&) -> result<std::unique_ptr<engine::sequence_decoder>> {
    ++calls;
    return engine::make_cpu_decoder(*keep, c.max_batch);
  };
  std::atomic<bool> cancel{false};
  std::string ready;
  const status st = run_serve_unit(args_for(dir), env, cancel, [&](const std::string& text) {
    ready = text;
    cancel = true;  // listening: stop
  });
  ASSERT_TRUE(st.ok()) << st.to_string();
  EXPECT_EQ(calls, 1);
  EXPECT_NE(ready.find("serving tiny on :"), std::string::npos) << ready;
  EXPECT_NE(ready.find("max-num-seqs 2"), std::string::npos) << ready;
}

using testing::captured_reply;

TEST(serve_unit, a_failed_engine_turns_health_503_and_ends_the_unit) {
  const std::string dir = testing::tiny_chat_model_folder("serve-unit-c");
  auto model = engine::load_model(dir);
  ASSERT_TRUE(model.ok()) << model.error().to_string();
  std::shared_ptr<engine::model> keep = *model;
  auto broken =
      [keep](const engine::chat_service_config& c,
             const engine::model_config&) -> result<std::unique_ptr<engine::sequence_decoder>> {
    return std::unique_ptr<engine::sequence_decoder>(new testing::failing_decoder(
        *keep, c.max_batch, 1,
        status(status_code::internal, "an illegal memory access was encountered", "cuda")));
  };
  // the routes: healthy until a step fails, then 503 naming the failure
  engine::chat_service_config cfg;
  cfg.model_dir = dir;
  cfg.make_decoder = broken;
  auto svc = engine::chat_service::load(cfg);
  ASSERT_TRUE(svc.ok()) << svc.error().to_string();
  const http_handler routes = inference_routes(**svc, "tiny", api::tool_call_format::none);
  captured_reply before;
  routes({"GET", "/health", "/health", "", "", ""}, before);
  EXPECT_EQ(before.status, 200);
  engine::chat_options o;
  o.max_tokens = 5;
  EXPECT_FALSE((*svc)->complete_text("hello", o).ok());
  captured_reply after;
  routes({"GET", "/health", "/health", "", "", ""}, after);
  EXPECT_EQ(after.status, 503);
  EXPECT_NE(after.body.find("Unhealthy"), std::string::npos) << after.body;
  EXPECT_NE(after.body.find("illegal memory access"), std::string::npos) << after.body;

  // the unit: a chat that breaks the engine ends it with the failure (the pod restarts)
  serve_unit_env env;
  env.root = pod_root_with_config("c", "");
  env.decoder = broken;
  std::atomic<bool> cancel{false};
  std::thread client;
  const status st = run_serve_unit(args_for(dir), env, cancel, [&](const std::string& text) {
    const auto colon = text.find(" on :");
    const int port = std::stoi(text.substr(colon + 5));
    client = std::thread([port] { post_chat(uint16_t(port)); });
  });
  if (client.joinable()) client.join();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.where(), "engine");
  EXPECT_NE(st.to_string().find("the engine failed: cuda: an illegal memory access"),
            std::string::npos)
      << st.to_string();

  // as a worker runs it: reason EngineFailed (the worker process then exits for a fresh one)
  uint16_t port = 0;
  {
    namespace net = boost::asio;
    net::io_context io;
    net::ip::tcp::acceptor probe(io, {net::ip::make_address("127.0.0.1"), 0});
    port = probe.local_endpoint().port();
  }
  msg::work_unit u;
  u.uid = "uid-c";
  u.pod = "default/serve-c";
  u.root = pod_root_with_config("c2", "");
  u.args = {"--task=serve", "--preset=tiny", "--model-dir=" + dir,
            "--port=" + std::to_string(port)};
  worker_engines engines;
  engines.decoder = broken;
  std::atomic<bool> cancel2{false};
  std::thread client2;
  const msg::work_done done = execute_work_unit(
      u, cancel2,
      [&](msg::work_progress p) {
        if (p.ready && !client2.joinable()) client2 = std::thread([port] { post_chat(port); });
      },
      engines);
  if (client2.joinable()) client2.join();
  EXPECT_EQ(done.exit_code, 1);
  EXPECT_EQ(done.reason, kEngineFailed) << done.message;
}

// A CPU decoder whose steps take 20 ms each: an answer stays in progress long enough to stop the
// unit under it. `decoding` turns true at the first step.
class slow_decoder final : public testing::forwarding_decoder {
 public:
  slow_decoder(const engine::model& m, int64_t slots, std::atomic<bool>* decoding)
      : forwarding_decoder(engine::make_cpu_decoder(m, slots)), decoding_(decoding) {}
  status decode(const std::vector<int64_t>& slots, const std::vector<int32_t>& ids,
                std::vector<float>* logits) override {
    *decoding_ = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return forwarding_decoder::decode(slots, ids, logits);
  }

 private:
  std::atomic<bool>* decoding_;
};

// A completion of 30 tokens whatever the model says (ignore_eos).
std::pair<int, std::string> post_long_completion(uint16_t port) {
  return post_completion(port,
                         R"({"model":"tiny","prompt":"hello","max_tokens":30,"ignore_eos":true})");
}

bool connects(uint16_t port) {
  namespace net = boost::asio;
  net::io_context io;
  net::ip::tcp::socket sock(io);
  boost::system::error_code ec;
  sock.connect({net::ip::make_address("127.0.0.1"), port}, ec);
  return !ec;
}

// A stopped pod's server (cancel with the pod's termination grace) takes no new connections and
// lets the answer in progress finish; without a grace that answer ends at once (503).
TEST(serve_unit, a_stop_drains_the_answers_in_progress_within_the_grace) {
  const std::string dir = testing::tiny_chat_model_folder("serve-unit-d");
  auto model = engine::load_model(dir);
  ASSERT_TRUE(model.ok()) << model.error().to_string();
  std::shared_ptr<engine::model> keep = *model;
  for (const int64_t grace : {int64_t(10000), int64_t(0)}) {
    std::atomic<bool> decoding{false}, cancel{false};
    std::atomic<int64_t> grace_ms{grace};
    serve_unit_env env;
    env.root = pod_root_with_config("d", "");
    env.grace_ms = &grace_ms;
    env.decoder =
        [&](const engine::chat_service_config& c,
            const engine::model_config&) -> result<std::unique_ptr<engine::sequence_decoder>> {
      return std::unique_ptr<engine::sequence_decoder>(
          new slow_decoder(*keep, c.max_batch, &decoding));
    };
    std::atomic<int> port{0};
    std::pair<int, std::string> answer{0, ""};
    std::thread client;
    std::thread unit([&] {
      const status st = run_serve_unit(args_for(dir), env, cancel, [&](const std::string& text) {
        port = std::stoi(text.substr(text.find(" on :") + 5));
        client = std::thread([&] { answer = post_long_completion(uint16_t(port.load())); });
      });
      EXPECT_TRUE(st.ok()) << st.to_string();
    });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!decoding && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_TRUE(decoding) << "the answer never started";
    const auto stopped_at = std::chrono::steady_clock::now();
    cancel = true;
    if (grace > 0) {  // draining: the listener is closed at once, the answer goes on
      bool refused = false;
      for (int i = 0; i < 100 && !refused; ++i) {
        refused = !connects(uint16_t(port.load()));
        if (!refused) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      EXPECT_TRUE(refused) << "new connections are still taken while draining";
    }
    unit.join();
    if (client.joinable()) client.join();
    const auto took = std::chrono::steady_clock::now() - stopped_at;
    if (grace > 0) {
      EXPECT_EQ(answer.first, 200) << answer.second;
      EXPECT_NE(answer.second.find("\"completion_tokens\":30"), std::string::npos) << answer.second;
      EXPECT_LT(took, std::chrono::seconds(9)) << "the drain ends with the answer, not the grace";
    } else {
      EXPECT_EQ(answer.first, 503) << answer.second;
    }
  }
}

}  // namespace
}  // namespace kaito::actors
