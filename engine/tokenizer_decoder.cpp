// Decoders of HF tokenizers (see tokenizer_decoder.h); each class mirrors the Rust type of the
// same name in tokenizers/src/decoders/.
#include "engine/tokenizer_decoder.h"

#include "engine/tokenizer_json.h"
#include "engine/tokenizer_regex.h"
#include "engine/unicode.h"

namespace kaito::engine {
namespace {

using namespace tokenizer_json;
constexpr int max_depth = 32;

class sequence_decoder final : public tokenizer_decoder {
 public:
  std::vector<std::unique_ptr<tokenizer_decoder>> parts;
  status decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& p : parts) KAITO_TRY(p->decode_chain(tokens));
    return {};
  }
};

// Token strings are byte-level characters; unmappable tokens keep their own bytes; the bytes are
// then read as UTF-8 with invalid sequences replaced (String::from_utf8_lossy).
class byte_level_decoder final : public tokenizer_decoder {
 public:
  status decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const auto& t : tokens) {
      std::string mapped;
      bool ok = true;
      for (size_t p = 0; p < t.size();) {
        const int b = unicode_to_byte(utf8_next(t, p));
        if (b < 0) {
          ok = false;
          break;
        }
        mapped.push_back(static_cast<char>(b));
      }
      bytes += ok ? mapped : t;
    }
    tokens.assign(1, utf8_sanitize(bytes));
    return {};
  }
};

class byte_fallback_decoder final : public tokenizer_decoder {
 public:
  status decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string pending;
    const auto flush = [&] {
      if (pending.empty()) return;
      if (utf8_is_valid(pending)) {
        out.push_back(pending);
      } else {
        for (size_t i = 0; i < pending.size(); ++i) out.push_back("\xEF\xBF\xBD");
      }
      pending.clear();
    };
    for (auto& t : tokens) {
      int byte = -1;
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') byte = parse_hex(t[3], t[4]);
      if (byte >= 0) {
        pending.push_back(static_cast<char>(byte));
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens = std::move(out);
    return {};
  }

 private:
  static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  // u8::from_str_radix(_, 16) on two characters (a leading '+' is accepted, as in Rust).
  static int parse_hex(char a, char b) {
    const int lo = hex_digit(b);
    if (lo < 0) return -1;
    if (a == '+') return lo;
    const int hi = hex_digit(a);
    return hi < 0 ? -1 : hi * 16 + lo;
  }
};

class fuse_decoder final : public tokenizer_decoder {
 public:
  status decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const auto& t : tokens) all += t;
    tokens.assign(1, std::move(all));
    return {};
  }
};

class strip_decoder final : public tokenizer_decoder {
 public:
  uint32_t content = ' ';
  size_t start = 0, stop = 0;
  status decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) {
      std::vector<uint32_t> cps;
      for (size_t p = 0; p < t.size();) cps.push_back(utf8_next(t, p));
      size_t b = 0, e = cps.size();
      for (size_t i = 0; i < start && b < e && cps[b] == content; ++i) ++b;
      for (size_t i = 0; i < stop && e > b && cps[e - 1] == content; ++i) --e;
      std::string s;
      for (size_t i = b; i < e; ++i) utf8_append(s, cps[i]);
      t = std::move(s);
    }
    return {};
  }
};

class replace_decoder final : public tokenizer_decoder {
 public:
  tokenizer_regex pattern;
  std::string content;
  status decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) {
      KAITO_ASSIGN_OR_RETURN(auto matches, pattern.find_all(t));
      std::string out;
      size_t prev = 0;
      for (auto [b, e] : matches) {
        out.append(t, prev, b - prev);
        out += content;
        prev = e;
      }
      out.append(t, prev, std::string::npos);
      t = std::move(out);
    }
    return {};
  }
};

