// PEFT adapter import/export and PEFT target-module semantics.
#include "engine/peft_adapter.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

#include "engine/model_config.h"
#include "engine/safetensors.h"

namespace kaito::engine {
namespace {

std::string fixture(const char* name) {
  return std::string(KAITO_SHARED_DIR) + "/fixtures/" + name;
}

model_config config_of(const char* name) {
  auto c = load_model_config(fixture(name) + "/base");
  EXPECT_TRUE(c.ok());
  return c.value();
}

TEST(peft_adapter, imports_the_fixture_adapters) {
  auto a = load_peft_adapter(fixture("tiny-phi3") + "/adapter", config_of("tiny-phi3"));
  ASSERT_TRUE(a.ok()) << a.error().to_string();
  ASSERT_EQ(a->modules.size(), 8u);
  const lora_module& qkv = a->modules[0];
  EXPECT_EQ(qkv.path, "model.layers.0.self_attn.qkv_proj");
  EXPECT_EQ(qkv.out, 192);
  EXPECT_EQ(qkv.in, 64);
  EXPECT_EQ(qkv.r, 4);
  EXPECT_EQ(qkv.scale, 2.0f);  // alpha 8 / r 4
  EXPECT_EQ(peft_tensor_name(qkv, true),
            "base_model.model.model.layers.0.self_attn.qkv_proj.lora_B.weight");

  auto l = load_peft_adapter(fixture("tiny-llama-gqa") + "/adapter", config_of("tiny-llama-gqa"));
  ASSERT_TRUE(l.ok()) << l.error().to_string();
  ASSERT_EQ(l->modules.size(), 14u);
  // q, k, v are row slices of the fused projection: (4 heads + 2 + 2 kv heads) x 16.
  EXPECT_EQ(l->modules[1].target, "k_proj");
  EXPECT_EQ(l->modules[1].row_offset, 64);
  EXPECT_EQ(l->modules[2].row_offset, 96);
  EXPECT_EQ(l->modules[5].target, "up_proj");
  EXPECT_EQ(l->modules[5].row_offset, 160);
}

TEST(peft_adapter, export_round_trips) {
  const model_config c = config_of("tiny-phi3");
  auto a = load_peft_adapter(fixture("tiny-phi3") + "/adapter", c);
  ASSERT_TRUE(a.ok());
  const std::string dir = ::testing::TempDir() + "/peft_rt_" + std::to_string(getpid());
  ASSERT_TRUE(save_peft_adapter(dir, a.value(), "tiny-phi3").ok());
  auto b = load_peft_adapter(dir, c);
  ASSERT_TRUE(b.ok()) << b.error().to_string();
  ASSERT_EQ(b->modules.size(), a->modules.size());
  for (size_t i = 0; i < a->modules.size(); ++i) {
    EXPECT_EQ(b->modules[i].path, a->modules[i].path);
    EXPECT_EQ(b->modules[i].A, a->modules[i].A);
    EXPECT_EQ(b->modules[i].B, a->modules[i].B);
    EXPECT_EQ(b->modules[i].scale, a->modules[i].scale);
  }
  // Tensor names and dtypes are PEFT's.
  auto f = safetensors_file::open(dir + "/adapter_model.safetensors");
  ASSERT_TRUE(f.ok());
  const st_tensor_info* t =
      f->find("base_model.model.model.layers.1.mlp.gate_up_proj.lora_B.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->dtype, st_dtype::f32);
  EXPECT_EQ(t->shape, (std::vector<int64_t>{320, 4}));
  std::filesystem::remove_all(dir);
}

TEST(peft_adapter, kaito_phi3_default_targets_match_only_o_and_down) {
  // reference/qlora.md §2.4: Kaito's default list on HF Phi-3 adapts o_proj and down_proj only.
  lora_config lc;
  lc.r = 4;
  lc.alpha = 8;
  lc.target_modules = {"k_proj", "q_proj", "v_proj", "o_proj", "gate_proj", "down_proj", "up_proj"};
  auto a = lora_create(config_of("tiny-phi3"), lc, 1);
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a->modules.size(), 4u);
  for (const auto& m : a->modules) {
    EXPECT_TRUE(m.target == "o_proj" || m.target == "down_proj") << m.path;
    // PEFT init: B = 0, A ~ U(+-1/sqrt(in)).
    for (float v : m.B) EXPECT_EQ(v, 0.0f);
    for (float v : m.A) EXPECT_LE(std::fabs(v), 1.0f / std::sqrt(float(m.in)));
  }
  lc.target_modules = {"q_proj"};
  EXPECT_FALSE(lora_create(config_of("tiny-phi3"), lc, 1).ok());
}

TEST(peft_adapter, rank_and_alpha_patterns) {
  lora_config lc;
  lc.r = 4;
  lc.alpha = 8;
  lc.target_modules = {"all-linear"};
  lc.rank_pattern = {{"o_proj", 2}};
  lc.alpha_pattern = {{"model.layers.1.mlp.down_proj", 1.0}};
  lc.use_rslora = true;
  auto a = lora_create(config_of("tiny-phi3"), lc, 1);
  ASSERT_TRUE(a.ok());
  for (const auto& m : a->modules) {
    const int64_t r = m.target == "o_proj" ? 2 : 4;
    const double alpha = m.path == "model.layers.1.mlp.down_proj" ? 1.0 : 8.0;
    EXPECT_EQ(m.r, r) << m.path;
    EXPECT_FLOAT_EQ(m.scale, float(alpha / std::sqrt(double(r)))) << m.path;
  }
}

TEST(peft_adapter, config_errors_name_the_field) {
  struct row {
    const char* json;
    const char* where;
  } rows[] = {
      {R"({"peft_type":"LORA","lora_alpha":8,"target_modules":["o_proj"]})", "r"},
      {R"({"peft_type":"LORA","r":4,"target_modules":["o_proj"]})", "lora_alpha"},
      {R"({"peft_type":"IA3","r":4,"lora_alpha":8,"target_modules":["o_proj"]})", "peft_type"},
      {R"({"r":4,"lora_alpha":8,"target_modules":["o_proj"],"use_dora":true})", "use_dora"},
      {R"({"r":4,"lora_alpha":8,"target_modules":5})", "target_modules"},
      {R"({"r":4,"lora_alpha":8,"target_modules":["o_proj"],"lora_dropout":1.5})", "lora_dropout"},
      {R"({"r":4,"lora_alpha":8,"target_modules":["o_proj"],"rank_pattern":{"o_proj":0}})",
       "rank_pattern.o_proj"},
      {R"({"r":4,"lora_alpha":8,"target_modules":["o_proj"],"modules_to_save":["lm_head"]})",
       "modules_to_save"},
  };
  for (const auto& r : rows) {
    auto c = parse_peft_config(r.json);
    ASSERT_FALSE(c.ok()) << r.json;
    EXPECT_EQ(c.error().where(), r.where) << r.json;
  }
  auto ok = parse_peft_config(R"({"r":4,"lora_alpha":8,"target_modules":"all-linear",
                                  "some_future_key":{"x":1}})");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->target_modules, std::vector<std::string>{"all-linear"});
}

TEST(peft_adapter, adapter_for_another_model_is_rejected) {
  // The Llama adapter names q_proj/...: HF Phi-3 has no such modules.
  auto a = load_peft_adapter(fixture("tiny-llama-gqa") + "/adapter", config_of("tiny-phi3"));
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.error().where().find("base_model.model.model.layers.0"), std::string::npos)
      << a.error().to_string();
}

}  // namespace
}  // namespace kaito::engine
