// The attention kernels (kernels/cuda/attention.cu: flash-style causal GQA forward and the FA2
// backward; kernels/cuda/attention_decode.cu: split-K attention over a KV cache and its merge) run
// on the CPU (tests/cuda/cuda_emulation.h: the .cu compiled by the host compiler, a fiber per
// CUDA thread), driven as their launchers drive them: the same kernels in the same order, with the
// grids, block sizes, dynamic shared memory sizes and split plans of the launch functions the
// launchers themselves call (forward_launch, delta_launch, dq_launch, dkdv_launch, plan_decode,
// split_launch, merge_launch). Each case against the CPU twin (kernels/attention.h) on bf16-exact
// inputs, with parity_test's tolerances (max |got - ref| / max |ref|: 1e-2 for bf16 outputs, 1e-4
// for fp32 lse): MHA, GQA and MQA, every head size, T not a multiple of the 16-row or 32-key
// tiles, sliding windows, B = 2; the cache kernels with several splits, splits left empty (short
// rows of a prefill continuation, a device key count below the planned maximum), the window, and
// NaN cache rows past Tk (so a read past the key count fails the case). Outputs, scratch and
// dynamic shared memory start as NaN (unwritten data shows up). Launch configurations the
// hardware would reject (shared memory limits) and timing are checked by parity_test on a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "tests/cuda/cuda_emulation.h"
#include "tests/cuda/emulation_data.h"

namespace kaito {
namespace {
// The kernels' dynamic shared memory (KAITO_DYNAMIC_SMEM: emu::default_smem here), sized for
// HS = 128.
constexpr size_t kDqSmemFloats = 2 * 32 * 129 + 2 * 16 * 128;
constexpr size_t kDkdvSmemFloats = 4 * 32 * 129 + 2 * 128;
static_assert(std::max(kDqSmemFloats, kDkdvSmemFloats) * 4 <= sizeof(emu::default_smem));
}  // namespace
}  // namespace kaito

// the kernels under test (their launchers are left out under KAITO_CUDA_EMULATE)
#include "kernels/attention.h"
#include "kernels/cuda/attention.cu"         // NOLINT
#include "kernels/cuda/attention_decode.cu"  // NOLINT

