// Normalizers of HF tokenizers (see tokenizer_normalizer.h). Each class mirrors the Rust type of
// the same name in tokenizers/src/normalizers/.
#include "engine/tokenizer_normalizer.h"

#include <vector>

#include "engine/tokenizer_json.h"
#include "engine/tokenizer_regex.h"
#include "engine/unicode.h"

namespace kaito::engine {
namespace {

using namespace tokenizer_json;

constexpr int max_depth = 32;

class sequence_normalizer final : public tokenizer_normalizer {
 public:
  std::vector<std::unique_ptr<tokenizer_normalizer>> parts;
  status normalize(std::string& s) const override {
    for (const auto& p : parts) KAITO_TRY(p->normalize(s));
    return {};
  }
};

class prepend_normalizer final : public tokenizer_normalizer {
 public:
  std::string prefix;
  status normalize(std::string& s) const override {
    if (!s.empty()) s.insert(0, prefix);
    return {};
  }
};

class replace_normalizer final : public tokenizer_normalizer {
 public:
  tokenizer_regex pattern;
  std::string content;
  status normalize(std::string& s) const override {
    KAITO_ASSIGN_OR_RETURN(auto matches, pattern.find_all(s));
    if (matches.empty()) return {};
    std::string out;
    size_t prev = 0;
    for (auto [b, e] : matches) {
      out.append(s, prev, b - prev);
      out += content;
      prev = e;
    }
    out.append(s, prev, std::string::npos);
    s = std::move(out);
    return {};
  }
};

class unicode_normalizer final : public tokenizer_normalizer {
 public:
  normal_form form = normal_form::nfc;
  status normalize(std::string& s) const override {
    KAITO_ASSIGN_OR_RETURN(s, unicode_normalize(s, form));
    return {};
  }
};

class lowercase_normalizer final : public tokenizer_normalizer {
 public:
  status normalize(std::string& s) const override {
    KAITO_ASSIGN_OR_RETURN(s, unicode_lowercase(s));
    return {};
  }
};

class strip_normalizer final : public tokenizer_normalizer {
 public:
  bool left = true, right = true;
  status normalize(std::string& s) const override {
    size_t b = 0, e = s.size();
    if (left) {
      while (b < e) {
        size_t p = b;
        if (!is_unicode_whitespace(utf8_next(s, p))) break;
        b = p;
      }
    }
    if (right) {
      while (e > b) {
        size_t start = 0;
        if (!is_unicode_whitespace(utf8_last_before(s, e, &start))) break;
        e = start;
      }
    }
    s = s.substr(b, e - b);
    return {};
  }
};

class strip_accents_normalizer final : public tokenizer_normalizer {
 public:
  status normalize(std::string& s) const override {
    std::string out;
    for (size_t p = 0; p < s.size();) {
      const uint32_t cp = utf8_next(s, p);
      if (!is_combining_mark(cp)) utf8_append(out, cp);
    }
    s = std::move(out);
    return {};
  }
};

}  // namespace

result<std::unique_ptr<tokenizer_normalizer>> parse_tokenizer_normalizer(const nlohmann::json& j,
                                                                         const std::string& path,
                                                                         int depth) {
  if (depth > max_depth) return invalid_argument("normalizers nested too deeply", path);
  KAITO_TRY(expect_object(j, path));
  KAITO_ASSIGN_OR_RETURN(const std::string type, get_string(j, "type", path));
  if (type == "Sequence") {
    auto seq = std::make_unique<sequence_normalizer>();
    const json* list = member(j, "normalizers");
    const std::string lp = child(path, "normalizers");
    if (!list || !list->is_array()) return invalid_argument("expected an array", lp);
    for (size_t i = 0; i < list->size(); ++i) {
      KAITO_ASSIGN_OR_RETURN(auto part,
                             parse_tokenizer_normalizer((*list)[i], index(lp, i), depth + 1));
      seq->parts.push_back(std::move(part));
    }
    return std::unique_ptr<tokenizer_normalizer>(std::move(seq));
  }
  if (type == "Prepend") {
    auto n = std::make_unique<prepend_normalizer>();
    KAITO_ASSIGN_OR_RETURN(n->prefix, get_string(j, "prepend", path));
    return std::unique_ptr<tokenizer_normalizer>(std::move(n));
  }
  if (type == "Replace") {
    auto n = std::make_unique<replace_normalizer>();
    KAITO_ASSIGN_OR_RETURN(const pattern_spec spec, get_pattern(j, "pattern", path));
    KAITO_ASSIGN_OR_RETURN(
        n->pattern, tokenizer_regex::from_spec(spec.text, spec.is_regex, child(path, "pattern")));
    KAITO_ASSIGN_OR_RETURN(n->content, get_string(j, "content", path));
    return std::unique_ptr<tokenizer_normalizer>(std::move(n));
  }
  if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
    auto n = std::make_unique<unicode_normalizer>();
    n->form = type == "NFC"    ? normal_form::nfc
              : type == "NFD"  ? normal_form::nfd
              : type == "NFKC" ? normal_form::nfkc
                               : normal_form::nfkd;
    return std::unique_ptr<tokenizer_normalizer>(std::move(n));
  }
  if (type == "Lowercase") return std::unique_ptr<tokenizer_normalizer>(new lowercase_normalizer);
  if (type == "StripAccents") {
    return std::unique_ptr<tokenizer_normalizer>(new strip_accents_normalizer);
  }
  if (type == "Strip") {
    auto n = std::make_unique<strip_normalizer>();
    KAITO_ASSIGN_OR_RETURN(n->left, get_bool(j, "strip_left", path, true));
    KAITO_ASSIGN_OR_RETURN(n->right, get_bool(j, "strip_right", path, true));
    return std::unique_ptr<tokenizer_normalizer>(std::move(n));
  }
  return status(status_code::unimplemented, "unsupported normalizer type '" + type + "'",
                child(path, "type"));
}

}  // namespace kaito::engine
