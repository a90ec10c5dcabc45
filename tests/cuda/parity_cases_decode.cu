// Row builders for attention over a KV cache (see parity_cases.h): q and the cache rows the
// queries may read (0..Tk-1) drawn at random and rounded to bf16 so both twins see the same
// values; cache rows Tk..Tcap-1 hold NaN on both sides, so a CUDA twin that reads past Tk
// produces NaN outputs and fails the row (the CPU twin never reads them).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/attention.h"
#include "tests/cuda/parity_cases.h"

namespace kaito::parity {

namespace {

// A (B, Tcap, NKV, HS) cache with random rows [0, Tk) and NaN rows [Tk, Tcap).
std::vector<float> random_cache(std::mt19937& rng, int64_t B, int64_t Tk, int64_t Tcap, int64_t NKV,
                                int64_t HS, float scale, std::vector<bf16>& bf) {
  std::vector<float> f = random_bf16_values(rng, B * Tcap * NKV * HS, scale, bf);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = Tk; t < Tcap; ++t)
      for (int64_t e = 0; e < NKV * HS; ++e) {
        const size_t at = size_t(((b * Tcap + t) * NKV) * HS + e);  // cache[b, t, :, :]
        f[at] = nan;
        bf[at] = f32_to_bf16(nan);
      }
  return f;
}

// The slots of a (S, Tcap, row) cache moved into a paged pool (kernels/attention.h kv_pages):
// blocks of bs positions in shuffled order plus `spare` NaN blocks no slot owns; table gets the
// (S, Tcap / bs) block ids.
std::vector<bf16> to_pool(std::mt19937& rng, const std::vector<bf16>& cache, int64_t S,
                          int64_t Tcap, int64_t row, int64_t bs, int64_t spare,
                          std::vector<int32_t>& table) {
  const int64_t ld = Tcap / bs, blocks = S * ld + spare;
  std::vector<int32_t> ids(static_cast<size_t>(blocks));
  for (int64_t i = 0; i < blocks; ++i) ids[size_t(i)] = int32_t(i);
  std::shuffle(ids.begin(), ids.end(), rng);
  table.assign(ids.begin(), ids.begin() + S * ld);
  std::vector<bf16> pool(size_t(blocks * bs * row),
                         f32_to_bf16(std::numeric_limits<float>::quiet_NaN()));
  for (int64_t i = 0; i < S * ld; ++i)  // block i of the slots' view -> pool block table[i]
    std::copy_n(cache.begin() + i * bs * row, bs * row,
                pool.begin() + int64_t(table[size_t(i)]) * bs * row);
  return pool;
}

}  // namespace

prepared attention_fwd_cached(std::mt19937& rng, int64_t B, int64_t Tq, int64_t Tk, int64_t Tcap,
                              int64_t NH, int64_t NKV, int64_t HS, int64_t window) {
  prepared p;
  std::vector<bf16> qb, kb, vb;
  auto q = random_bf16_values(rng, B * Tq * NH * HS, 1.5f, qb);
  auto k = random_cache(rng, B, Tk, Tcap, NKV, HS, 1.5f, kb);
  auto v = random_cache(rng, B, Tk, Tcap, NKV, HS, 1.0f, vb);
  auto qd = upload(p, elem::bf16, qb), kd = upload(p, elem::bf16, kb),
       vd = upload(p, elem::bf16, vb);
  auto out = add_output(p, "out", elem::bf16, B * Tq * NH * HS);
  auto lse = add_output(p, "lse", elem::f32, B * NH * Tq);
  const float scale = 1.0f / std::sqrt(float(HS));
  p.cpu = [=] {
    attention_forward_cached_cpu(out.ref->data(), lse.ref->data(), q.data(), k.data(), v.data(), B,
                                 Tq, Tk, Tcap, NH, NKV, HS, scale, window);
  };
  p.cuda = [=](cuda_context& cx) {
    attention_forward_cached_cuda(cx, out.dev->as<bf16>(), lse.dev->as<float>(), qd->as<bf16>(),
                                  kd->as<bf16>(), vd->as<bf16>(), B, Tq, Tk, Tcap, NH, NKV, HS,
                                  scale, window);
  };
  const double keys = window ? std::min<double>(window, Tk) : Tk;
  p.flops = 4.0 * B * Tq * NH * keys * HS;
  // q and out once, every visible K and V row once per query head (no reuse across a GQA group)
  p.bytes = 2.0 * (2 * B * Tq * NH * HS + 2 * B * NH * keys * HS) + 4.0 * B * NH * Tq;
  return p;
}

