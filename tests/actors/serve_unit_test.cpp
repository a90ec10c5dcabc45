// serve_unit with an engine of the worker's choosing (serve_unit_env::decoder, what a CUDA slot's
// worker passes: cli/cmd_worker.cpp): the factory gets the pod's model folder and its inference
// config's max-num-seqs / max-model-len, its error fails the unit, and a decoder it builds serves.
#include "actors/serve_unit.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "engine/model_weights.h"
#include "engine/sequence_decoder.h"
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

}  // namespace
}  // namespace kaito::actors
