// chat_template_test: engine/chat_template + engine/jinja_* against Python jinja2 configured as
// transformers' apply_chat_template (chat_template_peer.py renders the same cases live): the four
// preset templates over conversations x generation prompt x tools, and Jinja feature snippets;
// outputs must match byte for byte, and errors must be errors on both sides.
#include "engine/chat_template.h"

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

namespace kaito::engine {
namespace {

using nlohmann::ordered_json;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string preset_path(const std::string& name) {
  return std::string(KAITO_SOURCE_DIR) + "/presets/chat_templates/" + name + ".jinja";
}

chat_template_inputs inputs_from(const ordered_json& context) {
  chat_template_inputs in;
  for (auto it = context.begin(); it != context.end(); ++it) {
    const std::string& k = it.key();
    if (k == "messages") {
      in.messages = it.value();
    } else if (k == "add_generation_prompt") {
      in.add_generation_prompt = it.value().get<bool>();
    } else if (k == "bos_token") {
      in.bos_token = it.value().get<std::string>();
    } else if (k == "eos_token") {
      in.eos_token = it.value().get<std::string>();
    } else {
      in.extra[k] = it.value();
    }
  }
  return in;
}

TEST(chat_template, phi3_hand_checked) {
  auto t = chat_template::from_file(preset_path("phi-3"));
  ASSERT_TRUE(t.ok()) << t.error().to_string();
  chat_template_inputs in;
  in.messages = ordered_json::parse(R"([{"role":"user","content":"Hello"}])");
  in.add_generation_prompt = true;
  in.eos_token = "<|endoftext|>";
  auto out = t->render(in);
  ASSERT_TRUE(out.ok()) << out.error().to_string();
  EXPECT_EQ(*out, "<|user|>\nHello<|end|>\n<|assistant|>\n");  // ../shared/reference/qlora.md
  in.add_generation_prompt = false;
  EXPECT_EQ(*t->render(in), "<|user|>\nHello<|end|>\n<|endoftext|>");
}

TEST(chat_template, tokenizer_config_fields) {
  auto cfg = parse_tokenizer_config(R"({"bos_token": {"content": "<s>", "lstrip": false},
      "eos_token": "</s>", "chat_template": [{"name": "tool_use", "template": "T"},
      {"name": "default", "template": "{{ bos_token }}{{ messages[0].content }}"}]})");
  ASSERT_TRUE(cfg.ok()) << cfg.error().to_string();
  EXPECT_EQ(cfg->bos_token, "<s>");
  EXPECT_EQ(cfg->eos_token, "</s>");
  chat_template_inputs in;
  in.bos_token = cfg->bos_token;
  in.messages = ordered_json::parse(R"([{"role": "user", "content": "hi"}])");
  EXPECT_EQ(*render_chat_template(cfg->chat_template, in), "<s>hi");
  auto plain = parse_tokenizer_config(R"({"chat_template": "x", "bos_token": null})");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->chat_template, "x");
  EXPECT_EQ(plain->bos_token, "");
  auto missing = parse_tokenizer_config(R"({"bos_token": "<s>"})");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().where(), "chat_template");
  auto bad = parse_tokenizer_config(R"({"chat_template": [{"name": 1}]})");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().where(), "chat_template[0]");
}

TEST(chat_template, errors_are_statuses) {
  auto syntax = chat_template::compile("line one\n{% if x %}\n{{ 1 + }}");
  ASSERT_FALSE(syntax.ok());
  EXPECT_EQ(syntax.error().where(), "3:8");  // the `}}` where an operand belongs
  auto unknown = chat_template::compile("{% frobnicate %}");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message().find("frobnicate"), std::string::npos);

  auto mistral = chat_template::from_file(preset_path("mistral"));
  ASSERT_TRUE(mistral.ok()) << mistral.error().to_string();
  chat_template_inputs in;
  in.messages =
      ordered_json::parse(R"([{"role":"user","content":"a"},{"role":"user","content":"b"}])");
  auto r = mistral->render(in);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), status_code::failed_precondition);
  EXPECT_EQ(r.error().message(),
            "After the optional system message, conversation roles must alternate "
            "user/assistant/user/assistant/...");

  auto undefined = render_chat_template("{{ nothing.attr }}", {});
  ASSERT_FALSE(undefined.ok());
  EXPECT_EQ(undefined.error().code(), status_code::invalid_argument);
  EXPECT_EQ(undefined.error().where(), "1:12");  // the attribute name
}