prepared attention_decode_device_len(std::mt19937& rng, int64_t B, int64_t Tk, int64_t Tk_max,
                                     int64_t NH, int64_t NKV, int64_t HS, int64_t window,
                                     bool merge_counters) {
  prepared p;
  const int64_t Tcap = Tk_max;
  std::vector<bf16> qb, kb, vb;
  auto q = random_bf16_values(rng, B * NH * HS, 1.5f, qb);
  auto k = random_cache(rng, B, Tk, Tcap, NKV, HS, 1.5f, kb);
  auto v = random_cache(rng, B, Tk, Tcap, NKV, HS, 1.0f, vb);
  auto qd = upload(p, elem::bf16, qb), kd = upload(p, elem::bf16, kb),
       vd = upload(p, elem::bf16, vb);
  auto tk = upload(p, elem::i32, std::vector<int32_t>{int32_t(Tk)});
  // zeroed merge counters (the split blocks merge; infer_test checks they come back zero)
  auto counters = merge_counters ? upload(p, elem::i32, std::vector<int32_t>(size_t(B * NH), 0))
                                 : decltype(tk){};
  auto out = add_output(p, "out", elem::bf16, B * NH * HS);
  const float scale = 1.0f / std::sqrt(float(HS));
  p.cpu = [=] {
    attention_forward_cached_cpu(out.ref->data(), nullptr, q.data(), k.data(), v.data(), B, 1, Tk,
                                 Tcap, NH, NKV, HS, scale, window);
  };
  p.cuda = [=](cuda_context& cx) {
    attention_decode_cuda(
        cx, out.dev->as<bf16>(), qd->as<bf16>(), kd->as<bf16>(), vd->as<bf16>(), tk->as<int32_t>(),
        B, Tk_max, Tcap, NH, NKV, HS, scale, window,
        counters ? reinterpret_cast<uint32_t*>(counters->as<int32_t>()) : nullptr);
  };
  const double keys = window ? std::min<double>(window, Tk) : Tk;
  p.flops = 4.0 * B * NH * keys * HS;
  p.bytes = 2.0 * (2 * B * NH * HS + 2 * B * NH * keys * HS);
  return p;
}

prepared attention_decode_rows(std::mt19937& rng, std::vector<int64_t> Tks,
                               std::vector<int64_t> slots, int64_t S, int64_t Tk_max, int64_t NH,
                               int64_t NKV, int64_t HS, int64_t window, bool merge_counters,
                               int64_t block_size) {
  prepared p;
  const int64_t B = int64_t(Tks.size()),
                Tcap =
                    block_size > 0 ? (Tk_max + block_size - 1) / block_size * block_size : Tk_max;
  // every slot's rows past the longest key count NaN; the slots no row reads too, and each row's
  // own slot past its own count (random_cache per slot)
  std::vector<bf16> qb, kb, vb;
  auto q = random_bf16_values(rng, B * NH * HS, 1.5f, qb);
  std::vector<int64_t> slot_tk(size_t(S), 0);
  for (int64_t b = 0; b < B; ++b) slot_tk[size_t(slots[size_t(b)])] = Tks[size_t(b)];
  std::vector<float> k, v;
  for (int64_t sl = 0; sl < S; ++sl) {
    std::vector<bf16> ks, vs;
    auto kf = random_cache(rng, 1, slot_tk[size_t(sl)], Tcap, NKV, HS, 1.5f, ks);
    auto vf = random_cache(rng, 1, slot_tk[size_t(sl)], Tcap, NKV, HS, 1.0f, vs);
    k.insert(k.end(), kf.begin(), kf.end());
    v.insert(v.end(), vf.begin(), vf.end());
    kb.insert(kb.end(), ks.begin(), ks.end());
    vb.insert(vb.end(), vs.begin(), vs.end());
  }
  std::vector<int32_t> table;  // paged: the slots' blocks in a shuffled pool with 3 spare
  if (block_size > 0) {
    std::mt19937 order(rng());  // the same shuffle for k and v
    std::mt19937 order_v = order;
    kb = to_pool(order, kb, S, Tcap, NKV * HS, block_size, 3, table);
    vb = to_pool(order_v, vb, S, Tcap, NKV * HS, block_size, 3, table);
  }
  auto qd = upload(p, elem::bf16, qb), kd = upload(p, elem::bf16, kb),
       vd = upload(p, elem::bf16, vb);
  auto tabled = upload(p, elem::i32, block_size > 0 ? table : std::vector<int32_t>{0});
  const int64_t pool_blocks = block_size > 0 ? int64_t(table.size()) + 3 : 0;
  std::vector<int32_t> tk32, slot32;
  for (int64_t b = 0; b < B; ++b) {
    tk32.push_back(int32_t(Tks[size_t(b)]));
    slot32.push_back(int32_t(slots[size_t(b)]));
  }
  auto tkd = upload(p, elem::i32, tk32), slotd = upload(p, elem::i32, slot32);
  auto counters = merge_counters ? upload(p, elem::i32, std::vector<int32_t>(size_t(B * NH), 0))
                                 : decltype(tkd){};
  auto out = add_output(p, "out", elem::bf16, B * NH * HS);
  const float scale = 1.0f / std::sqrt(float(HS));
  const int64_t slot_elems = Tcap * NKV * HS;
  p.cpu = [=] {
    for (int64_t b = 0; b < B; ++b) {  // each row on its own slot's cache
      const int64_t sl = slots[size_t(b)];
      attention_forward_cached_cpu(out.ref->data() + b * NH * HS, nullptr, q.data() + b * NH * HS,
                                   k.data() + sl * slot_elems, v.data() + sl * slot_elems, 1, 1,
                                   Tks[size_t(b)], Tcap, NH, NKV, HS, scale, window);
    }
  };
  p.cuda = [=](cuda_context& cx) {
    kv_pages pages;
    if (block_size > 0) pages = {tabled->as<int32_t>(), block_size, Tcap / block_size, pool_blocks};
    attention_decode_rows_cuda(
        cx, out.dev->as<bf16>(), qd->as<bf16>(), kd->as<bf16>(), vd->as<bf16>(), tkd->as<int32_t>(),
        slotd->as<int32_t>(), B, S, Tk_max, Tcap, NH, NKV, HS, scale, window,
        counters ? reinterpret_cast<uint32_t*>(counters->as<int32_t>()) : nullptr, pages);
  };
  double keys = 0;
  for (int64_t t : Tks) keys += window ? std::min<double>(window, t) : t;
  p.flops = 4.0 * NH * keys * HS;
  p.bytes = 2.0 * (2 * B * NH * HS + 2 * NH * keys * HS);
  return p;
}

