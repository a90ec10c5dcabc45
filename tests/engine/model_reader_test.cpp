// model_reader (engine/model_weights.h): a Hugging Face folder read a layer at a time, single-file
// or sharded (model.safetensors.index.json, as real checkpoints such as Phi-3-mini ship), equal to
// load_model; bad indexes are errors naming the file and tensor.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/model_weights.h"
#include "engine/safetensors.h"

namespace kaito::engine {
namespace {

namespace fs = std::filesystem;

const std::string kBase = std::string(KAITO_SOURCE_DIR) + "/tests/data/hf-qwen2-gqa-bias/base";

// The fixture re-written as two shards (tensors alternating) plus an index; `edit` may change the
// index's weight_map before it is written.
std::string sharded_copy(const std::string& name,
                         void (*edit)(nlohmann::json& weight_map) = nullptr) {
  const std::string dst =
      ::testing::TempDir() + "kaito_sharded_" + name + "_" + std::to_string(::getpid());
  fs::remove_all(dst);
  fs::create_directories(dst);
  fs::copy_file(kBase + "/config.json", dst + "/config.json");
  auto f = safetensors_file::open(kBase + "/model.safetensors");
  EXPECT_TRUE(f.ok());
  std::vector<st_write_entry> shard[2];
  nlohmann::json map = nlohmann::json::object();
  const char* names[2] = {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"};
  size_t i = 0;
  for (const st_tensor_info& t : f->tensors()) {
    shard[i % 2].push_back({t.name, t.dtype, t.shape, f->data(t)});
    map[t.name] = names[i % 2];
    ++i;
  }
  for (int s = 0; s < 2; ++s) EXPECT_TRUE(write_safetensors(dst + "/" + names[s], shard[s]).ok());
  if (edit) edit(map);
  nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", map}};
  std::ofstream(dst + "/model.safetensors.index.json") << index.dump(2);
  return dst;
}

void expect_same(const model& a, const model& b) {
  EXPECT_EQ(a.weights.embed, b.weights.embed);
  EXPECT_EQ(a.weights.lm_head_own, b.weights.lm_head_own);
  EXPECT_EQ(a.weights.final_norm, b.weights.final_norm);
  ASSERT_EQ(a.weights.layers.size(), b.weights.layers.size());
  for (size_t l = 0; l < a.weights.layers.size(); ++l) {
    const layer_weights &x = a.weights.layers[l], &y = b.weights.layers[l];
    EXPECT_EQ(x.input_norm, y.input_norm);
    EXPECT_EQ(x.post_norm, y.post_norm);
    for (auto [p, q] : {std::pair{&x.qkv, &y.qkv}, std::pair{&x.o, &y.o},
                        std::pair{&x.gate_up, &y.gate_up}, std::pair{&x.down, &y.down}}) {
      EXPECT_EQ(p->w, q->w) << "layer " << l;
      EXPECT_EQ(p->bias, q->bias) << "layer " << l;
      EXPECT_EQ(p->parts, q->parts) << "layer " << l;
    }
  }
}

TEST(ModelReader, ShardedEqualsSingleFile) {
  auto one = load_model(kBase);
  ASSERT_TRUE(one.ok()) << one.error().to_string();
  const std::string d = sharded_copy("ok");
  auto two = load_model(d);
  ASSERT_TRUE(two.ok()) << two.error().to_string();
  expect_same(**one, **two);
  EXPECT_FALSE((*one)->weights.layers[0].qkv.bias.empty());
  fs::remove_all(d);
}

TEST(ModelReader, LayersOneAtATime) {
  auto whole = load_model(kBase);
  auto r = model_reader::open(kBase);
  ASSERT_TRUE(whole.ok() && r.ok());
  for (int64_t l = 0; l < r->config().num_layers; ++l) {
    auto ly = r->layer(l);
    ASSERT_TRUE(ly.ok()) << ly.error().to_string();
    EXPECT_EQ(ly->gate_up.w, (*whole)->weights.layers[size_t(l)].gate_up.w);
  }
  auto out = r->layer(r->config().num_layers);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().where(), "num_hidden_layers");
}

TEST(ModelReader, BadIndexesAreNamed) {
  // a tensor the index puts in the wrong shard
  const std::string d1 = sharded_copy("wrong_shard", [](nlohmann::json& m) {
    m["model.layers.1.mlp.down_proj.weight"] =
        m["model.layers.1.mlp.down_proj.weight"] == "model-00001-of-00002.safetensors"
            ? "model-00002-of-00002.safetensors"
            : "model-00001-of-00002.safetensors";
  });
  auto a = load_model(d1);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().where(), "model.layers.1.mlp.down_proj.weight") << a.error().to_string();
  // a shard path outside the folder
  const std::string d2 = sharded_copy(
      "escape", [](nlohmann::json& m) { m["model.norm.weight"] = "../model.safetensors"; });
  auto b = load_model(d2);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.error().to_string().find("model.norm.weight"), std::string::npos)
      << b.error().to_string();
  // a shard that does not exist
  const std::string d3 = sharded_copy("missing", [](nlohmann::json& m) {
    m["model.norm.weight"] = "model-00003-of-00002.safetensors";
  });
  auto c = load_model(d3);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().to_string().find("model-00003-of-00002.safetensors"), std::string::npos)
      << c.error().to_string();
  for (const auto& d : {d1, d2, d3}) fs::remove_all(d);
}

}  // namespace
}  // namespace kaito::engine
