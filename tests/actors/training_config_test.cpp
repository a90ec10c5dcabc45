// training_config's dataset keys (actors/training_config.h): the ones that name the columns of
// TRL's dataset formats (engine/sft_dataset.h) reach the tune job's sft_columns; the ones that
// still have no meaning are refused by name. The rest of training_config is tested in
// tune_unit_test.cpp.
#include "actors/training_config.h"

#include <gtest/gtest.h>

#include <string>

namespace kaito::actors {
namespace {

result<engine::sft_columns> columns(const std::string& yaml) {
  engine::tune_job j;  // qlora
  auto eff = apply_training_config("training_config:\n" + yaml, &j);
  if (!eff.ok()) return eff.error();
  return j.columns;
}

TEST(TrainingConfigDataset, ColumnKeysNameTheFormatsFields) {
  auto c = columns("  TrainingArguments:\n    dataset_text_field: body\n");
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->text, "body");
  EXPECT_EQ(c->messages, "messages");
  EXPECT_EQ(c->prompt, "prompt");
  c = columns("  DatasetConfig:\n    dataset_text_field: body\n    messages_column: chat\n");
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->text, "body");
  EXPECT_EQ(c->messages, "chat");
  // context and response columns together: the prompt and completion columns
  c = columns("  DatasetConfig:\n    response_column: answer\n    context_column: question\n");
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->prompt, "question");
  EXPECT_EQ(c->completion, "answer");
  EXPECT_EQ(c->text, "text");
  // Kaito's own defaults (response_column "text", the rest None) change nothing
  c = columns(
      "  DatasetConfig:\n    response_column: text\n    context_column: null\n"
      "    messages_column: null\n    instruction_column: null\n    shuffle_dataset: true\n");
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->prompt, "prompt");
  EXPECT_EQ(c->completion, "completion");
  EXPECT_EQ(c->messages, "messages");
}

TEST(TrainingConfigDataset, WhatCannotBeHonouredIsRefusedByName) {
  struct k {
    const char* yaml;
    const char* where;
    status_code code;
  };
  const k cases[] = {
      {"  DatasetConfig:\n    instruction_column: instruction\n",
       "training_config.DatasetConfig.instruction_column", status_code::unimplemented},
      {"  DatasetConfig:\n    context_column: question\n",
       "training_config.DatasetConfig.context_column", status_code::unimplemented},
      {"  DatasetConfig:\n    response_column: answer\n",
       "training_config.DatasetConfig.response_column", status_code::unimplemented},
      {"  DatasetConfig:\n    messages_column: 3\n",
       "training_config.DatasetConfig.messages_column", status_code::invalid_argument},
      {"  TrainingArguments:\n    dataset_text_field: \"\"\n",
       "training_config.TrainingArguments.dataset_text_field", status_code::invalid_argument},
  };
  for (const k& t : cases) {
    auto c = columns(t.yaml);
    ASSERT_FALSE(c.ok()) << t.yaml;
    EXPECT_EQ(c.error().where(), t.where) << c.error().to_string();
    EXPECT_EQ(c.error().code(), t.code) << c.error().to_string();
  }
}

}  // namespace
}  // namespace kaito::actors