prepared attention_fwd_paged(std::mt19937& rng, int64_t Tq, int64_t Tk, int64_t slot, int64_t S,
                             int64_t Tcap, int64_t block_size, int64_t NH, int64_t NKV, int64_t HS,
                             int64_t window, bool mma) {
  prepared p;
  std::vector<bf16> qb, kb, vb;
  auto q = random_bf16_values(rng, Tq * NH * HS, 1.5f, qb);
  auto k = random_cache(rng, S, Tk, Tcap, NKV, HS, 1.5f, kb);  // every slot Tk rows, NaN after
  auto v = random_cache(rng, S, Tk, Tcap, NKV, HS, 1.0f, vb);
  std::vector<int32_t> table;
  std::mt19937 order(rng());
  std::mt19937 order_v = order;
  kb = to_pool(order, kb, S, Tcap, NKV * HS, block_size, 2, table);
  vb = to_pool(order_v, vb, S, Tcap, NKV * HS, block_size, 2, table);
  const int64_t blocks = int64_t(table.size()) + 2;
  auto qd = upload(p, elem::bf16, qb), kd = upload(p, elem::bf16, kb),
       vd = upload(p, elem::bf16, vb), tabled = upload(p, elem::i32, table);
  auto out = add_output(p, "out", elem::bf16, Tq * NH * HS);
  auto lse = add_output(p, "lse", elem::f32, NH * Tq);
  const float scale = 1.0f / std::sqrt(float(HS));
  const int64_t slot_elems = Tcap * NKV * HS;
  p.cpu = [=] {
    attention_forward_cached_cpu(out.ref->data(), lse.ref->data(), q.data(),
                                 k.data() + slot * slot_elems, v.data() + slot * slot_elems, 1, Tq,
                                 Tk, Tcap, NH, NKV, HS, scale, window);
  };
  p.cuda = [=](cuda_context& cx) {
    const kv_pages pages{tabled->as<int32_t>(), block_size, Tcap / block_size, blocks};
    (mma ? attention_forward_paged_mma_cuda : attention_forward_paged_cuda)(
        cx, out.dev->as<bf16>(), lse.dev->as<float>(), qd->as<bf16>(), kd->as<bf16>(),
        vd->as<bf16>(), pages, slot, S, Tq, Tk, NH, NKV, HS, scale, window);
  };
  const double keys = window ? std::min<double>(window, Tk) : Tk;
  p.flops = 4.0 * Tq * NH * keys * HS;
  p.bytes = 2.0 * (2 * Tq * NH * HS + 2 * NH * keys * HS) + 4.0 * NH * Tq;
  return p;
}

}  // namespace kaito::parity