namespace kaito {
namespace {

using nv = __nv_bfloat16;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr double kBf16Tol = 1e-2;  // parity_test's kBf16
constexpr double kF32Tol = 1e-4;   // parity_test's kF32

using testing::random_bf16;

using testing::to_float;

// parity_test's measure: max |got - ref| / max |ref| (the absolute error when ref is all zeros,
// as dq and dk of a single token are); any non-finite output fails.
void expect_close(const std::vector<float>& got, const std::vector<float>& ref, double tol,
                  const char* what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  double max_err = 0.0, max_ref = 0.0;
  size_t worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(std::isfinite(got[i])) << what << "[" << i << "] = " << got[i];
    const double e = std::fabs(double(got[i]) - ref[i]);
    if (e > max_err) {
      max_err = e;
      worst = i;
    }
    max_ref = std::max(max_ref, std::fabs(double(ref[i])));
  }
  EXPECT_LE(max_ref > 0.0 ? max_err / max_ref : max_err, tol)
      << what << ": worst at " << worst << " got " << got[worst] << " ref " << ref[worst];
}

void poison_smem() {
  float* const s = reinterpret_cast<float*>(emu::default_smem);
  std::fill(s, s + std::max(kDqSmemFloats, kDkdvSmemFloats), kNaN);
}

// ---- attention.cu: the forward and backward launchers' kernel sequences ----

template <int HS>
void forward_hs_emu(nv* out, float* lse, const nv* q, const nv* k, const nv* v, int64_t B,
                    const attn_shape& s) {
  const attn_launch L = forward_launch(B, s);
  ASSERT_EQ(L.smem, 0u);
  emu::run(L.grid, L.threads, [&] { attn_forward_kernel<HS>(out, lse, q, k, v, s); });
}

// attention_forward_cuda without the device.
void forward_emu(nv* out, float* lse, const nv* q, const nv* k, const nv* v, int64_t B, int64_t T,
                 int64_t NH, int64_t NKV, int64_t HS, float scale, int64_t window) {
  const attn_shape s = make_attn_shape(T, NH, NKV, HS, scale, window);
  with_head_size(HS,
                 [&](auto hs) { forward_hs_emu<decltype(hs)::value>(out, lse, q, k, v, B, s); });
}

template <int HS>
void backward_hs_emu(nv* dq, nv* dk, nv* dv, const nv* dout, const float* lse, const float* D,
                     const nv* q, const nv* k, const nv* v, int64_t B, const attn_shape& s) {
  const attn_launch lq = dq_launch(B, s);
  ASSERT_LE(lq.smem, kDqSmemFloats * sizeof(float));
  ASSERT_EQ(lq.smem, (2 * 32 * (HS + 1) + 2 * 16 * HS) * sizeof(float));
  emu::run(
      lq.grid, lq.threads, [&] { attn_backward_dq_kernel<HS>(dq, dout, lse, D, q, k, v, s); }, {},
      poison_smem);
  const attn_launch lkv = dkdv_launch(B, s);
  ASSERT_LE(lkv.smem, kDkdvSmemFloats * sizeof(float));
  ASSERT_EQ(lkv.smem, (4 * 32 * (HS + 1) + 2 * HS) * sizeof(float));
  emu::run(
      lkv.grid, lkv.threads,
      [&] { attn_backward_dkdv_kernel<HS>(dk, dv, dout, lse, D, q, k, v, s); }, {}, poison_smem);
}

// attention_backward_cuda without the device (D in a host vector in place of the arena).
void backward_emu(nv* dq, nv* dk, nv* dv, const nv* dout, const nv* out, const float* lse,
                  const nv* q, const nv* k, const nv* v, int64_t B, int64_t T, int64_t NH,
                  int64_t NKV, int64_t HS, float scale, int64_t window) {
  const attn_shape s = make_attn_shape(T, NH, NKV, HS, scale, window);
  std::vector<float> D(size_t(B * NH * T), kNaN);
  const int64_t rows = B * T * NH;
  const attn_launch ld = delta_launch(rows);
  emu::run(ld.grid, ld.threads,
           [&] { attn_delta::kernel(D.data(), dout, out, rows, int(T), int(NH), int(HS)); });
  with_head_size(HS, [&](auto hs) {
    backward_hs_emu<decltype(hs)::value>(dq, dk, dv, dout, lse, D.data(), q, k, v, B, s);
  });
}

struct attn_case {
  int64_t B, T, NH, NKV, HS, window;
};

// Forward and backward of one shape against the CPU twins (parity_cases_attention.cu's recipe:
// the backward of both twins starts from the CPU forward's lse and its output rounded to bf16).
void check_attention(const attn_case& c, uint32_t seed) {
  SCOPED_TRACE(::testing::Message() << "B=" << c.B << " T=" << c.T << " NH=" << c.NH << " NKV="
                                    << c.NKV << " HS=" << c.HS << " window=" << c.window);
  std::mt19937 rng(seed);
  const int64_t nq = c.B * c.T * c.NH * c.HS, nkv = c.B * c.T * c.NKV * c.HS;
  std::vector<nv> qb, kb, vb, dob;
  const std::vector<float> q = random_bf16(rng, nq, 1.5f, qb);
  const std::vector<float> k = random_bf16(rng, nkv, 1.5f, kb);
  const std::vector<float> v = random_bf16(rng, nkv, 1.0f, vb);
  const std::vector<float> dout = random_bf16(rng, nq, 1.0f, dob);
  const float scale = 1.0f / std::sqrt(float(c.HS));

  std::vector<float> ref_out(static_cast<size_t>(nq)), ref_lse(size_t(c.B * c.NH * c.T));
  attention_forward_cpu(ref_out.data(), ref_lse.data(), q.data(), k.data(), v.data(), c.B, c.T,
                        c.NH, c.NKV, c.HS, scale, c.window);
  std::vector<nv> out(size_t(nq), __float2bfloat16_rn(kNaN));
  std::vector<float> lse(ref_lse.size(), kNaN);
  forward_emu(out.data(), lse.data(), qb.data(), kb.data(), vb.data(), c.B, c.T, c.NH, c.NKV, c.HS,
              scale, c.window);
  expect_close(to_float(out), ref_out, kBf16Tol, "out");
  expect_close(lse, ref_lse, kF32Tol, "lse");

  std::vector<nv> ob(ref_out.size());
  std::vector<float> o(ref_out.size());
  for (size_t i = 0; i < o.size(); ++i) {
    ob[i] = __float2bfloat16_rn(ref_out[i]);
    o[i] = __bfloat162float(ob[i]);
  }
  std::vector<float> ref_dq(static_cast<size_t>(nq)), ref_dk(static_cast<size_t>(nkv)),
      ref_dv(static_cast<size_t>(nkv));
  attention_backward_cpu(ref_dq.data(), ref_dk.data(), ref_dv.data(), dout.data(), o.data(),
                         ref_lse.data(), q.data(), k.data(), v.data(), c.B, c.T, c.NH, c.NKV, c.HS,
                         scale, c.window);
  std::vector<nv> dq(static_cast<size_t>(nq), __float2bfloat16_rn(kNaN)), dk(size_t(nkv), dq[0]),
      dv(size_t(nkv), dq[0]);
  backward_emu(dq.data(), dk.data(), dv.data(), dob.data(), ob.data(), ref_lse.data(), qb.data(),
               kb.data(), vb.data(), c.B, c.T, c.NH, c.NKV, c.HS, scale, c.window);
  expect_close(to_float(dq), ref_dq, kBf16Tol, "dq");
  expect_close(to_float(dk), ref_dk, kBf16Tol, "dk");
  expect_close(to_float(dv), ref_dv, kBf16Tol, "dv");
}

TEST(attention_emulation, mha_ragged_tiles_two_sequences) {
  // T = 37: the third 16-row query tile holds 5 rows, the second 32-key tile 5 keys.
  check_attention({2, 37, 1, 1, 64, 0}, 1);
}

TEST(attention_emulation, gqa_with_a_window) {
  // NH:NKV = 2:1 (kv head 1 serves query heads 2, 3), T = 50 (2 key tiles, 4 query tiles),
  // window 8: query tile 3 starts at key tile 1, query tile 2's first keys (25..40) straddle the
  // key tiles, key tile 0's rows end (at 38) before T.
  check_attention({1, 50, 4, 2, 96, 8}, 2);
}

TEST(attention_emulation, mqa_small_heads_window_past_t) {
  // NH:NKV = 3:1 (every query head of an odd-sized group feeds one dK/dV), window 50 > T
  // (clamped to T + 1).
  check_attention({1, 21, 3, 1, 32, 50}, 3);
}

TEST(attention_emulation, largest_head_window_of_one_tile) {
  // HS = 128 (49 KB of dq shared memory), window = 32 = one key tile, T = 40.
  check_attention({1, 40, 2, 1, 128, 32}, 4);
}

TEST(attention_emulation, head_dim_16_gqa_window) {
  // HS = 16 (the golden fixtures'): lanes 16..31 own no output dim; T = 24 over one key tile and
  // two query tiles, NH:NKV = 2:1, window 10.
  check_attention({2, 24, 4, 2, 16, 10}, 6);
}

TEST(attention_emulation, single_token) {
  check_attention({2, 1, 2, 1, 64, 0}, 5);
}

// ---- attention_decode.cu: the split kernel (+ the merge kernel when nsplit > 1) ----

constexpr int kH200Sms = 132;

// fused_merge: the split kernel with merge counters (attention_decode_cuda's merge_counters):
// no merge kernel, and the counters must come back zero.
template <int HS>
void decode_hs_emu(nv* out, float* lse, const nv* q, const nv* kc, const nv* vc, int64_t B,
                   decode_shape s, bool fused_merge = false) {
  const int64_t rows = B * s.Tq * s.NH;
  std::vector<unsigned> counters(size_t(rows), 0u);
  if (fused_merge) s.counters = counters.data();
  // the launcher's arena scratch (nullptr for one split), starting as garbage
  std::vector<float> part_o, part_ml;
  if (s.nsplit > 1) {
    part_o.assign(size_t(rows * s.nsplit * HS), kNaN);
    part_ml.assign(size_t(rows * s.nsplit * 2), kNaN);
  }
  float* po = s.nsplit > 1 ? part_o.data() : nullptr;
  float* pm = s.nsplit > 1 ? part_ml.data() : nullptr;
  const decode_launch ls = split_launch(B, s);
  emu::run(ls.grid, ls.threads,
           [&] { attn_decode_split_kernel<HS>(out, lse, po, pm, q, kc, vc, s); });
  if (fused_merge) {
    for (unsigned c : counters) EXPECT_EQ(c, 0u) << "a merge counter was left non-zero";
    return;
  }
  if (s.nsplit == 1) return;
  const decode_launch lm = merge_launch(rows);
  emu::run(lm.grid, lm.threads,
           [&] { attn_decode_merge_kernel<HS>(out, lse, po, pm, rows, s.nsplit, s.Tq, s.NH); });
}

void decode_emu(nv* out, float* lse, const nv* q, const nv* kc, const nv* vc, int64_t B,
                const decode_shape& s, int64_t HS, bool fused_merge = false) {
  with_head_size(HS, [&](auto hs) {
    decode_hs_emu<decltype(hs)::value>(out, lse, q, kc, vc, B, s, fused_merge);
  });
}

// A (B, Tcap, NKV, HS) cache: random bf16 rows [0, Tk), NaN rows [Tk, Tcap).
std::vector<float> random_cache(std::mt19937& rng, int64_t B, int64_t Tk, int64_t Tcap, int64_t NKV,
                                int64_t HS, float scale, std::vector<nv>& bf) {
  std::vector<float> f = random_bf16(rng, B * Tcap * NKV * HS, scale, bf);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = Tk; t < Tcap; ++t)
      for (int64_t e = 0; e < NKV * HS; ++e) {
        const size_t at = size_t((b * Tcap + t) * NKV * HS + e);
        f[at] = kNaN;
        bf[at] = __float2bfloat16_rn(kNaN);
      }
  return f;
}

