// The CPU engine's sequence_decoder; see sequence_decoder.h.
#include "engine/sequence_decoder.h"

#include <algorithm>
#include <cstddef>
#include <string>
#include <utility>

#include "engine/idle_kv_cache.h"
#include "engine/kv_decode.h"

namespace kaito::engine {

namespace {

class cpu_sequence_decoder final : public sequence_decoder {
 public:
  cpu_sequence_decoder(const model& m, int64_t slots, int64_t idle_bytes)
      : m_(m),
        caches_(size_t(slots)),
        ids_(size_t(slots)),
        kept_(size_t(slots), true),
        lora_(size_t(slots)),
        idle_(m.config, idle_bytes / std::max<int64_t>(kv_bytes_per_token(), 1)) {
    for (kv_cache& c : caches_) reset_cache(c, m_.config.num_layers);
  }
  int64_t slots() const override { return int64_t(caches_.size()); }
  int64_t max_len() const override { return m_.config.max_position_embeddings; }
  int64_t max_prefill() const override { return 0; }
  int64_t kv_bytes_per_token() const override {
    const model_config& c = m_.config;
    return c.num_layers * 2 * c.num_kv_heads * c.head_dim * int64_t(sizeof(float));
  }
  bool kv_preallocated() const override { return false; }
  bool fork_prefix(int64_t from, int64_t to, int64_t n) override {
    if (!valid(from) || !valid(to) || from == to || n <= 0 ||
        lora_id(lora_[size_t(from)]) != lora_id(lora_[size_t(to)]))
      return false;
    const kv_cache& src = caches_[size_t(from)];
    kv_cache& dst = caches_[size_t(to)];
    // The keys must be rotated as a prefill of n would rotate them (a longrope switch
    // re-prefilled the source with other factors, and it holds at least the n positions).
    // `to` is empty, or holds a prefix of those positions reuse_prefix attached.
    const std::vector<int32_t>& held = ids_[size_t(to)];
    if (dst.len > n || src.len < n || engine::needs_reprefill(m_.config, src, n) ||
        int64_t(held.size()) != dst.len || int64_t(ids_[size_t(from)].size()) < n ||
        !std::equal(held.begin(), held.end(), ids_[size_t(from)].begin()))
      return false;
    copy_cache_prefix(m_.config, src, n, dst);
    ids_[size_t(to)].assign(ids_[size_t(from)].begin(),
                            ids_[size_t(from)].begin() + std::ptrdiff_t(n));
    kept_[size_t(to)] = kept_[size_t(from)];
    return true;
  }
  int64_t reuse_prefix(int64_t slot, const int32_t* ids, int64_t n, int64_t rope_len) override {
    if (!valid(slot) || caches_[size_t(slot)].len != 0) return 0;
    const int64_t m =
        idle_.take_prefix(lora_id(lora_[size_t(slot)]), ids, n, rope_len, caches_[size_t(slot)]);
    ids_[size_t(slot)].assign(ids, ids + m);
    return m;
  }
  void trim_idle_cache(int64_t tokens) override { idle_.trim(tokens); }
  bool serves_loras() const override { return true; }
  void set_adapter(int64_t slot, served_lora_ptr lora) override {
    if (valid(slot) && caches_[size_t(slot)].len == 0) lora_[size_t(slot)] = std::move(lora);
  }
  void reset(int64_t slot) override {
    if (!valid(slot)) return;
    kv_cache& c = caches_[size_t(slot)];
    std::vector<int32_t>& ids = ids_[size_t(slot)];
    if (kept_[size_t(slot)] && c.len > 0 && int64_t(ids.size()) == c.len) {
      // (ends the answer; its prefix may serve again, with the same adapter)
      idle_.put(lora_id(lora_[size_t(slot)]), std::move(ids), std::move(c));
      c = kv_cache{};
    }
    ids.clear();
    kept_[size_t(slot)] = true;
    reset_cache(c, m_.config.num_layers);
  }
  status prefill(int64_t slot, const int32_t* ids, int64_t n, int64_t rope_len,
                 std::vector<float>* logits) override {
    if (!valid(slot)) return bad_slot(slot, "slot");
    const status st =
        engine::prefill(m_, lora_of(slot), caches_[size_t(slot)], ids, n, logits, rope_len);
    appended(slot, ids, n, st.ok());
    return st;
  }
  status prefill_rows(int64_t slot, const int32_t* ids, int64_t n, int64_t rope_len,
                      std::vector<float>* logits) override {
    if (!valid(slot)) return bad_slot(slot, "slot");
    const status st =
        engine::prefill(m_, lora_of(slot), caches_[size_t(slot)], ids, n, logits, rope_len, true);
    appended(slot, ids, n, st.ok());
    return st;
  }
  bool needs_reprefill(int64_t slot, int64_t seq_len) const override {
    return valid(slot) && engine::needs_reprefill(m_.config, caches_[size_t(slot)], seq_len);
  }
  status decode(const std::vector<int64_t>& slots, const std::vector<int32_t>& ids,
                std::vector<float>* logits) override {
    std::vector<kv_cache*> caches;
    std::vector<const lora_adapter*> loras;
    std::vector<bool> seen(caches_.size(), false);
    for (size_t b = 0; b < slots.size(); ++b) {
      const int64_t s = slots[b];
      if (!valid(s) || seen[size_t(s)]) return bad_slot(s, "slots[" + std::to_string(b) + "]");
      seen[size_t(s)] = true;
      caches.push_back(&caches_[size_t(s)]);
      loras.push_back(lora_of(s));
    }
    const status st = decode_batch(m_, loras, caches, ids, logits);
    for (size_t b = 0; b < slots.size(); ++b) appended(slots[b], &ids[b], 1, st.ok());
    return st;
  }

 private:
  // The tokens a call put into the slot's cache, tracked for the idle cache; after a failure the
  // cache is not kept (the slot must be reset anyway, and what it holds is unknown).
  void appended(int64_t slot, const int32_t* ids, int64_t n, bool ok) {
    if (ok)
      ids_[size_t(slot)].insert(ids_[size_t(slot)].end(), ids, ids + n);
    else
      kept_[size_t(slot)] = false;
  }
  bool valid(int64_t slot) const { return slot >= 0 && slot < int64_t(caches_.size()); }
  const lora_adapter* lora_of(int64_t slot) const {
    const served_lora_ptr& l = lora_[size_t(slot)];
    return l ? &l->lora : nullptr;
  }
  status bad_slot(int64_t slot, const std::string& where) const {
    return invalid_argument("slot " + std::to_string(slot) + " out of range or listed twice",
                            where);
  }
  const model& m_;
  std::vector<kv_cache> caches_;
  std::vector<std::vector<int32_t>> ids_;  // per slot: the tokens its cache holds
  std::vector<bool> kept_;                 // per slot: false after a failed call
  std::vector<served_lora_ptr> lora_;      // per slot: its adapter (null: none)
  idle_kv_cache idle_;
};

}  // namespace

std::unique_ptr<sequence_decoder> make_cpu_decoder(const model& m, int64_t slots,
                                                   int64_t idle_bytes) {
  return std::make_unique<cpu_sequence_decoder>(m, slots, std::max<int64_t>(idle_bytes, 0));
}

}  // namespace kaito::engine
