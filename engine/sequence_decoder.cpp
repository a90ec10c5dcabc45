// The CPU engine's sequence_decoder; see sequence_decoder.h.
#include "engine/sequence_decoder.h"

#include <cstddef>
#include <string>

#include "engine/kv_decode.h"

namespace kaito::engine {

namespace {

class cpu_sequence_decoder final : public sequence_decoder {
 public:
  cpu_sequence_decoder(const model& m, int64_t slots) : m_(m), caches_(size_t(slots)) {
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
    if (!valid(from) || !valid(to) || from == to || n <= 0) return false;
    const kv_cache& src = caches_[size_t(from)];
    kv_cache& dst = caches_[size_t(to)];
    // The keys must be rotated as a prefill of n would rotate them (a longrope switch
    // re-prefilled the source with other factors, and it holds at least the n positions).
    if (dst.len != 0 || src.len < n || engine::needs_reprefill(m_.config, src, n)) return false;
    const size_t row = size_t(m_.config.num_kv_heads) * size_t(m_.config.head_dim);
    for (size_t l = 0; l < src.k.size(); ++l) {
      dst.k[l].assign(src.k[l].begin(), src.k[l].begin() + std::ptrdiff_t(size_t(n) * row));
      dst.v[l].assign(src.v[l].begin(), src.v[l].begin() + std::ptrdiff_t(size_t(n) * row));
    }
    dst.len = n;
    dst.long_rope = src.long_rope;
    return true;
  }
  void reset(int64_t slot) override {
    if (valid(slot)) reset_cache(caches_[size_t(slot)], m_.config.num_layers);
  }
  status prefill(int64_t slot, const int32_t* ids, int64_t n, int64_t rope_len,
                 std::vector<float>* logits) override {
    if (!valid(slot)) return bad_slot(slot, "slot");
    return engine::prefill(m_, nullptr, caches_[size_t(slot)], ids, n, logits, rope_len);
  }
  status prefill_rows(int64_t slot, const int32_t* ids, int64_t n, int64_t rope_len,
                      std::vector<float>* logits) override {
    if (!valid(slot)) return bad_slot(slot, "slot");
    return engine::prefill(m_, nullptr, caches_[size_t(slot)], ids, n, logits, rope_len, true);
  }
  bool needs_reprefill(int64_t slot, int64_t seq_len) const override {
    return valid(slot) && engine::needs_reprefill(m_.config, caches_[size_t(slot)], seq_len);
  }
  status decode(const std::vector<int64_t>& slots, const std::vector<int32_t>& ids,
                std::vector<float>* logits) override {
    std::vector<kv_cache*> caches;
    std::vector<bool> seen(caches_.size(), false);
    for (size_t b = 0; b < slots.size(); ++b) {
      const int64_t s = slots[b];
      if (!valid(s) || seen[size_t(s)]) return bad_slot(s, "slots[" + std::to_string(b) + "]");
      seen[size_t(s)] = true;
      caches.push_back(&caches_[size_t(s)]);
    }
    return decode_batch(m_, nullptr, caches, ids, logits);
  }

 private:
  bool valid(int64_t slot) const { return slot >= 0 && slot < int64_t(caches_.size()); }
  status bad_slot(int64_t slot, const std::string& where) const {
    return invalid_argument("slot " + std::to_string(slot) + " out of range or listed twice",
                            where);
  }
  const model& m_;
  std::vector<kv_cache> caches_;
};

}  // namespace

std::unique_ptr<sequence_decoder> make_cpu_decoder(const model& m, int64_t slots) {
  return std::make_unique<cpu_sequence_decoder>(m, slots);
}

}  // namespace kaito::engine