TEST(chat_template, limits_bound_hostile_templates) {
  jinja_limits limits;
  limits.max_steps = 100000;
  auto loop = chat_template::compile("{% for i in range(100000) %}{{ i }}{% endfor %}");
  ASSERT_TRUE(loop.ok());
  auto r = loop->render({}, limits);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), status_code::resource_exhausted);
  auto doubling = chat_template::compile(
      "{% set ns = namespace(s='ab') %}{% for i in range(100) %}{% set ns.s = ns.s + ns.s %}"
      "{% endfor %}{{ ns.s }}");
  ASSERT_TRUE(doubling.ok());
  r = doubling->render({});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), status_code::resource_exhausted);
  auto nesting = chat_template::compile(
      "{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}"
      "{% endfor %}{{ ns.x }}");
  ASSERT_TRUE(nesting.ok());
  r = nesting->render({});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), status_code::resource_exhausted);
  std::string deep;
  for (int i = 0; i < 500; ++i) deep += "{% if true %}";
  EXPECT_FALSE(chat_template::compile(deep).ok());
  EXPECT_FALSE(
      chat_template::compile("{{ " + std::string(1000, '(') + "1" + std::string(1000, ')') + " }}")
          .ok());
}

// Renders every case of chat_template_peer.py and compares with jinja2.
TEST(chat_template, live_equal_to_jinja2) {
  const std::string out = std::string(KAITO_BINARY_DIR) + "/tests/engine/chat_template_peer.json";
  const std::string cmd = "python3 " + std::string(KAITO_SOURCE_DIR) +
                          "/tests/engine/chat_template_peer.py " + KAITO_SOURCE_DIR + " " + out;
  const int rc = std::system(cmd.c_str());
  ASSERT_NE(rc, -1) << "cannot run python3";
  ASSERT_NE(WEXITSTATUS(rc), 3)
      << "the Python package 'jinja2' (the live peer) is missing: run ./setup.sh";
  ASSERT_EQ(rc, 0)
      << "chat_template_peer.py failed (python3 with `jinja2` is needed: run ./setup.sh): " << cmd;
  const ordered_json peer = ordered_json::parse(read_file(out), nullptr, false);
  ASSERT_TRUE(peer.is_object());
  // Every presets/chat_templates/*.jinja the peer rendered (it covers them all), loaded once.
  std::map<std::string, chat_template> presets;
  auto preset_template = [&](const std::string& name) -> const chat_template* {
    if (auto it = presets.find(name); it != presets.end()) return &it->second;
    auto t = chat_template::from_file(preset_path(name));
    if (!t.ok()) {
      ADD_FAILURE() << name << ": " << t.error().to_string();
      return nullptr;
    }
    return &presets.emplace(name, *t).first->second;
  };
  size_t outputs = 0, errors = 0;
  for (const auto& c : peer["cases"]) {
    const std::string name = c["name"];
    result<std::string> got = internal_error("not rendered");
    if (c.contains("preset")) {
      const chat_template* t = preset_template(c["preset"].get<std::string>());
      if (!t) continue;
      got = t->render(inputs_from(c["context"]));
    } else {
      auto t = chat_template::compile(c["template"].get<std::string>());
      got = t.ok() ? t->render(inputs_from(c["context"])) : result<std::string>(t.error());
    }
    if (c.contains("output")) {
      ++outputs;
      if (!got.ok()) {
        ADD_FAILURE() << name << ": error " << got.error().to_string() << ", jinja2 rendered "
                      << c["output"].dump();
      } else {
        EXPECT_EQ(*got, c["output"].get<std::string>()) << name;
      }
    } else {
      ++errors;
      EXPECT_FALSE(got.ok()) << name << ": rendered " << ordered_json(*got).dump()
                             << ", jinja2 failed with " << c["error"].dump();
      // raise_exception messages pass through unchanged.
      if (!got.ok() && got.error().code() == status_code::failed_precondition)
        EXPECT_EQ(got.error().message(), c["error"].get<std::string>()) << name;
    }
  }
  EXPECT_GT(outputs, 250u);
  EXPECT_GT(errors, 10u);
}

}  // namespace
}  // namespace kaito::engine
