// tokenizer_test: engine/tokenizer* against HF `tokenizers`: the checked-in expected encodings of
// the two fixture tokenizers, and a live comparison (tokenizer_peer.py) of encode, decode and
// streaming decode on ~2,700 random and adversarial strings over eight tokenizer variants.
#include "engine/tokenizer.h"

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/tokenizer_stream.h"

namespace kaito::engine {
namespace {

using nlohmann::json;

const std::string fixtures = std::string(KAITO_SHARED_DIR) + "/fixtures/tokenizers";

json read_json(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str(), nullptr, false);
}

std::vector<int32_t> ids_of(const json& j) {
  return j.get<std::vector<int32_t>>();
}

std::string from_hex(const std::string& h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16)));
  return out;
}

TEST(tokenizer, fixture_expected_encodings) {
  const json expected = read_json(fixtures + "/expected_encodings.json");
  ASSERT_TRUE(expected.is_object());
  int checked = 0;
  for (const char* name : {"sentencepiece_bpe", "bytelevel_bpe"}) {
    auto tok = tokenizer::from_file(fixtures + "/" + name + ".tokenizer.json");
    ASSERT_TRUE(tok.ok()) << tok.error().to_string();
    for (auto it = expected[name].begin(); it != expected[name].end(); ++it) {
      auto ids = tok->encode(it.key());
      ASSERT_TRUE(ids.ok()) << ids.error().to_string();
      EXPECT_EQ(*ids, ids_of(*it)) << name << ": '" << it.key() << "'";
      ++checked;
    }
  }
  EXPECT_EQ(checked, 16);
}

TEST(tokenizer, lookups_and_specials) {
  auto tok = tokenizer::from_file(fixtures + "/sentencepiece_bpe.tokenizer.json");
  ASSERT_TRUE(tok.ok()) << tok.error().to_string();
  EXPECT_EQ(tok->token_to_id("<s>"), 1);
  EXPECT_EQ(tok->token_to_id("</s>"), 2);
  EXPECT_EQ(tok->id_to_token(0), "<unk>");
  EXPECT_FALSE(tok->token_to_id("no such token").has_value());
  EXPECT_FALSE(tok->id_to_token(123456).has_value());
  EXPECT_TRUE(tok->is_special(2));
  EXPECT_FALSE(tok->is_special(91));
  EXPECT_EQ(tok->special_tokens().size(), 3u);
  EXPECT_EQ(tok->vocab_size(), 400u);
}

// token_text_after: a SentencePiece token keeps the leading space its decoder strips at the start
// of a text (decode of the token alone drops it), so the answer tokens' texts make up the answer.
TEST(tokenizer, token_text_after_keeps_the_space_a_decoder_strips) {
  auto tok = tokenizer::from_file(fixtures + "/sentencepiece_bpe.tokenizer.json");
  ASSERT_TRUE(tok.ok());
  auto ids = tok->encode("Hello world again", false);
  ASSERT_TRUE(ids.ok());
  ASSERT_GE(ids->size(), 3u);
  std::string joined = token_text_after(*tok, -1, (*ids)[0]);
  for (size_t i = 1; i < ids->size(); ++i)
    joined += token_text_after(*tok, (*ids)[i - 1], (*ids)[i]);
  EXPECT_EQ(joined, "Hello world again");
  // the token that starts "world" ("▁w..."): with its space after the token before it only
  size_t w = 1;
  while (w < ids->size() && tok->id_to_token((*ids)[w]).value_or("").rfind("\xe2\x96\x81", 0) != 0)
    ++w;
  ASSERT_LT(w, ids->size());
  const std::string world = token_text_after(*tok, (*ids)[w - 1], (*ids)[w]);
  EXPECT_EQ(world.substr(0, 1), " ");
  EXPECT_NE(tok->decode({(*ids)[w]}, false)->substr(0, 1), " ");
}

