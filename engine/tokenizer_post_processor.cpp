// Post-processors of HF tokenizers (see tokenizer_post_processor.h); mirrors
// tokenizers/src/processors/.
#include "engine/tokenizer_post_processor.h"

#include <map>

#include "engine/tokenizer_json.h"

namespace kaito::engine {
namespace {

using namespace tokenizer_json;
constexpr int max_depth = 32;

class sequence_processor final : public tokenizer_post_processor {
 public:
  std::vector<std::unique_ptr<tokenizer_post_processor>> parts;
  void process(std::vector<int32_t>& ids) const override {
    for (const auto& p : parts) p->process(ids);
  }
};

class identity_processor final : public tokenizer_post_processor {
 public:
  void process(std::vector<int32_t>&) const override {}
};

// `before` + sequence + `after`.
class wrap_processor final : public tokenizer_post_processor {
 public:
  std::vector<int32_t> before, after;
  void process(std::vector<int32_t>& ids) const override {
    ids.insert(ids.begin(), before.begin(), before.end());
    ids.insert(ids.end(), after.begin(), after.end());
  }
};

// ["<s>", 1] as used by Roberta/Bert processing.
result<int32_t> token_pair_id(const json& j, const char* key, const std::string& path) {
  const json* v = member(j, key);
  const std::string p = child(path, key);
  if (!v || !v->is_array() || v->size() != 2 || !(*v)[1].is_number_integer())
    return invalid_argument("expected [token, id]", p);
  const int64_t id = (*v)[1].get<int64_t>();
  if (id < 0 || id > INT32_MAX) return invalid_argument("id out of range", p);
  return static_cast<int32_t>(id);
}

result<std::unique_ptr<tokenizer_post_processor>> parse_template(const json& j,
                                                                 const std::string& path) {
  // special_tokens: {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}
  std::map<std::string, std::vector<int32_t>> specials;
  if (const json* st = member(j, "special_tokens")) {
    const std::string sp = child(path, "special_tokens");
    if (!st->is_object()) return invalid_argument("expected an object", sp);
    for (auto it = st->begin(); it != st->end(); ++it) {
      const std::string ep = sp + "[\"" + it.key() + "\"]";
      const json* ids = member(*it, "ids");
      if (!ids || !ids->is_array()) return invalid_argument("expected ids", ep);
      std::vector<int32_t> v;
      for (size_t i = 0; i < ids->size(); ++i) {
        const json& x = (*ids)[i];
        if (!x.is_number_integer() || x.get<int64_t>() < 0 || x.get<int64_t>() > INT32_MAX)
          return invalid_argument("expected a token id", index(child(ep, "ids"), i));
        v.push_back(static_cast<int32_t>(x.get<int64_t>()));
      }
      specials[it.key()] = std::move(v);
    }
  }
  const json* single = member(j, "single");
  const std::string sp = child(path, "single");
  if (!single || !single->is_array()) return invalid_argument("expected an array", sp);
  auto w = std::make_unique<wrap_processor>();
  bool seen_sequence = false;
  for (size_t i = 0; i < single->size(); ++i) {
    const json& piece = (*single)[i];
    const std::string pp = index(sp, i);
    if (const json* s = member(piece, "SpecialToken")) {
      const json* id = member(*s, "id");
      if (!id || !id->is_string()) return invalid_argument("expected an id", pp);
      auto it = specials.find(id->get<std::string>());
      if (it == specials.end())
        return invalid_argument("unknown special token '" + id->get<std::string>() + "'", pp);
      auto& dst = seen_sequence ? w->after : w->before;
      dst.insert(dst.end(), it->second.begin(), it->second.end());
    } else if (member(piece, "Sequence")) {
      if (seen_sequence) return invalid_argument("the single template has two sequences", pp);
      seen_sequence = true;
    } else {
      return invalid_argument("expected SpecialToken or Sequence", pp);
    }
  }
  if (!seen_sequence) return invalid_argument("the single template has no sequence", sp);
  return std::unique_ptr<tokenizer_post_processor>(std::move(w));
}

}  // namespace

result<std::unique_ptr<tokenizer_post_processor>> parse_tokenizer_post_processor(
    const nlohmann::json& j, const std::string& path, int depth) {
  using ptr = std::unique_ptr<tokenizer_post_processor>;
  if (depth > max_depth) return invalid_argument("post_processors nested too deeply", path);
  KAITO_TRY(expect_object(j, path));
  KAITO_ASSIGN_OR_RETURN(const std::string type, get_string(j, "type", path));
  if (type == "TemplateProcessing") return parse_template(j, path);
  if (type == "ByteLevel") return ptr(new identity_processor);
  if (type == "RobertaProcessing" || type == "BertProcessing") {
    auto w = std::make_unique<wrap_processor>();
    KAITO_ASSIGN_OR_RETURN(const int32_t cls, token_pair_id(j, "cls", path));
    KAITO_ASSIGN_OR_RETURN(const int32_t sep, token_pair_id(j, "sep", path));
    w->before = {cls};
    w->after = {sep};
    return ptr(std::move(w));
  }
  if (type == "Sequence") {
    auto seq = std::make_unique<sequence_processor>();
    const json* list = member(j, "processors");
    const std::string lp = child(path, "processors");
    if (!list || !list->is_array()) return invalid_argument("expected an array", lp);
    for (size_t i = 0; i < list->size(); ++i) {
      KAITO_ASSIGN_OR_RETURN(auto part,
                             parse_tokenizer_post_processor((*list)[i], index(lp, i), depth + 1));
      seq->parts.push_back(std::move(part));
    }
    return ptr(std::move(seq));
  }
  return status(status_code::unimplemented, "unsupported post_processor type '" + type + "'",
                child(path, "type"));
}

}  // namespace kaito::engine