struct cached_case {
  int64_t B, Tq, Tk, Tcap, NH, NKV, HS, window;
  int expect_nsplit;  // the plan on an H200 (documents which path the case covers)
  // >= 0: attention_decode_cuda's path, *d_Tk = device_Tk (Tq = 1, Tk_max = Tk); -1:
  // attention_forward_cached_cuda's
  int64_t device_Tk;
};

void check_cached(const cached_case& c, uint32_t seed) {
  SCOPED_TRACE(::testing::Message()
               << "B=" << c.B << " Tq=" << c.Tq << " Tk=" << c.Tk << " Tcap=" << c.Tcap
               << " NH=" << c.NH << " NKV=" << c.NKV << " HS=" << c.HS << " window=" << c.window
               << " device_Tk=" << c.device_Tk);
  std::mt19937 rng(seed);
  // the key count the kernels see: *d_Tk clamped into [Tq, Tk_max] (kernels/attention.h)
  const int64_t keys = c.device_Tk >= 0 ? std::min(std::max(c.device_Tk, c.Tq), c.Tk) : c.Tk;
  std::vector<nv> qb, kb, vb;
  const std::vector<float> q = random_bf16(rng, c.B * c.Tq * c.NH * c.HS, 1.5f, qb);
  const std::vector<float> k = random_cache(rng, c.B, keys, c.Tcap, c.NKV, c.HS, 1.5f, kb);
  const std::vector<float> v = random_cache(rng, c.B, keys, c.Tcap, c.NKV, c.HS, 1.0f, vb);
  const float scale = 1.0f / std::sqrt(float(c.HS));
  std::vector<float> ref_out(q.size()), ref_lse(size_t(c.B * c.NH * c.Tq));
  attention_forward_cached_cpu(ref_out.data(), ref_lse.data(), q.data(), k.data(), v.data(), c.B,
                               c.Tq, keys, c.Tcap, c.NH, c.NKV, c.HS, scale, c.window);

  const int32_t d_Tk = int32_t(c.device_Tk);
  const decode_shape s = plan_decode(c.B, c.Tq, c.Tk, c.Tcap, c.NH, c.NKV, scale, c.window,
                                     kH200Sms, c.device_Tk >= 0 ? &d_Tk : nullptr);
  EXPECT_EQ(s.nsplit, c.expect_nsplit);
  EXPECT_GE(int64_t(s.nsplit) * s.chunk, c.window > 0 ? std::min(c.Tk, c.window) : c.Tk);
  std::vector<nv> out(q.size(), __float2bfloat16_rn(kNaN));
  std::vector<float> lse(ref_lse.size(), kNaN);
  // attention_decode_cuda passes no lse
  float* lse_arg = c.device_Tk >= 0 ? nullptr : lse.data();
  decode_emu(out.data(), lse_arg, qb.data(), kb.data(), vb.data(), c.B, s, c.HS);
  expect_close(to_float(out), ref_out, kBf16Tol, "out");
  if (lse_arg != nullptr) expect_close(lse, ref_lse, kF32Tol, "lse");
  if (s.nsplit > 1) {  // the split blocks' own merge: the merge kernel's bits
    std::vector<nv> out2(q.size(), __float2bfloat16_rn(kNaN));
    std::vector<float> lse2(ref_lse.size(), kNaN);
    decode_emu(out2.data(), lse_arg != nullptr ? lse2.data() : nullptr, qb.data(), kb.data(),
               vb.data(), c.B, s, c.HS, /*fused_merge=*/true);
    EXPECT_EQ(std::memcmp(out2.data(), out.data(), out.size() * sizeof(nv)), 0)
        << "out: merged by the last split block vs by the merge kernel";
    if (lse_arg != nullptr)
      EXPECT_EQ(std::memcmp(lse2.data(), lse.data(), lse.size() * sizeof(float)), 0)
          << "lse: merged by the last split block vs by the merge kernel";
  }
}

