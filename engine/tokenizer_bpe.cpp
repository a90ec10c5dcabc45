// The BPE model (see tokenizer_bpe.h); mirrors tokenizers/src/models/bpe/{model,word}.rs.
#include "engine/tokenizer_bpe.h"

#include <queue>

#include "engine/tokenizer_json.h"
#include "engine/unicode.h"

namespace kaito::engine {

using namespace tokenizer_json;

namespace {
constexpr size_t cache_max_entries = 20000;
constexpr size_t cache_max_word_bytes = 256;
}  // namespace

result<std::unique_ptr<tokenizer_bpe>> tokenizer_bpe::parse(const json& m,
                                                            const std::string& path) {
  KAITO_TRY(expect_object(m, path));
  const std::string bpe = "BPE";
  KAITO_ASSIGN_OR_RETURN(const std::string type, get_string(m, "type", path, &bpe));
  if (type != "BPE") {
    return status(status_code::unimplemented, "unsupported model type '" + type + "'",
                  child(path, "type"));
  }
  std::unique_ptr<tokenizer_bpe> t(new tokenizer_bpe);
  const json* vocab = member(m, "vocab");
  const std::string vp = child(path, "vocab");
  if (!vocab || !vocab->is_object()) return invalid_argument("expected an object", vp);
  t->vocab_.reserve(vocab->size());
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > INT32_MAX)
      return invalid_argument("expected a token id in [0, 2^31)", vp + "[\"" + it.key() + "\"]");
    const int32_t id = static_cast<int32_t>(it->get<int64_t>());
    t->vocab_[it.key()] = id;
    t->vocab_r_[id] = it.key();
  }
  if (const json* u = member(m, "unk_token")) {
    if (!u->is_string()) return invalid_argument("expected a string", child(path, "unk_token"));
    t->unk_token_ = u->get<std::string>();
  }
  const std::string none;
  KAITO_ASSIGN_OR_RETURN(t->continuing_subword_prefix_,
                         get_string(m, "continuing_subword_prefix", path, &none));
  KAITO_ASSIGN_OR_RETURN(t->end_of_word_suffix_, get_string(m, "end_of_word_suffix", path, &none));
  KAITO_ASSIGN_OR_RETURN(t->fuse_unk_, get_bool(m, "fuse_unk", path, false));
  KAITO_ASSIGN_OR_RETURN(t->byte_fallback_, get_bool(m, "byte_fallback", path, false));
  KAITO_ASSIGN_OR_RETURN(t->ignore_merges_, get_bool(m, "ignore_merges", path, false));
  if (const json* d = member(m, "dropout")) {
    if (!d->is_number() || d->get<double>() != 0.0)
      return status(status_code::unimplemented, "BPE dropout is not supported",
                    child(path, "dropout"));
  }

  const json* merges = member(m, "merges");
  const std::string mp = child(path, "merges");
  if (merges && !merges->is_array()) return invalid_argument("expected an array", mp);
  const size_t n = merges ? merges->size() : 0;
  t->merges_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const json& e = (*merges)[i];
    const std::string ep = index(mp, i);
    std::string a, b;
    if (e.is_string()) {
      const std::string s = e.get<std::string>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos) return invalid_argument("expected \"left right\"", ep);
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
      a = e[0].get<std::string>();
      b = e[1].get<std::string>();
    } else {
      return invalid_argument("expected \"left right\" or [left, right]", ep);
    }
    auto ia = t->vocab_.find(a);
    auto ib = t->vocab_.find(b);
    if (ia == t->vocab_.end()) return invalid_argument("merge token '" + a + "' not in vocab", ep);
    if (ib == t->vocab_.end()) return invalid_argument("merge token '" + b + "' not in vocab", ep);
    const std::string& prefix = t->continuing_subword_prefix_;
    std::string merged = a;
    if (!prefix.empty() && b.compare(0, prefix.size(), prefix) == 0) {
      merged += b.substr(prefix.size());
    } else {
      merged += b;
    }
    auto im = t->vocab_.find(merged);
    if (im == t->vocab_.end())
      return invalid_argument("merged token '" + merged + "' not in vocab", ep);
    t->merges_[pair_key(ia->second, ib->second)] =
        merge{static_cast<int32_t>(i), static_cast<int32_t>(im->second)};
  }
  return t;
}

