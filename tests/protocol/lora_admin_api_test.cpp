// vLLM's run-time LoRA endpoint bodies (protocol/api/lora_admin_api.h): the name and path
// required and named when missing, empty or of another type, lora_int_id read and ignored,
// malformed JSON at its byte, vLLM's success texts.
#include "protocol/api/lora_admin_api.h"

#include <gtest/gtest.h>

namespace kaito::api {
namespace {

TEST(lora_admin_api, load_and_unload_bodies) {
  auto load = parse_lora_load_request(R"({"lora_name": "sql", "lora_path": "/adapters/sql"})");
  ASSERT_TRUE(load.ok()) << load.error().to_string();
  EXPECT_EQ(load->name, "sql");
  EXPECT_EQ(load->path, "/adapters/sql");
  EXPECT_EQ(parse_lora_load_request(R"({"lora_path": "/a"})").error().where(), "lora_name");
  EXPECT_EQ(parse_lora_load_request(R"({"lora_name": "", "lora_path": "/a"})").error().where(),
            "lora_name");
  EXPECT_EQ(parse_lora_load_request(R"({"lora_name": "a", "lora_path": 7})").error().where(),
            "lora_path");
  EXPECT_EQ(parse_lora_load_request(R"({"lora_name": "a"})").error().where(), "lora_path");
  EXPECT_EQ(parse_lora_load_request(R"({"lora_name": "a",)").error().where().rfind("byte ", 0), 0u);
  EXPECT_FALSE(parse_lora_load_request("[1]").ok());

  auto unload = parse_lora_unload_request(R"({"lora_name": "sql", "lora_int_id": 2})");
  ASSERT_TRUE(unload.ok()) << unload.error().to_string();
  EXPECT_EQ(*unload, "sql");
  EXPECT_EQ(
      parse_lora_unload_request(R"({"lora_name": "sql", "lora_int_id": "2"})").error().where(),
      "lora_int_id");
  EXPECT_EQ(parse_lora_unload_request("{}").error().where(), "lora_name");

  EXPECT_EQ(lora_loaded_text("sql"), "Success: LoRA adapter 'sql' added successfully.");
  EXPECT_EQ(lora_unloaded_text("sql"), "Success: LoRA adapter 'sql' removed successfully.");
}

}  // namespace
}  // namespace kaito::api
