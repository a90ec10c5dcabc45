// Malformed preset, SKU and tuning files: each gives an error naming the file, line:column and the
// field, never an exception or a crash.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "presets/preset_catalog.h"

namespace kaito::presets {
namespace {

namespace fs = std::filesystem;

std::string read(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string tiny_text() {
  return read(std::string(KAITO_SOURCE_DIR) + "/presets/models/tiny-phi3.yaml");
}

// Replaces the first occurrence of `from` in the tiny-phi3 preset.
std::string tiny_with(const std::string& from, const std::string& to) {
  std::string s = tiny_text();
  size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

struct bad_case {
  const char* what;
  std::string text;
  const char* where;    // expected where(): "<file>:<line>:<col>"
  const char* message;  // expected substring of the message
};

TEST(PresetErrors, TheUnmodifiedFileParses) {
  auto r = parse_preset(tiny_text(), "tiny.yaml");
  ASSERT_TRUE(r.ok()) << r.take_status().to_string();
  EXPECT_EQ(r->name, "tiny-phi3");
}

TEST(PresetErrors, EachFieldRuleNamesFileLineColumnAndField) {
  const std::vector<bad_case> cases = {
      {"negative size", tiny_with("hidden_size: 64", "hidden_size: -64"), "t.yaml:12:16",
       "architecture.hidden_size: must be at least 1, got -64"},
      {"not an integer", tiny_with("num_hidden_layers: 2", "num_hidden_layers: two"),
       "t.yaml:14:22", "architecture.num_hidden_layers: expected an integer"},
      {"unknown key", tiny_with("  vocab_size: 384\n", "  vocab_size: 384\n  vocab: 1\n"),
       "t.yaml:18:3", "architecture.vocab: unknown field \"vocab\""},
      {"unknown top-level key", tiny_text() + "colour: blue\n", "t.yaml:48:1",
       "colour: unknown field \"colour\""},
      {"missing required", tiny_with("  rope_theta: 10000.0\n", ""), "t.yaml:11:3",
       "architecture.rope_theta: required field is missing"},
      {"unknown chat template", tiny_with("chat_template: phi-3", "chat_template: phi-9"),
       "t.yaml:44:16", "chat_template: unknown chat template \"phi-9\""},
      {"unknown family", tiny_with("family: phi3", "family: gpt"), "t.yaml:4:9",
       "family: unknown family \"gpt\""},
      {"bad quantity",
       tiny_with("  disk: 1Mi\n  gpu_count: 0\n  total_gpu_memory: 0\n  per",
                 "  disk: 1Qi\n  gpu_count: 0\n  total_gpu_memory: 0\n  per"),
       "t.yaml:28:9", "inference.disk: quantity \"1Qi\" has an unknown unit"},
      {"bad bool", tiny_with("cpu_ok: true", "cpu_ok: sometimes"), "t.yaml:38:9",
       "cpu_ok: expected true or false"},
      {"GQA heads do not divide", tiny_with("num_key_value_heads: 4", "num_key_value_heads: 3"),
       "t.yaml:16:24", "architecture.num_key_value_heads: must divide num_attention_heads (4)"},
      {"eos outside vocab", tiny_with("eos_token_id: [2]", "eos_token_id: [384]"), "t.yaml:26:17",
       "architecture.eos_token_id: token id 384 is outside the vocabulary"},
      {"gpus without cpu_ok", tiny_with("cpu_ok: true", "cpu_ok: false"), "t.yaml:29:14",
       "inference.gpu_count: must be at least 1 (or set cpu_ok)"},
      {"two weight sources",
       tiny_with("  local_dir: fixtures/tiny-phi3/base\n",
                 "  local_dir: fixtures/tiny-phi3/base\n  hf_repo: microsoft/x\n"),
       "t.yaml:7:3", "weights: exactly one of hf_repo and local_dir is required"},
      {"escaping local dir", tiny_with("fixtures/tiny-phi3/base", "../etc"), "t.yaml:7:14",
       "weights.local_dir: must be relative to the shared dir"},
      {"rope type", tiny_with("  rope_scaling: null\n", "  rope_scaling: {type: yarn}\n"),
       "t.yaml:21:24", "architecture.rope_scaling.type: unknown rope scaling \"yarn\""},
      {"longrope factor count",
       tiny_with("  rope_scaling: null\n",
                 "  rope_scaling: {type: longrope, short_factor: [1, 1], long_factor: [1, 2]}\n"),
       "t.yaml:21:48",
       "architecture.rope_scaling.short_factor: needs head_dim*partial_rotary_factor/2 = 8 values, "
       "got 2"},
      {"token limit", tiny_with("model_token_limit: 256", "model_token_limit: 257"), "t.yaml:43:20",
       "model_token_limit: exceeds architecture.max_position_embeddings"},
      {"list expected",
       tiny_with("lora_target_modules: [qkv_proj, o_proj, gate_up_proj, down_proj]",
                 "lora_target_modules: {a: b}"),
       "t.yaml:47:22", "lora_target_modules: expected a list of strings"},
      {"name", tiny_with("name: tiny-phi3", "name: Tiny_Phi3"), "t.yaml:3:7",
       "name: \"Tiny_Phi3\" is not a lowercase DNS-1123 name"},
  };
  for (const bad_case& c : cases) {
    auto r = parse_preset(c.text, "t.yaml");
    ASSERT_FALSE(r.ok()) << c.what;
    EXPECT_EQ(r.error().code(), status_code::invalid_argument) << c.what;
    EXPECT_EQ(r.error().where(), c.where) << c.what << ": " << r.error().to_string();
    EXPECT_NE(r.error().message().find(c.message), std::string::npos)
        << c.what << ": " << r.error().to_string();
  }
}

TEST(PresetErrors, SyntaxErrorsAndNonMappings) {
  auto r = parse_preset("name: [unclosed\n", "s.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().where().rfind("s.yaml:", 0), 0u) << r.error().to_string();
  EXPECT_NE(r.error().message().find("YAML syntax error"), std::string::npos);

  r = parse_preset("- a\n- b\n", "list.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().where(), "list.yaml:1:1");
  EXPECT_NE(r.error().message().find("expected a mapping"), std::string::npos);

  for (const char* text : {"", "~", "\"just a string\"", "{", "name: a\nname: b\n", "\t\x01\xff"}) {
    auto e = parse_preset(text, "x.yaml");
    EXPECT_FALSE(e.ok()) << text;
  }
}

TEST(SkuErrors, FieldsAreChecked) {
  auto ok = parse_sku_file(
      "cloud: aws\nskus:\n  - {instance_type: g5.xlarge, gpu_count: 1, total_gpu_memory: 24Gi, "
      "gpu_model: \"NVIDIA A10G\", compute_capability: \"8.6\", nvme: true}\n",
      "a.yaml");
  ASSERT_TRUE(ok.ok()) << ok.take_status().to_string();
  ASSERT_EQ(ok->size(), 1u);
  EXPECT_EQ((*ok)[0].facts.total_gpu_memory, int64_t{24} << 30);

  auto bad = parse_sku_file(
      "cloud: aws\nskus:\n  - {instance_type: a, gpu_count: 1, total_gpu_memory: 1Gi, gpu_model: "
      "m}\n"
      "  - {instance_type: b, gpu_count: 0, total_gpu_memory: 1Gi, gpu_model: m}\n",
      "b.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().where(), "b.yaml:4:35");
  EXPECT_NE(bad.error().message().find("skus[1].gpu_count: must be at least 1"), std::string::npos)
      << bad.error().to_string();

  bad = parse_sku_file("cloud: gcp\nskus: []\n", "c.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().where(), "c.yaml:1:8");

  bad = parse_sku_file(
      "cloud: arc\nskus:\n  - {instance_type: a, gpu_count: 1, total_gpu_memory: 1Gi, gpu_model: "
      "m, "
      "compute_capability: \"eight\"}\n",
      "d.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("skus[0].compute_capability"), std::string::npos);
}

// A catalog directory with one broken file fails to load, naming that file and field.
TEST(CatalogErrors, BrokenFileInADirectory) {
  const fs::path src = fs::path(KAITO_SOURCE_DIR) / "presets";
  const fs::path tmp = fs::path(::testing::TempDir()) / "kaito_presets_errors";
  fs::remove_all(tmp);
  fs::create_directories(tmp / "models");
  fs::copy(src / "skus", tmp / "skus", fs::copy_options::recursive);
  fs::copy(src / "tuning", tmp / "tuning", fs::copy_options::recursive);
  fs::copy(src / "inference", tmp / "inference", fs::copy_options::recursive);
  fs::create_directories(tmp / "chat_templates");
  fs::copy_file(src / "models" / "phi-4.yaml", tmp / "models" / "phi-4.yaml");

  // phi-4 names the chat template "phi-4": without its file the catalog does not load.
  auto missing = load_catalog(tmp.string());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), status_code::not_found);
  EXPECT_EQ(missing.error().where(), (tmp / "models" / "phi-4.yaml").string());
  EXPECT_NE(missing.error().message().find("chat_template: \"phi-4\" has no file"),
            std::string::npos)
      << missing.error().to_string();
  fs::copy_file(src / "chat_templates" / "phi-4.jinja", tmp / "chat_templates" / "phi-4.jinja");

  auto good = load_catalog(tmp.string());
  ASSERT_TRUE(good.ok()) << good.take_status().to_string();
  EXPECT_EQ(good.value()->all().size(), 1u);

  std::ofstream(tmp / "models" / "broken.yaml")
      << tiny_with("intermediate_size: 160", "intermediate_size: 0");
  auto bad = load_catalog(tmp.string());
  ASSERT_FALSE(bad.ok());
  const std::string file = (tmp / "models" / "broken.yaml").string();
  EXPECT_EQ(bad.error().where(), file + ":13:22") << bad.error().to_string();
  EXPECT_NE(bad.error().message().find("architecture.intermediate_size"), std::string::npos);

  // A preset whose name differs from its file name.
  std::ofstream(tmp / "models" / "broken.yaml") << tiny_text();
  bad = load_catalog(tmp.string());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("does not match the file name"), std::string::npos);
  fs::remove(tmp / "models" / "broken.yaml");

  // A tuning template with the wrong ConfigMap name.
  std::string lora = read((src / "tuning" / "lora-params-template.yaml").string());
  lora.replace(lora.find("name: lora-params-template"), 26, "name: qlora-params-template");
  std::ofstream(tmp / "tuning" / "lora-params-template.yaml") << lora;
  bad = load_catalog(tmp.string());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("metadata.name: expected \"lora-params-template\""),
            std::string::npos)
      << bad.error().to_string();

  // A missing directory is an io error naming it.
  fs::remove_all(tmp / "skus");
  bad = load_catalog(tmp.string());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), status_code::io_error);
  EXPECT_NE(bad.error().message().find("skus"), std::string::npos);
  fs::remove_all(tmp);
}

}  // namespace
}  // namespace kaito::presets
