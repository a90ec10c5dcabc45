// The small kernels of the GPU engine (engine/cuda/train_ops.cu, engine/cuda/infer_ops.cu) run on
// the CPU (tests/cuda/cuda_emulation.h) with their launchers' grids and blocks, against plain
// loops written from the contracts in engine/cuda/train_ops.h and infer_ops.h and the CPU rope
// twin (kernels/rope.h): residual adds (vector path with a scalar tail, unaligned scalar path,
// in place, grid-stride), qkv split and merge, greedy argmax (ties to the lowest id, NaN never
// wins, all -inf/NaN rows give 0, the step column of gen), the decode qkv split + rope + KV-cache
// append at the position read from the device state, and the state kernels. Outputs that must
// stay untouched hold sentinels.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "tests/cuda/cuda_emulation.h"
// the kernels under test (their launchers are left out under KAITO_CUDA_EMULATE)
#include "engine/cuda/infer_ops.cu"     // NOLINT
#include "engine/cuda/train_ops.cu"     // NOLINT
#include "kernels/cuda/lora_decode.cu"  // NOLINT: the unfused reference of decode_qkv_lora
#include "kernels/dtype.h"
#include "kernels/rope.h"

namespace kaito {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
const bf16 kSentinel = f32_to_bf16(-12345.0f);

std::vector<bf16> random_bf16(size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> g(0.0f, scale);
  std::vector<bf16> v(n);
  for (bf16& x : v) x = f32_to_bf16(g(rng));
  return v;
}

__nv_bfloat16* nv(bf16* p) {
  return as_nv(p);
}
const __nv_bfloat16* nv(const bf16* p) {
  return as_nv(p);
}

// ---- train_ops -----------------------------------------------------------------------------

// add_bf16's launch (vec when every pointer is 16-byte aligned), kernel emulated; `grid` 0 means
// the launcher's grid, anything else forces a smaller grid to exercise the grid-stride loops.
void add_emulated(bf16* out, const bf16* a, const bf16* b, int64_t n, unsigned grid = 0) {
  const bool vec = aligned16(out) && aligned16(a) && aligned16(b);
  emu::run(dim3(grid ? grid : gpu::add_bf16_grid(n, vec)), gpu::kOpsThreads,
           [&] { gpu::add_bf16_kernel(nv(out), nv(a), nv(b), n, vec); });
}

std::vector<bf16> add_reference(const bf16* a, const bf16* b, int64_t n) {
  std::vector<bf16> r(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) r[size_t(i)] = f32_to_bf16(bf16_to_f32(a[i]) + bf16_to_f32(b[i]));
  return r;
}

// Bit for bit, except that any NaN matches any NaN (the device's __float2bfloat16_rn gives the
// canonical 0x7fff, f32_to_bf16 keeps the payload).
void expect_bits(const bf16* got, const std::vector<bf16>& want, const char* what) {
  for (size_t i = 0; i < want.size(); ++i)
    if (!(std::isnan(bf16_to_f32(got[i])) && std::isnan(bf16_to_f32(want[i]))))
      ASSERT_EQ(got[i].bits, want[i].bits) << what << " element " << i << ": "
                                           << bf16_to_f32(got[i]) << " vs " << bf16_to_f32(want[i]);
}

TEST(engine_ops_emulation, add_bf16_vector_scalar_and_in_place) {
  std::mt19937 rng(1);
  for (int64_t n : {int64_t(1), int64_t(7), int64_t(8), int64_t(2061)}) {
    // vectors start 16-byte aligned (operator new); +1 element makes them unaligned
    std::vector<bf16> a = random_bf16(size_t(n) + 1, rng), b = random_bf16(size_t(n) + 1, rng);
    b[0] = f32_to_bf16(kInf);  // inf and a NaN pass through the math
    if (n > 3) a[3] = f32_to_bf16(kNaN);
    for (int offset : {0, 1}) {
      const int64_t m = n + 1 - offset;
      const std::vector<bf16> want = add_reference(a.data() + offset, b.data() + offset, m);
      std::vector<bf16> out(size_t(m) + 1, kSentinel);
      add_emulated(out.data(), a.data() + offset, b.data() + offset, m);
      expect_bits(out.data(), want, offset ? "unaligned" : "aligned");
      EXPECT_EQ(out[size_t(m)].bits, kSentinel.bits);          // nothing past n
      std::vector<bf16> inplace(a.begin() + offset, a.end());  // out aliases a
      add_emulated(inplace.data(), inplace.data(), b.data() + offset, m);
      expect_bits(inplace.data(), want, "in place");
    }
  }
}

TEST(engine_ops_emulation, add_bf16_grid_stride_loops) {
  std::mt19937 rng(2);
  const int64_t n = 8 * 256 * 3 + 5;  // 3 vector units per thread of one block, then a tail
  const std::vector<bf16> a = random_bf16(size_t(n), rng), b = random_bf16(size_t(n), rng);
  const std::vector<bf16> want = add_reference(a.data(), b.data(), n);
  std::vector<bf16> out(size_t(n), kSentinel);
  add_emulated(out.data(), a.data(), b.data(), n, 1);
  expect_bits(out.data(), want, "vector, one block");
  std::vector<bf16> out2(size_t(n) + 1, kSentinel);  // unaligned out: scalar path, one block
  add_emulated(out2.data() + 1, a.data(), b.data(), n, 1);
  expect_bits(out2.data() + 1, want, "scalar, one block");
  EXPECT_EQ(out2[0].bits, kSentinel.bits);
}

// qkv (N, Q + 2KV) = [q | k | v] rows; split and merge with the launcher's grid (or a forced one).
void qkv_emulated(std::vector<bf16>& qkv, std::vector<bf16>& q, std::vector<bf16>& k,
                  std::vector<bf16>& v, int64_t N, int64_t Q, int64_t KV, bool merge,
                  unsigned grid = 0) {
  emu::run(dim3(grid ? grid : gpu::qkv_copy_grid(N, Q, KV)), gpu::kOpsThreads, [&] {
    gpu::qkv_copy_kernel(nv(qkv.data()), nv(q.data()), nv(k.data()), nv(v.data()), N, Q, KV, merge);
  });
}

TEST(engine_ops_emulation, qkv_split_and_merge) {
  std::mt19937 rng(3);
  struct shape {
    int64_t N, Q, KV;
    unsigned grid;
  };
  for (const shape& s :
       {shape{5, 32, 16, 0}, shape{40, 64, 16, 0}, shape{3, 24, 8, 0}, shape{40, 64, 16, 1}}) {
    const int64_t QKV = s.Q + 2 * s.KV;
    std::vector<bf16> qkv = random_bf16(size_t(s.N * QKV), rng);
    const std::vector<bf16> src = qkv;
    std::vector<bf16> q(size_t(s.N * s.Q), kSentinel), k(size_t(s.N * s.KV), kSentinel),
        v(size_t(s.N * s.KV), kSentinel);
    qkv_emulated(qkv, q, k, v, s.N, s.Q, s.KV, /*merge=*/false, s.grid);
    std::vector<bf16> wq, wk, wv;
    for (int64_t n = 0; n < s.N; ++n) {
      for (int64_t c = 0; c < QKV; ++c) {
        const bf16 x = src[size_t(n * QKV + c)];
        (c < s.Q ? wq : c < s.Q + s.KV ? wk : wv).push_back(x);
      }
    }
    expect_bits(q.data(), wq, "q");
    expect_bits(k.data(), wk, "k");
    expect_bits(v.data(), wv, "v");
    expect_bits(qkv.data(), src, "qkv (read only when splitting)");
    // merge: fresh dq, dk, dv into a sentinel-filled dqkv
    std::vector<bf16> dq = random_bf16(q.size(), rng), dk = random_bf16(k.size(), rng),
                      dv = random_bf16(v.size(), rng);
    std::vector<bf16> dqkv(qkv.size(), kSentinel);
    qkv_emulated(dqkv, dq, dk, dv, s.N, s.Q, s.KV, /*merge=*/true, s.grid);
    std::vector<bf16> want;
    for (int64_t n = 0; n < s.N; ++n) {
      want.insert(want.end(), dq.begin() + n * s.Q, dq.begin() + (n + 1) * s.Q);
      want.insert(want.end(), dk.begin() + n * s.KV, dk.begin() + (n + 1) * s.KV);
      want.insert(want.end(), dv.begin() + n * s.KV, dv.begin() + (n + 1) * s.KV);
    }
    expect_bits(dqkv.data(), want, "dqkv");
  }
}

// ---- infer_ops -----------------------------------------------------------------------------

// argmax_rows_cuda's launch: one block of 1024 threads per row.
void argmax_emulated(std::vector<int32_t>& ids, std::vector<int32_t>& gen, int64_t gen_ld,
                     const std::vector<int32_t>& state, const std::vector<bf16>& logits, int64_t B,
                     int64_t V) {
  emu::run(dim3(unsigned(B)), gpu::kArgmaxThreads, [&] {
    gpu::argmax_kernel(ids.data(), gen.data(), gen_ld, state.data(), nv(logits.data()), int(V));
  });
}

// The contract: the lowest index among equal maxima, NaN never wins, all -inf/NaN gives 0.
int32_t argmax_reference(const bf16* row, int64_t V) {
  int32_t at = 0;
  float best = -kInf;
  for (int64_t v = 0; v < V; ++v) {
    const float x = bf16_to_f32(row[v]);
    if (x > best) best = x, at = int32_t(v);
  }
  return at;
}

TEST(engine_ops_emulation, argmax_rows_ties_nan_and_inf) {
  std::mt19937 rng(4);
  for (int64_t V : {int64_t(3001), int64_t(100), int64_t(1)}) {
    const int64_t B = V == 3001 ? 7 : V == 100 ? 3 : 1;  // (1024 OS threads a row: few rows)
    std::vector<bf16> logits = random_bf16(size_t(B * V), rng, 3.0f);
    auto row = [&](int64_t b) { return logits.data() + b * V; };
    auto set = [&](int64_t b, int64_t v, float x) {
      if (b < B && v < V) row(b)[v] = f32_to_bf16(x);
    };
    // row 1: a tie at ids of other threads, of other warps and of the same thread (5, 5 + 1024)
    for (int64_t v : {int64_t(2999), int64_t(1029), int64_t(5), int64_t(1061), int64_t(77)})
      set(1, v, 50.0f);
    // row 2: all -inf with NaNs: 0
    for (int64_t v = 0; v < V; ++v) set(2, v, (v % 3 == 1) ? kNaN : -kInf);
    // row 3: NaN first and a NaN later never win; +inf does (the later of two ties loses)
    set(3, 0, kNaN);
    set(3, 40, kInf);
    set(3, 2500, kInf);
    set(3, 41, -kNaN);
    // row 4: the maximum at the last id; row 5: all equal (0); row 6: a lone finite value
    set(4, V - 1, 99.0f);
    for (int64_t v = 0; v < V; ++v) set(5, v, -2.5f);
    for (int64_t v = 0; v < V; ++v) set(6, v, -kInf);
    set(6, V / 2, -1e30f);
    const int64_t gen_ld = 6;
    const std::vector<int32_t> state = {9, 10, 4};  // gen column 4
    std::vector<int32_t> ids(size_t(B), -1), gen(size_t(B * gen_ld), -1);
    argmax_emulated(ids, gen, gen_ld, state, logits, B, V);
    for (int64_t b = 0; b < B; ++b) {
      const int32_t want = argmax_reference(row(b), V);
      EXPECT_EQ(ids[size_t(b)], want) << "row " << b << " V " << V;
      for (int64_t c = 0; c < gen_ld; ++c)
        EXPECT_EQ(gen[size_t(b * gen_ld + c)], c == state[2] ? want : -1) << b << " " << c;
    }
    if (V == 3001) {  // the reference itself, pinned by hand
      EXPECT_EQ(ids[1], 5);
      EXPECT_EQ(ids[2], 0);
      EXPECT_EQ(ids[3], 40);
      EXPECT_EQ(ids[4], 3000);
      EXPECT_EQ(ids[5], 0);
      EXPECT_EQ(ids[6], 1500);
    }
  }
}

// One decode step at the position in the device state, with decode_qkv_cuda's launch: real rope
// tables (cos/sin halves equal) or random ones (every table index distinct). lora: the fused
// decode_qkv_lora form, whose qkv must equal lora_decode_kernel's (kernels/cuda/lora_decode.cu,
// emulated) bit for bit and whose outputs are checked from that updated qkv. RD < 24: partial
// rotary (the first RD dims of each head rotate, the rest pass through). per_row: continuous
// batching's decode_rows, each row at its own position (pos, pos - 1, ... wrapped into the cache)
// in a slot of a cache of B + 1 slots other than its own index (rows -> slots 2, 0, 3). paged
// (with per_row): the cache is a pool of blocks of 2 positions in shuffled order behind a block
// table (kernels/attention.h kv_pages), with 2 blocks no slot owns; the pool is read back through
// the table for the checks, and the spare blocks must stay untouched.
void check_decode_qkv(int64_t pos, bool real_tables, uint32_t seed, bool lora = false,
                      int64_t RD = 24, bool per_row = false, bool paged = false) {
  std::mt19937 rng(seed);
  const int64_t B = 3, NH = 4, NKV = 2, HS = 24, Tcap = paged ? 6 : 5, max_T = 7;
  const int64_t heads = NH + 2 * NKV;
  std::vector<float> cos(size_t(max_T * RD)), sin(size_t(max_T * RD));
  if (real_tables) {
    rope_params rp;
    rp.head_dim = RD;
    rp.theta = 10000.0;
    const std::vector<float> inv_freq = rope_inv_freq(rp, max_T);
    std::vector<int32_t> positions(static_cast<size_t>(max_T));
    for (int64_t t = 0; t < max_T; ++t) positions[size_t(t)] = int32_t(t);
    rope_cos_sin_cpu(cos.data(), sin.data(), positions.data(), inv_freq.data(), 1.0f, max_T, RD);
  } else {
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (float& c : cos) c = u(rng);
    for (float& s : sin) s = u(rng);
  }

  std::vector<bf16> qkv = random_bf16(size_t(B * heads * HS), rng);
  std::vector<bf16> q(size_t(B * NH * HS), kSentinel);
  const int64_t S = per_row ? B + 1 : B;  // cache slots
  std::vector<int32_t> pos_of(static_cast<size_t>(B)), slot_of(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    pos_of[size_t(b)] = int32_t(per_row ? (pos + Tcap - b) % Tcap : pos);
    slot_of[size_t(b)] = int32_t(per_row ? std::vector<int64_t>{2, 0, 3}[size_t(b)] : b);
  }
  std::vector<bf16> kc(size_t(S * Tcap * NKV * HS), kSentinel), vc = kc;
  // paged: the pool the kernel writes (kc, vc stay the slots' view, filled from it afterwards)
  const int64_t bs = 2, ld = Tcap / bs, blocks = paged ? S * ld + 2 : 0;
  std::vector<int32_t> table(static_cast<size_t>(paged ? S * ld : 0));
  std::vector<int32_t> ids(static_cast<size_t>(blocks));
  for (int64_t i = 0; i < blocks; ++i) ids[size_t(i)] = int32_t(i);
  std::shuffle(ids.begin(), ids.end(), rng);
  std::copy_n(ids.begin(), table.size(), table.begin());  // the last 2 ids: spare
  const int64_t row = NKV * HS;
  std::vector<bf16> pool_k(size_t(blocks * bs * row), kSentinel), pool_v = pool_k;
  const kv_page_map pm = paged ? kv_page_map{table.data(), int(bs), int(ld), int(blocks), Tcap}
                               : kv_page_map{nullptr, 0, 0, 0, Tcap};
  bf16* kdst = paged ? pool_k.data() : kc.data();
  bf16* vdst = paged ? pool_v.data() : vc.data();
  const std::vector<int32_t> state = {int32_t(pos), int32_t(pos + 1), 2};
  // the kernels' pos, pos_stride, slot, slots (infer_ops.h decode_rows)
  const int32_t* rows_pos = per_row ? pos_of.data() : state.data();
  const int rows_stride = per_row ? 1 : 0;
  const int32_t* rows_slot = per_row ? slot_of.data() : nullptr;
  const int rows_slots = per_row ? int(S) : 0;
  const int64_t total = gpu::decode_qkv_total(B, NH, NKV, HS);
  ASSERT_GT(total, gpu::kDecodeThreads);  // more than one block, the last one partial
  const dim3 grid(unsigned(ceil_div<int64_t>(total, gpu::kDecodeThreads)));
  if (!lora) {
    emu::run(grid, gpu::kDecodeThreads, [&] {
      gpu::decode_qkv_kernel<false, false>(nv(q.data()), nv(kdst), nv(vdst), nv(qkv.data()),
                                           cos.data(), sin.data(), rows_pos, rows_stride, rows_slot,
                                           rows_slots, total, int(NH), int(NKV), int(HS), int(RD),
                                           pm, nullptr, nullptr, nullptr, 0, 0, 0, 0.0f);
    });
  } else {
    const int64_t IN = 64, R = 4, OUT = heads * HS;
    const float scale = 2.0f;
    const std::vector<bf16> h = random_bf16(size_t(B * IN), rng),
                            A = random_bf16(size_t(R * IN), rng, 0.2f),
                            Bl = random_bf16(size_t(OUT * R), rng, 0.5f);
    // reference: lora_decode_kernel alone updates a copy of qkv (as lora_decode_cuda launches it)
    const std::vector<bf16> qkv0 = qkv;
    std::vector<bf16> want = qkv;
    emu::run(dim3(unsigned(ceil_div<int64_t>(OUT, 256))), 256, [&] {
      lora_decode_kernel<true, false>(nv(want.data()), as_nv(h.data()), as_nv(A.data()),
                                      as_nv(Bl.data()), int(B), int(IN), int(R), int(OUT), scale,
                                      nullptr);
    });
    emu::run(grid, gpu::kDecodeThreads, [&] {
      gpu::decode_qkv_kernel<true, true>(
          nv(q.data()), nv(kdst), nv(vdst), nv(qkv.data()), cos.data(), sin.data(), rows_pos,
          rows_stride, rows_slot, rows_slots, total, int(NH), int(NKV), int(HS), int(RD), pm,
          as_nv(h.data()), as_nv(A.data()), as_nv(Bl.data()), int(B), int(IN), int(R), scale);
    });
    size_t changed = 0;
    for (size_t i = 0; i < qkv.size(); ++i) {
      ASSERT_EQ(qkv[i].bits, want[i].bits) << "qkv[" << i << "]: fused and lora_decode differ";
      changed += qkv[i].bits != qkv0[i].bits;
    }
    EXPECT_GT(changed, qkv.size() / 2) << "the LoRA term is too small to tell";
  }

  if (paged) {  // the slots' view through the table; the spare blocks untouched
    for (int64_t sl = 0; sl < S; ++sl)
      for (int64_t t = 0; t < Tcap; ++t) {
        const int64_t r = int64_t(table[size_t(sl * ld + t / bs)]) * bs + t % bs;
        std::copy_n(pool_k.begin() + r * row, row, kc.begin() + (sl * Tcap + t) * row);
        std::copy_n(pool_v.begin() + r * row, row, vc.begin() + (sl * Tcap + t) * row);
      }
    for (size_t i = table.size(); i < ids.size(); ++i)
      for (int64_t e = 0; e < bs * row; ++e) {
        ASSERT_EQ(pool_k[size_t(ids[i] * bs * row + e)].bits, kSentinel.bits) << "spare block";
        ASSERT_EQ(pool_v[size_t(ids[i] * bs * row + e)].bits, kSentinel.bits) << "spare block";
      }
  }
  for (int64_t b = 0; b < B; ++b) {
    // the CPU rope twin on this token's q and k heads with table row pos
    const int64_t pos_b = pos_of[size_t(b)];
    std::vector<float> x(size_t(heads * HS)), y(size_t((NH + NKV) * HS));
    for (size_t i = 0; i < x.size(); ++i) x[i] = bf16_to_f32(qkv[size_t(b * heads * HS) + i]);
    rope_forward_cpu(y.data(), x.data(), cos.data() + pos_b * RD, sin.data() + pos_b * RD, 1,
                     NH + NKV, HS, RD);
    for (int64_t h = 0; h < NH; ++h)
      for (int64_t d = 0; d < HS; ++d)
        ASSERT_EQ(q[size_t((b * NH + h) * HS + d)].bits, f32_to_bf16(y[size_t(h * HS + d)]).bits)
            << "q b " << b << " head " << h << " d " << d;
  }
  // every cache row: the one each row wrote, else untouched
  for (int64_t sl = 0; sl < S; ++sl) {
    int64_t b = -1;  // the row writing slot sl
    for (int64_t r = 0; r < B; ++r)
      if (slot_of[size_t(r)] == sl) b = r;
    std::vector<float> y(size_t((NH + NKV) * HS));
    if (b >= 0) {
      std::vector<float> x(size_t(heads * HS));
      for (size_t i = 0; i < x.size(); ++i) x[i] = bf16_to_f32(qkv[size_t(b * heads * HS) + i]);
      const int64_t pb = pos_of[size_t(b)];
      rope_forward_cpu(y.data(), x.data(), cos.data() + pb * RD, sin.data() + pb * RD, 1, NH + NKV,
                       HS, RD);
    }
    for (int64_t t = 0; t < Tcap; ++t) {
      const bool written = b >= 0 && t == pos_of[size_t(b)];
      for (int64_t g = 0; g < NKV; ++g) {
        for (int64_t d = 0; d < HS; ++d) {
          const size_t at = size_t(((sl * Tcap + t) * NKV + g) * HS + d);
          const bf16 want_k = written ? f32_to_bf16(y[size_t((NH + g) * HS + d)]) : kSentinel;
          const bf16 want_v =
              written ? qkv[size_t((b * heads + NH + NKV + g) * HS + d)] : kSentinel;
          ASSERT_EQ(kc[at].bits, want_k.bits) << "k_cache slot " << sl << " t " << t << " g " << g;
          ASSERT_EQ(vc[at].bits, want_v.bits) << "v_cache slot " << sl << " t " << t << " g " << g;
        }
      }
    }
  }
}

TEST(engine_ops_emulation, decode_qkv_rope_and_cache_append) {
  check_decode_qkv(3, /*real_tables=*/true, 5);
  check_decode_qkv(3, /*real_tables=*/false, 6);
  check_decode_qkv(0, /*real_tables=*/false, 7);  // the first and the last cache row
  check_decode_qkv(4, /*real_tables=*/false, 8);
}

TEST(engine_ops_emulation, decode_qkv_with_lora_equals_lora_decode_then_decode_qkv) {
  check_decode_qkv(3, /*real_tables=*/true, 9, /*lora=*/true);
  check_decode_qkv(0, /*real_tables=*/false, 10, /*lora=*/true);
}

TEST(engine_ops_emulation, decode_qkv_partial_rotary) {
  check_decode_qkv(3, /*real_tables=*/true, 11, /*lora=*/false, /*RD=*/16);
  check_decode_qkv(4, /*real_tables=*/false, 12, /*lora=*/false, /*RD=*/2);
  check_decode_qkv(2, /*real_tables=*/false, 13, /*lora=*/true, /*RD=*/18);
}

TEST(engine_ops_emulation, decode_qkv_rows_each_at_its_position_in_its_slot) {
  check_decode_qkv(3, /*real_tables=*/true, 14, /*lora=*/false, /*RD=*/24, /*per_row=*/true);
  check_decode_qkv(1, /*real_tables=*/false, 15, /*lora=*/true, /*RD=*/24, /*per_row=*/true);
  check_decode_qkv(4, /*real_tables=*/false, 16, /*lora=*/false, /*RD=*/16, /*per_row=*/true);
}

TEST(engine_ops_emulation, decode_qkv_rows_into_a_paged_cache) {
  check_decode_qkv(3, /*real_tables=*/true, 17, /*lora=*/false, /*RD=*/24, true, /*paged=*/true);
  check_decode_qkv(5, /*real_tables=*/false, 18, /*lora=*/true, /*RD=*/24, true, /*paged=*/true);
  check_decode_qkv(0, /*real_tables=*/false, 19, /*lora=*/false, /*RD=*/16, true, /*paged=*/true);
}

// kv_cache_write_cuda's kernel: n rows at positions start.. of one slot of a paged pool (blocks of
// 3, shuffled); every other pool row untouched. vec: the 16-byte form (kvd % 8 == 0).
void check_kv_write(int64_t start, int64_t n, int64_t kvd, bool vec, uint32_t seed) {
  std::mt19937 rng(seed);
  const int64_t bs = 3, ld = 4, slots = 2, slot = 1, blocks = slots * ld + 1;
  std::vector<int32_t> ids(static_cast<size_t>(blocks));
  for (int64_t i = 0; i < blocks; ++i) ids[size_t(i)] = int32_t(i);
  std::shuffle(ids.begin(), ids.end(), rng);
  const std::vector<int32_t> table(ids.begin(), ids.begin() + slots * ld);
  const std::vector<bf16> k = random_bf16(size_t(n * kvd), rng),
                          v = random_bf16(size_t(n * kvd), rng);
  std::vector<bf16> kc(size_t(blocks * bs * kvd), kSentinel), vc = kc;
  const kv_page_map pm{table.data(), int(bs), int(ld), int(blocks), bs * ld};
  const int64_t total = n * (vec ? kvd / 8 : kvd);
  emu::run(dim3(unsigned(ceil_div<int64_t>(total, gpu::kDecodeThreads))), gpu::kDecodeThreads, [&] {
    (vec ? gpu::kv_write_kernel<true> : gpu::kv_write_kernel<false>)(nv(kc.data()), nv(vc.data()),
                                                                     nv(k.data()), nv(v.data()), pm,
                                                                     slot, start, n, kvd);
  });
  std::vector<int64_t> src(size_t(blocks * bs), -1);  // pool row -> the k/v row written there
  for (int64_t t = 0; t < n; ++t) {
    const int64_t p = start + t;
    src[size_t(table[size_t(slot * ld + p / bs)] * bs + p % bs)] = t;
  }
  for (int64_t r = 0; r < blocks * bs; ++r)
    for (int64_t e = 0; e < kvd; ++e) {
      const int64_t t = src[size_t(r)];
      const size_t at = size_t(r * kvd + e);
      ASSERT_EQ(kc[at].bits, t < 0 ? kSentinel.bits : k[size_t(t * kvd + e)].bits) << r << " " << e;
      ASSERT_EQ(vc[at].bits, t < 0 ? kSentinel.bits : v[size_t(t * kvd + e)].bits) << r << " " << e;
    }
}

TEST(engine_ops_emulation, kv_cache_write_scatters_a_chunk_into_its_slots_blocks) {
  check_kv_write(0, 12, 16, /*vec=*/true, 20);  // the whole slot
  check_kv_write(2, 7, 16, /*vec=*/true, 21);   // across block edges
  check_kv_write(5, 1, 6, /*vec=*/false, 22);
  check_kv_write(4, 8, 24, /*vec=*/false, 23);
}

TEST(engine_ops_emulation, decode_state_set_and_advance) {
  std::vector<int32_t> state = {-1, -1, -1};
  emu::run(dim3(1), 1, [&] { gpu::set_state_kernel(state.data(), 17, 3); });
  EXPECT_EQ(state, (std::vector<int32_t>{17, 18, 3}));
  emu::run(dim3(1), 1, [&] { gpu::advance_state_kernel(state.data()); });
  emu::run(dim3(1), 1, [&] { gpu::advance_state_kernel(state.data()); });
  EXPECT_EQ(state, (std::vector<int32_t>{19, 20, 5}));
}

}  // namespace
}  // namespace kaito