TEST(tokenizer, malformed_files_name_the_json_path) {
  const auto err = [](const std::string& text) {
    auto t = tokenizer::from_json(text);
    return t.ok() ? std::string("ok") : t.error().to_string();
  };
  EXPECT_NE(err("{").find("not valid JSON"), std::string::npos);
  EXPECT_NE(err("[]").find("expected an object"), std::string::npos);
  EXPECT_NE(err("{}").find("model"), std::string::npos);
  EXPECT_NE(err(R"({"model":{"type":"BPE","vocab":{"a":0},"merges":[["a","b"]]}})")
                .find("model.merges[0]"),
            std::string::npos);
  EXPECT_NE(err(R"({"model":{"type":"BPE","vocab":{"a":-1}}})").find("model.vocab"),
            std::string::npos);
  EXPECT_NE(err(R"({"model":{"type":"WordPiece","vocab":{}}})").find("model.type"),
            std::string::npos);
  EXPECT_NE(err(R"({"model":{"type":"BPE","vocab":{}},"normalizer":{"type":"Sequence",
      "normalizers":[{"type":"Replace","pattern":{"Regex":"("},"content":""}]}})")
                .find("normalizer.normalizers[0].pattern"),
            std::string::npos);
  EXPECT_NE(err(R"({"model":{"type":"BPE","vocab":{}},"added_tokens":[{"content":"x"}]})")
                .find("added_tokens[0].id"),
            std::string::npos);
  EXPECT_NE(err(R"({"model":{"type":"BPE","vocab":{}},"pre_tokenizer":{"type":"Split",
      "pattern":{"String":"x"},"behavior":"Sideways"}})")
                .find("pre_tokenizer.behavior"),
            std::string::npos);
}

TEST(tokenizer, stream_never_emits_partial_utf8) {
  auto tok = tokenizer::from_file(fixtures + "/bytelevel_bpe.tokenizer.json");
  ASSERT_TRUE(tok.ok());
  const std::string text = "日本語 🚀 naïve 👨‍👩‍👧";
  auto ids = tok->encode(text);
  ASSERT_TRUE(ids.ok());
  tokenizer_decode_stream stream(*tok);
  std::string joined;
  int silent = 0;
  for (int32_t id : *ids) {
    auto chunk = stream.step(id);
    ASSERT_TRUE(chunk.ok()) << chunk.error().to_string();
    if (!chunk->has_value()) {
      ++silent;
      continue;
    }
    const std::string& c = **chunk;
    // Every chunk is complete UTF-8 on its own.
    EXPECT_EQ(c.find("\xEF\xBF\xBD"), std::string::npos) << c;
    joined += c;
  }
  EXPECT_GT(silent, 0);  // byte-level pieces of multi-byte characters were held back
  EXPECT_EQ(joined, text);
}

// Encoding stays linear: 300 KB through the regex split and through one huge BPE word (a
// normalizer-only tokenizer) in well under the time a quadratic pass would take. CPU time, so
// that a loaded machine does not make it flaky.
TEST(tokenizer, encode_is_linear_time) {
  std::string text;
  while (text.size() < 300'000) text += "The quick brown fox, 12345 日本語 🚀 naïve café.\n";
  json legacy = read_json(fixtures + "/sentencepiece_bpe.tokenizer.json");
  legacy["pre_tokenizer"] = nullptr;
  legacy["normalizer"] = json::parse(R"({"type":"Sequence","normalizers":[
      {"type":"Prepend","prepend":"\u2581"},
      {"type":"Replace","pattern":{"String":" "},"content":"\u2581"}]})");
  auto one_word = tokenizer::from_json(legacy.dump());
  ASSERT_TRUE(one_word.ok()) << one_word.error().to_string();
  auto byte_level = tokenizer::from_file(fixtures + "/bytelevel_bpe.tokenizer.json");
  ASSERT_TRUE(byte_level.ok());
  const std::clock_t start = std::clock();
  auto a = one_word->encode(text);
  auto b = byte_level->encode(text);
  const double cpu_s = double(std::clock() - start) / CLOCKS_PER_SEC;
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_GT(a->size(), 100'000u);
  EXPECT_GT(b->size(), 100'000u);
  EXPECT_LT(cpu_s, 10.0) << "encoding 2 x 300 KB took " << cpu_s << " s of CPU";
  auto back = byte_level->decode(*b);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, text);
}

