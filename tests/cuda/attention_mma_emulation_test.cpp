// The tensor-core attention forward (kernels/cuda/attention_mma.cu) runs on the CPU
// (tests/cuda/cuda_emulation.h: the .cu compiled by the host compiler, a fiber per CUDA
// thread) with cp.async, ldmatrix (.trans) and mma.sync m16n8k16 emulated per the PTX ISA
// (tests/cuda/mma_emulation.h), over the grid and shared-memory size the launcher uses
// (mma_forward_grid, mma_layout<HS>::SmemBytes), against the CPU twin attention_forward_cpu on
// bf16-exact inputs: out within 1e-2 and lse within 1e-4 (max |got - ref| / max |ref|, as
// parity_test measures). Cases: T = 1, a ragged single tile (17), two query and key tiles (70),
// three tiles with a window that skips whole key tiles (150, window 20) or cuts a tile below the
// diagonal (window 75), MHA, GQA and MQA, HS 64,
// 96 and 128, sliding windows, B = 2, cp.async copies landing lazily (at the retiring wait) and
// eagerly (at issue). Outputs carry a NaN guard band, shared memory starts as NaN (0xFF bytes),
// so unwritten outputs, stray writes and reads of unloaded tiles fail the case.
// The Paged instantiation (attention_forward_paged_mma_cuda's kernel) against
// attention_forward_cached_cpu: a chunk of Tq queries, the last of Tk keys of one slot of a pool
// of shuffled blocks with NaN spare blocks and NaN past each slot's Tk (so a row read through the
// wrong block, or past Tk, fails the case); ragged chunks, block and tile edges, a window.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "tests/cuda/cuda_emulation.h"
#include "tests/cuda/emulation_data.h"
#include "tests/cuda/mma_emulation.h"

// the kernel under test (its launcher is left out under KAITO_CUDA_EMULATE)
#include "kernels/attention.h"
#include "kernels/cuda/attention_mma.cu"  // NOLINT