TEST(attention_decode_emulation, batch1_decode_three_splits_ragged_chunk) {
  // 300 keys: 3 splits of 100 (each a 4-warp round robin of 32-key tiles: 32, 32, 32, 4).
  check_cached({1, 1, 300, 310, 4, 2, 64, 0, 3, -1}, 11);
}

TEST(attention_decode_emulation, prefill_continuation_one_split) {
  // 77 keys <= 128: one split, the block writes out and lse itself.
  check_cached({2, 5, 77, 80, 2, 1, 64, 0, 1, -1}, 12);
}

TEST(attention_decode_emulation, window_with_splits) {
  // window 200 of 400 keys: 2 splits of 100 over each row's window [pos - 199, pos].
  check_cached({1, 2, 400, 401, 2, 1, 128, 200, 2, -1}, 14);
}

TEST(attention_decode_emulation, window_longer_than_the_cache) {
  // B = 2, Tq = 2 with 2 splits: the merge kernel's out and lse rows of sequence 1.
  check_cached({2, 2, 140, 150, 2, 2, 96, 1000, 2, -1}, 15);
}

TEST(attention_decode_emulation, head_dim_16_with_splits) {
  // HS = 16: half the lanes idle in the accumulators; 3 splits, so the merge reads partials too,
  // and Tq = 3 rows of a prefill continuation.
  check_cached({2, 3, 260, 270, 4, 2, 16, 0, 3, -1}, 21);
}