// Runs tokenizer_peer.py (HF tokenizers) and compares everything it recorded.
TEST(tokenizer, live_equal_to_hf_tokenizers) {
  const std::string out_dir = std::string(KAITO_BINARY_DIR) + "/tests/engine/tokenizer_peer";
  const std::string cmd = "python3 " + std::string(KAITO_SOURCE_DIR) +
                          "/tests/engine/tokenizer_peer.py " + fixtures + " " + out_dir;
  const int rc = std::system(cmd.c_str());
  ASSERT_NE(rc, -1) << "cannot run python3";
  ASSERT_NE(WEXITSTATUS(rc), 3)
      << "the Python package 'tokenizers' (the live HF peer) is missing: run ./setup.sh";
  ASSERT_EQ(rc, 0)
      << "tokenizer_peer.py failed (python3 with `tokenizers` is needed: run ./setup.sh): " << cmd;
  const json peer = read_json(out_dir + "/tokenizer_peer.json");
  ASSERT_TRUE(peer.is_object());
  ASSERT_EQ(peer["variants"].size(), 8u);
  size_t compared = 0;
  for (const json& v : peer["variants"]) {
    const std::string name = v["name"];
    auto tok = tokenizer::from_file(v["path"]);
    ASSERT_TRUE(tok.ok()) << name << ": " << tok.error().to_string();
    int failures = 0;
    for (const json& c : v["cases"]) {
      if (failures > 5) break;  // keep the log readable
      const std::string text =
          c.contains("hex") ? from_hex(c["hex"]) : c["text"].get<std::string>();
      const std::string shown = c.contains("hex") ? "hex:" + c["hex"].get<std::string>() : text;
      auto ids = tok->encode(text, true);
      ASSERT_TRUE(ids.ok()) << ids.error().to_string();
      if (*ids != ids_of(c["ids"])) {
        ++failures;
        ADD_FAILURE() << name << " encode('" << shown << "') = " << json(*ids).dump()
                      << ", HF = " << c["ids"].dump();
      }
      ++compared;
      if (c.contains("hex")) continue;
      auto plain = tok->encode(text, false);
      ASSERT_TRUE(plain.ok());
      if (*plain != ids_of(c["ids_plain"])) {
        ++failures;
        ADD_FAILURE() << name << " encode('" << shown << "', no specials) = " << json(*plain).dump()
                      << ", HF = " << c["ids_plain"].dump();
      }
      const auto hf_ids = ids_of(c["ids"]);
      auto dec = tok->decode(hf_ids, true);
      auto dec_all = tok->decode(hf_ids, false);
      ASSERT_TRUE(dec.ok() && dec_all.ok());
      if (*dec != c["decoded"].get<std::string>() ||
          *dec_all != c["decoded_all"].get<std::string>()) {
        ++failures;
        ADD_FAILURE() << name << " decode(" << c["ids"].dump() << ") = '" << *dec << "' / '"
                      << *dec_all << "', HF = " << c["decoded"].dump() << " / "
                      << c["decoded_all"].dump();
      }
      if (c.contains("stream")) {
        tokenizer_decode_stream stream(*tok, false);
        json chunks = json::array();
        for (int32_t id : hf_ids) {
          auto s = stream.step(id);
          ASSERT_TRUE(s.ok()) << s.error().to_string();
          chunks.push_back(s->has_value() ? json(**s) : json(nullptr));
        }
        if (chunks != c["stream"]) {
          ++failures;
          ADD_FAILURE() << name << " stream(" << c["ids"].dump() << ") = " << chunks.dump()
                        << ", HF = " << c["stream"].dump();
        }
      }
    }
    auto odd = tok->decode(v["odd_ids"].get<std::vector<int32_t>>());
    ASSERT_TRUE(odd.ok());
    EXPECT_EQ(*odd, v["odd_decoded"].get<std::string>()) << name;
    EXPECT_EQ(tok->vocab_size(), v["vocab_size"].get<size_t>()) << name;
  }
  EXPECT_GT(compared, 15000u);
}

}  // namespace
}  // namespace kaito::engine