namespace kaito {
namespace {

using nv = __nv_bfloat16;
constexpr double kOutTol = 1e-2;  // parity_test's kBf16
constexpr double kLseTol = 1e-4;  // parity_test's kF32
constexpr int64_t kGuard = 64;    // NaN elements after each output

using testing::random_bf16;

// max |got - ref| / max |ref| over n values; infinity if a value or the guard band after it is
// not what it should be (NaN inside = unwritten, non-NaN after = written past the end).
// The kernel under test over its grid, shared memory NaN at each block's start.
template <class Kernel>
void run_grid(const mma_attn_shape& s, int64_t B, int64_t HS, bool eager, Kernel kernel) {
  int smem_bytes = 0;
  switch (HS) {
    case 64:
      smem_bytes = mma_layout<64>::SmemBytes;
      break;
    case 96:
      smem_bytes = mma_layout<96>::SmemBytes;
      break;
    default:
      smem_bytes = mma_layout<128>::SmemBytes;
      break;
  }
  EXPECT_LE(size_t(smem_bytes), sizeof(smem));
  emu::eager_copies = eager;
  emu::run(
      mma_forward_grid(B, s), kMmaThreads,
      [&] {
        kernel();
        EXPECT_TRUE(nf4_mma::queues().empty()) << "cp.async copies left pending at exit";
      },
      [] { nf4_mma::queues().clear(); },
      [&] { std::memset(smem, 0xFF, size_t(smem_bytes)); });  // NaN: stale data of another block
}

template <class Get>
double rel_err(const std::vector<float>& ref, int64_t n, Get got) {
  double max_ref = 0.0, max_err = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double x = got(i);
    if (std::isnan(x)) return INFINITY;
    max_ref = std::max(max_ref, std::fabs(double(ref[size_t(i)])));
    max_err = std::max(max_err, std::fabs(x - ref[size_t(i)]));
  }
  for (int64_t i = n; i < n + kGuard; ++i)
    if (!std::isnan(got(i))) return INFINITY;
  return max_err / max_ref;
}

struct errors {
  double out, lse;
};

// The kernel (unpaged or Paged) at head size HS over its grid, its outputs (out bf16 with a NaN
// guard band, lse) against the references.
template <bool Paged>
errors run_and_compare(const mma_attn_shape& s, int64_t B, int64_t HS, bool eager, const nv* q,
                       const nv* k, const nv* v, const std::vector<float>& ref_out,
                       const std::vector<float>& ref_lse) {
  const int64_t n_out = int64_t(ref_out.size()), n_lse = int64_t(ref_lse.size());
  std::vector<nv> out(size_t(n_out + kGuard));
  std::memset(out.data(), 0xFF, out.size() * sizeof(nv));
  std::vector<float> lse(size_t(n_lse + kGuard), std::numeric_limits<float>::quiet_NaN());
  run_grid(s, B, HS, eager, [&] {
    switch (HS) {
      case 64:
        attn_forward_mma_kernel<64, Paged>(out.data(), lse.data(), q, k, v, s);
        break;
      case 96:
        attn_forward_mma_kernel<96, Paged>(out.data(), lse.data(), q, k, v, s);
        break;
      default:
        attn_forward_mma_kernel<128, Paged>(out.data(), lse.data(), q, k, v, s);
        break;
    }
  });
  errors e;
  e.out =
      rel_err(ref_out, n_out, [&](int64_t i) { return double(__bfloat162float(out[size_t(i)])); });
  e.lse = rel_err(ref_lse, n_lse, [&](int64_t i) { return double(lse[size_t(i)]); });
  return e;
}

errors run_case(int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t HS, int64_t window,
                bool eager, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<nv> qb, kb, vb;
  const auto q = random_bf16(rng, B * T * NH * HS, 1.5f, qb);
  const auto k = random_bf16(rng, B * T * NKV * HS, 1.5f, kb);
  const auto v = random_bf16(rng, B * T * NKV * HS, 1.0f, vb);
  const float scale = 1.0f / std::sqrt(float(HS));
  std::vector<float> ref_out(size_t(B * T * NH * HS)), ref_lse(size_t(B * NH * T));
  attention_forward_cpu(ref_out.data(), ref_lse.data(), q.data(), k.data(), v.data(), B, T, NH, NKV,
                        HS, scale, window);
  return run_and_compare<false>(make_mma_attn_shape(T, NH, NKV, scale, window), B, HS, eager,
                                qb.data(), kb.data(), vb.data(), ref_out, ref_lse);
}

struct mma_case {
  int64_t B, T, NH, NKV, HS, window;
  bool eager;
};

class attention_mma_emulation : public ::testing::TestWithParam<mma_case> {};

TEST_P(attention_mma_emulation, forward_matches_cpu_twin) {
  const mma_case c = GetParam();
  const errors e = run_case(c.B, c.T, c.NH, c.NKV, c.HS, c.window, c.eager,
                            uint32_t(1000 + c.T * 7 + c.HS + c.window + c.NKV));
  EXPECT_LT(e.out, kOutTol);
  EXPECT_LT(e.lse, kLseTol);
}

INSTANTIATE_TEST_SUITE_P(
    shapes, attention_mma_emulation,
    ::testing::Values(mma_case{1, 1, 4, 2, 64, 0, false},     // one row, GQA
                      mma_case{2, 17, 4, 4, 96, 0, false},    // ragged tile, Phi-3 head size, B=2
                      mma_case{1, 17, 4, 2, 96, 9, true},     // window, eager copies
                      mma_case{1, 70, 4, 2, 96, 0, false},    // 2 query x 2 key tiles
                      mma_case{2, 70, 4, 4, 64, 9, false},    // window across tiles, B=2
                      mma_case{1, 70, 4, 4, 64, 0, true},     // eager copies, double buffer
                      mma_case{1, 40, 4, 1, 128, 0, false},   // MQA, HS 128
                      mma_case{1, 150, 2, 1, 64, 20, false},  // window skips key tiles
                      mma_case{1, 150, 2, 2, 96, 75,
                               false}),  // window edge inside a causal-full tile
    [](const auto& info) {
      const mma_case& c = info.param;
      return "B" + std::to_string(c.B) + "_T" + std::to_string(c.T) + "_NKV" +
             std::to_string(c.NKV) + "_HS" + std::to_string(c.HS) + "_w" +
             std::to_string(c.window) + (c.eager ? "_eager" : "_lazy");
    });

// A paged pool: S slots of Tcap positions (each slot's rows past Tk NaN) as shuffled blocks of
// block_size with 2 spare NaN blocks; the block table and the contiguous slots (the reference).
struct paged_cache {
  std::vector<float> k, v;       // (S, Tcap, NKV, HS) for attention_forward_cached_cpu
  std::vector<nv> kpool, vpool;  // (blocks * block_size, NKV, HS)
  std::vector<int32_t> table;    // (S, Tcap / block_size)
  int64_t blocks = 0;
};

paged_cache make_paged(std::mt19937& rng, int64_t S, int64_t Tk, int64_t Tcap, int64_t row,
                       int64_t block_size) {
  paged_cache c;
  std::vector<nv> kb, vb;
  c.k = random_bf16(rng, S * Tcap * row, 1.5f, kb);
  c.v = random_bf16(rng, S * Tcap * row, 1.0f, vb);
  const int64_t per_slot = Tcap / block_size;
  c.blocks = S * per_slot + 2;
  std::vector<int32_t> ids(size_t(c.blocks));
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t(i);
  std::shuffle(ids.begin(), ids.end(), rng);
  const nv nan = __float2bfloat16_rn(std::numeric_limits<float>::quiet_NaN());
  c.kpool.assign(size_t(c.blocks * block_size * row), nan);
  c.vpool = c.kpool;
  for (int64_t sl = 0; sl < S; ++sl)
    for (int64_t j = 0; j < per_slot; ++j) {
      const int32_t id = ids[size_t(sl * per_slot + j)];
      c.table.push_back(id);
      for (int64_t t = j * block_size; t < std::min(Tk, (j + 1) * block_size); ++t)
        for (int64_t e = 0; e < row; ++e) {
          const size_t src = size_t((sl * Tcap + t) * row + e);
          const size_t dst = size_t((id * block_size + t % block_size) * row + e);
          c.kpool[dst] = kb[src];
          c.vpool[dst] = vb[src];
        }
    }
  return c;
}

errors run_paged_case(int64_t Tq, int64_t Tk, int64_t slot, int64_t S, int64_t Tcap,
                      int64_t block_size, int64_t NH, int64_t NKV, int64_t HS, int64_t window,
                      bool eager, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<nv> qb;
  const auto q = random_bf16(rng, Tq * NH * HS, 1.5f, qb);
  const paged_cache c = make_paged(rng, S, Tk, Tcap, NKV * HS, block_size);
  const float scale = 1.0f / std::sqrt(float(HS));
  const int64_t n_out = Tq * NH * HS, n_lse = NH * Tq, slot_elems = Tcap * NKV * HS;
  std::vector<float> ref_out(static_cast<size_t>(n_out)), ref_lse(static_cast<size_t>(n_lse));
  attention_forward_cached_cpu(ref_out.data(), ref_lse.data(), q.data(),
                               c.k.data() + slot * slot_elems, c.v.data() + slot * slot_elems, 1,
                               Tq, Tk, Tcap, NH, NKV, HS, scale, window);

  const kv_pages pages{c.table.data(), block_size, Tcap / block_size, c.blocks};
  return run_and_compare<true>(make_mma_paged_shape(Tq, Tk, NH, NKV, scale, window, pages, slot), 1,
                               HS, eager, qb.data(), c.kpool.data(), c.vpool.data(), ref_out,
                               ref_lse);
}

struct paged_case {
  int64_t Tq, Tk, slot, S, Tcap, block_size, NH, NKV, HS, window;
  bool eager;
};

class attention_mma_paged_emulation : public ::testing::TestWithParam<paged_case> {};

TEST_P(attention_mma_paged_emulation, forward_matches_cpu_twin) {
  const paged_case c = GetParam();
  const errors e = run_paged_case(c.Tq, c.Tk, c.slot, c.S, c.Tcap, c.block_size, c.NH, c.NKV, c.HS,
                                  c.window, c.eager, uint32_t(2000 + c.Tq * 7 + c.Tk + c.HS));
  EXPECT_LT(e.out, kOutTol);
  EXPECT_LT(e.lse, kLseTol);
}

INSTANTIATE_TEST_SUITE_P(
    shapes, attention_mma_paged_emulation,
    ::testing::Values(
        paged_case{1, 1, 0, 1, 16, 16, 4, 2, 64, 0, false},       // one query, one key
        paged_case{37, 101, 1, 3, 128, 16, 4, 2, 96, 0, false},   // ragged chunk, 2 key tiles
        paged_case{70, 200, 0, 2, 208, 16, 4, 4, 64, 0, true},    // 2 query tiles, eager copies
        paged_case{64, 64, 1, 2, 64, 8, 4, 1, 128, 0, false},     // a whole prompt, MQA
        paged_case{20, 150, 2, 3, 160, 16, 2, 2, 96, 40, false},  // window skips key tiles
        paged_case{5, 69, 0, 2, 72, 3, 4, 2, 64, 9, true}),       // blocks of 3, window in a tile
    [](const auto& info) {
      const paged_case& c = info.param;
      return "Tq" + std::to_string(c.Tq) + "_Tk" + std::to_string(c.Tk) + "_bs" +
             std::to_string(c.block_size) + "_HS" + std::to_string(c.HS) + "_w" +
             std::to_string(c.window) + (c.eager ? "_eager" : "_lazy");
    });

}  // namespace
}  // namespace kaito