std::optional<int32_t> tokenizer_bpe::token_to_id(std::string_view token) const {
  auto it = vocab_.find(std::string(token));
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* tokenizer_bpe::id_to_token(int32_t id) const {
  auto it = vocab_r_.find(id);
  return it == vocab_r_.end() ? nullptr : &it->second;
}

status tokenizer_bpe::tokenize(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return {};
  if (ignore_merges_) {
    if (auto id = token_to_id(word)) {
      out.push_back(*id);
      return {};
    }
  }
  const bool cacheable = word.size() <= cache_max_word_bytes;
  std::string key;
  if (cacheable) {
    key.assign(word);
    std::lock_guard<std::mutex> lock(cache_mu_);
    auto it = cache_.find(key);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return {};
    }
  }
  std::vector<int32_t> ids;
  KAITO_TRY(merge_word(word, ids));
  out.insert(out.end(), ids.begin(), ids.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mu_);
    if (cache_.size() >= cache_max_entries) cache_.clear();
    cache_.emplace(std::move(key), std::move(ids));
  }
  return {};
}

status tokenizer_bpe::merge_word(std::string_view w, std::vector<int32_t>& out) const {
  struct symbol {
    int32_t id;
    int64_t prev, next;
    size_t len;
  };
  std::vector<symbol> syms;
  syms.reserve(w.size());
  const auto add = [&](int32_t id, size_t len) {
    const int64_t n = static_cast<int64_t>(syms.size());
    syms.push_back({id, n - 1, n + 1, len});
  };
  std::optional<std::pair<int32_t, size_t>> unk;
  for (size_t i = 0; i < w.size();) {
    const size_t b = i;
    i += utf8_char_size(w, i);
    if (i > w.size()) i = w.size();
    const bool is_first = b == 0, is_last = i >= w.size();
    const size_t byte_len = i - b;
    std::string s(w.substr(b, byte_len));
    if (!is_first && !continuing_subword_prefix_.empty()) s = continuing_subword_prefix_ + s;
    if (is_last && !end_of_word_suffix_.empty()) s += end_of_word_suffix_;
    if (auto it = vocab_.find(s); it != vocab_.end()) {
      if (unk) {
        add(unk->first, unk->second);
        unk.reset();
      }
      add(it->second, byte_len);
      continue;
    }
    if (byte_fallback_) {
      std::vector<int32_t> bytes;
      bool all = true;
      for (unsigned char c : s) {
        static const char* hex = "0123456789ABCDEF";
        const std::string code = std::string("<0x") + hex[c >> 4] + hex[c & 15] + ">";
        auto it = vocab_.find(code);
        if (it == vocab_.end()) {
          all = false;
          break;
        }
        bytes.push_back(it->second);
      }
      if (all) {
        for (int32_t id : bytes) add(id, 1);
        continue;
      }
    }
    if (unk_token_) {
      auto it = vocab_.find(*unk_token_);
      if (it == vocab_.end()) {
        return status(status_code::failed_precondition,
                      "unk_token '" + *unk_token_ + "' is not in the vocab", "model.unk_token");
      }
      if (unk && fuse_unk_) {
        unk->second += byte_len;
      } else {
        if (unk) add(unk->first, unk->second);
        unk = std::make_pair(it->second, byte_len);
      }
    }
  }
  if (unk) add(unk->first, unk->second);
  if (!syms.empty()) syms.back().next = -1;

  struct entry {
    int32_t rank;
    size_t pos;
    int32_t new_id;
    bool operator>(const entry& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<entry, std::vector<entry>, std::greater<entry>> queue;
  for (size_t i = 0; i + 1 < syms.size(); ++i) {
    auto it = merges_.find(pair_key(syms[i].id, syms[i + 1].id));
    if (it != merges_.end()) queue.push({it->second.rank, i, it->second.new_id});
  }
  while (!queue.empty()) {
    const entry top = queue.top();
    queue.pop();
    symbol& cur = syms[top.pos];
    if (cur.len == 0 || cur.next == -1) continue;
    const size_t next_pos = static_cast<size_t>(cur.next);
    const symbol right = syms[next_pos];
    auto it = merges_.find(pair_key(cur.id, right.id));
    if (it == merges_.end() || it->second.new_id != top.new_id) continue;
    cur.id = top.new_id;
    cur.len += right.len;
    cur.next = right.next;
    syms[next_pos].len = 0;
    if (right.next > -1 && static_cast<size_t>(right.next) < syms.size())
      syms[static_cast<size_t>(right.next)].prev = static_cast<int64_t>(top.pos);
    if (cur.prev >= 0) {
      auto ip = merges_.find(pair_key(syms[static_cast<size_t>(cur.prev)].id, cur.id));
      if (ip != merges_.end())
        queue.push({ip->second.rank, static_cast<size_t>(cur.prev), ip->second.new_id});
    }
    if (cur.next >= 0 && static_cast<size_t>(cur.next) < syms.size()) {
      auto in = merges_.find(pair_key(cur.id, syms[static_cast<size_t>(cur.next)].id));
      if (in != merges_.end()) queue.push({in->second.rank, top.pos, in->second.new_id});
    }
  }
  for (const auto& s : syms)
    if (s.len != 0) out.push_back(s.id);
  return {};
}

}  // namespace kaito::engine
