// PCRE2-backed patterns for the tokenizer (see tokenizer_regex.h).
#define PCRE2_CODE_UNIT_WIDTH 8
#include "engine/tokenizer_regex.h"

#include <pcre2.h>

#include "engine/unicode.h"

namespace kaito::engine {

struct tokenizer_regex::code {
  pcre2_code* re = nullptr;
  pcre2_match_context* ctx = nullptr;
  ~code() {
    if (ctx) pcre2_match_context_free(ctx);
    if (re) pcre2_code_free(re);
  }
};

result<tokenizer_regex> tokenizer_regex::compile(std::string_view pattern) {
  int err = 0;
  PCRE2_SIZE err_offset = 0;
  pcre2_code* re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                 PCRE2_UTF | PCRE2_UCP, &err, &err_offset, nullptr);
  if (!re) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(err, buf, sizeof buf);
    return invalid_argument("bad regex: " + std::string(reinterpret_cast<char*>(buf)),
                            "offset " + std::to_string(err_offset));
  }
  auto c = std::make_shared<code>();
  c->re = re;
  pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);  // best effort; the interpreter is the fallback
  c->ctx = pcre2_match_context_create(nullptr);
  if (!c->ctx) return internal_error("pcre2_match_context_create failed");
  pcre2_set_match_limit(c->ctx, 10'000'000);
  pcre2_set_depth_limit(c->ctx, 100'000);
  tokenizer_regex r;
  r.code_ = std::move(c);
  return r;
}

result<tokenizer_regex> tokenizer_regex::literal(std::string_view lit) {
  std::string pattern = "\\Q";
  for (size_t i = 0; i < lit.size(); ++i) {
    // "\E" inside \Q...\E would end the quote: split it.
    if (lit[i] == '\\' && i + 1 < lit.size() && lit[i + 1] == 'E') {
      pattern += "\\E\\\\\\Q";
      continue;
    }
    pattern.push_back(lit[i]);
  }
  pattern += "\\E";
  return compile(pattern);
}

result<tokenizer_regex> tokenizer_regex::from_spec(std::string_view text, bool is_regex,
                                                   const std::string& path) {
  auto re = is_regex ? compile(text) : literal(text);
  if (!re.ok()) return invalid_argument(re.error().message() + " at " + re.error().where(), path);
  return re;
}

result<std::vector<std::pair<size_t, size_t>>> tokenizer_regex::find_all(std::string_view s) const {
  std::vector<std::pair<size_t, size_t>> out;
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(code_->re, nullptr);
  if (!md) return internal_error("pcre2_match_data_create failed");
  size_t pos = 0;
  size_t last_end = static_cast<size_t>(-1);
  bool utf_checked = false;
  status st;
  while (pos <= s.size()) {
    // PCRE2 validates the whole subject's UTF-8 on every call unless told not to: check it on
    // the first call only, which keeps find_all linear.
    const int rc = pcre2_match(code_->re, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), pos,
                               utf_checked ? PCRE2_NO_UTF_CHECK : 0, md, code_->ctx);
    utf_checked = true;
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR buf[256];
      pcre2_get_error_message(rc, buf, sizeof buf);
      st = status(status_code::resource_exhausted,
                  "regex match failed: " + std::string(reinterpret_cast<char*>(buf)));
      break;
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    const size_t b = ov[0], e = ov[1];
    if (b == e) {
      // An empty match right after the previous match is skipped (Rust/Oniguruma iterators).
      if (b != last_end) out.emplace_back(b, e);
      if (b >= s.size()) break;
      pos = b + utf8_char_size(s, b);
      last_end = static_cast<size_t>(-1);
      continue;
    }
    out.emplace_back(b, e);
    pos = e;
    last_end = e;
  }
  pcre2_match_data_free(md);
  if (!st.ok()) return st;
  return out;
}

}  // namespace kaito::engine