class metaspace_decoder final : public tokenizer_decoder {
 public:
  uint32_t replacement = 0x2581;
  bool prepend = true;  // prepend_scheme != never
  status decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      for (size_t p = 0; p < tokens[i].size();) {
        const uint32_t c = utf8_next(tokens[i], p);
        if (c == replacement) {
          if (!(i == 0 && prepend)) out.push_back(' ');
        } else {
          utf8_append(out, c);
        }
      }
      tokens[i] = std::move(out);
    }
    return {};
  }
};

result<uint32_t> single_char(const json& j, const char* key, const std::string& path,
                             const std::string& fallback) {
  KAITO_ASSIGN_OR_RETURN(const std::string s, get_string(j, key, path, &fallback));
  if (s.empty() || utf8_char_size(s, 0) != s.size())
    return invalid_argument("expected a single character", child(path, key));
  size_t p = 0;
  return utf8_next(s, p);
}

}  // namespace

result<std::unique_ptr<tokenizer_decoder>> parse_tokenizer_decoder(const nlohmann::json& j,
                                                                   const std::string& path,
                                                                   int depth) {
  using ptr = std::unique_ptr<tokenizer_decoder>;
  if (depth > max_depth) return invalid_argument("decoders nested too deeply", path);
  KAITO_TRY(expect_object(j, path));
  KAITO_ASSIGN_OR_RETURN(const std::string type, get_string(j, "type", path));
  if (type == "Sequence") {
    auto seq = std::make_unique<sequence_decoder>();
    const json* list = member(j, "decoders");
    const std::string lp = child(path, "decoders");
    if (!list || !list->is_array()) return invalid_argument("expected an array", lp);
    for (size_t i = 0; i < list->size(); ++i) {
      KAITO_ASSIGN_OR_RETURN(auto part,
                             parse_tokenizer_decoder((*list)[i], index(lp, i), depth + 1));
      seq->parts.push_back(std::move(part));
    }
    return ptr(std::move(seq));
  }
  if (type == "ByteLevel") return ptr(new byte_level_decoder);
  if (type == "ByteFallback") return ptr(new byte_fallback_decoder);
  if (type == "Fuse") return ptr(new fuse_decoder);
  if (type == "Strip") {
    auto s = std::make_unique<strip_decoder>();
    KAITO_ASSIGN_OR_RETURN(s->content, single_char(j, "content", path, " "));
    KAITO_ASSIGN_OR_RETURN(const int64_t a, get_int(j, "start", path, 0, 0, 1 << 20));
    KAITO_ASSIGN_OR_RETURN(const int64_t b, get_int(j, "stop", path, 0, 0, 1 << 20));
    s->start = static_cast<size_t>(a);
    s->stop = static_cast<size_t>(b);
    return ptr(std::move(s));
  }
  if (type == "Replace") {
    auto r = std::make_unique<replace_decoder>();
    KAITO_ASSIGN_OR_RETURN(const pattern_spec spec, get_pattern(j, "pattern", path));
    KAITO_ASSIGN_OR_RETURN(
        r->pattern, tokenizer_regex::from_spec(spec.text, spec.is_regex, child(path, "pattern")));
    KAITO_ASSIGN_OR_RETURN(r->content, get_string(j, "content", path));
    return ptr(std::move(r));
  }
  if (type == "Metaspace") {
    auto m = std::make_unique<metaspace_decoder>();
    KAITO_ASSIGN_OR_RETURN(m->replacement, single_char(j, "replacement", path, "\xE2\x96\x81"));
    if (member(j, "prepend_scheme")) {
      KAITO_ASSIGN_OR_RETURN(const std::string s, get_string(j, "prepend_scheme", path));
      m->prepend = s != "never";
    } else {
      KAITO_ASSIGN_OR_RETURN(m->prepend, get_bool(j, "add_prefix_space", path, true));
    }
    return ptr(std::move(m));
  }
  return status(status_code::unimplemented, "unsupported decoder type '" + type + "'",
                child(path, "type"));
}

}  // namespace kaito::engine
