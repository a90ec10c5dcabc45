// The chat templates compiled into the binary (presets/builtin_chat_templates.h): every name a
// preset may reference is there, byte for byte the .jinja file, and nothing else is.
#include "presets/builtin_chat_templates.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "presets/preset.h"

namespace kaito::presets {
namespace {

TEST(BuiltinChatTemplates, EveryKnownTemplateIsCompiledInVerbatim) {
  int checked = 0;
  for (const std::string& name : known_chat_templates()) {
    if (name == "none") {
      EXPECT_FALSE(builtin_chat_template(name));
      continue;
    }
    std::ifstream in(std::string(KAITO_SOURCE_DIR) + "/presets/chat_templates/" + name + ".jinja",
                     std::ios::binary);
    ASSERT_TRUE(in) << name;
    std::stringstream file;
    file << in.rdbuf();
    auto text = builtin_chat_template(name);
    ASSERT_TRUE(text) << name;
    EXPECT_EQ(*text, file.str()) << name;
    ++checked;
  }
  EXPECT_GE(checked, 5);
  EXPECT_FALSE(builtin_chat_template("no-such-template"));
  EXPECT_FALSE(builtin_chat_template(""));
}

}  // namespace
}  // namespace kaito::presets