TEST(attention_decode_emulation, single_key) {
  check_cached({3, 1, 1, 4, 2, 2, 32, 0, 1, -1}, 16);
}

TEST(attention_decode_emulation, device_key_count_below_the_plan) {
  // planned for 300 keys (3 splits of 100), 77 on the device: splits 1 and 2 are empty.
  check_cached({1, 1, 300, 300, 4, 2, 64, 0, 3, 77}, 17);
}

TEST(attention_decode_emulation, device_key_count_with_a_window) {
  // 290 of 300 keys, window 150: 2 splits of 75 over keys [140, 289].
  check_cached({1, 1, 300, 300, 4, 2, 64, 150, 2, 290}, 18);
}

TEST(attention_decode_emulation, device_key_count_past_the_plan_is_clamped) {
  // *d_Tk = 500 > Tk_max = 200: the kernels read 200 keys (rows 200.. of the cache are NaN).
  check_cached({1, 1, 200, 260, 2, 1, 32, 0, 2, 500}, 19);
}

TEST(attention_decode_emulation, device_key_count_zero_is_clamped_to_one) {
  // *d_Tk = 0: the kernels read 1 key (the query's own position 0).
  check_cached({2, 1, 64, 64, 2, 1, 32, 0, 1, 0}, 20);
}

}  // namespace
}  // namespace kaito
