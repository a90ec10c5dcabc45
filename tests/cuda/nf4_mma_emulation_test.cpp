// The fused NF4 tensor-core GEMM kernels (kernels/cuda/nf4_gemm_mma.cu, nf4_gemm_mma_bwd.cu) run
// on the CPU (tests/cuda/cuda_emulation.h: the .cu compiled by the host compiler, a std::thread
// per CUDA thread), with the PTX they use emulated from the PTX ISA's definitions:
//   cp.async (16 bytes with zero-fill, 4 bytes), commit_group, wait_group N: copies are queued per
//     thread and land at the wait that retires their group (lazy mode) or at issue (eager mode);
//   ldmatrix.x4 (.trans): lane l supplies the row address of matrix l/8, row l%8; register m of
//     lane l = (row l/4, elements 2(l%4), +1) of matrix m (.trans: rows 2(l%4), +1; element l/4);
//   mma.m16n8k16.row.col bf16 -> f32: a0..a3 = A(g, 2t..2t+1), A(g+8, ...), A(g, 2t+8..),
//     A(g+8, 2t+8..); b0, b1 = B(2t..2t+1, g), B(2t+8.., g); c = (g, 2t..2t+1), (g+8, 2t..2t+1),
//     with g = lane/4, t = lane%4 and the lower index in the lower 16 bits.
// This checks the kernels' index math, swizzles, byte selection, pipeline ring and ragged-row
// handling (AddressSanitizer builds catch reads past the inputs) without a GPU; it cannot check
// the hardware's own behaviour, timing or the launch configuration (parity_test does, on a GPU).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <deque>
#include <random>
#include <vector>

#include "tests/cuda/cuda_emulation.h"

namespace emu {
bool eager_copies = false;  // cp.async copies land at issue (else at the retiring wait_group)
}  // namespace emu

namespace kaito {
namespace {
alignas(128) unsigned char smem[256 * 1024];  // the block's dynamic shared memory
}  // namespace
}  // namespace kaito

namespace kaito::nf4_mma {

inline uint32_t smem_addr(const void* p) {
  return uint32_t(static_cast<const unsigned char*>(p) - smem);
}

struct pending_copy {
  unsigned char* dst;
  const unsigned char* src;
  int bytes, src_bytes;
  void run() const {
    std::memcpy(dst, src, size_t(src_bytes));
    std::memset(dst + src_bytes, 0, size_t(bytes - src_bytes));
  }
};
thread_local std::vector<pending_copy> open_group;
thread_local std::deque<std::vector<pending_copy>> committed;

inline void queue_copy(uint32_t dst, const void* src, int bytes, int src_bytes) {
  const pending_copy c{smem + dst, static_cast<const unsigned char*>(src), bytes, src_bytes};
  if (emu::eager_copies) {
    c.run();
  } else {
    open_group.push_back(c);
  }
}
inline void cp_async16(uint32_t dst, const void* src, int src_bytes) {
  queue_copy(dst, src, 16, src_bytes);
}
inline void cp_async4(uint32_t dst, const void* src) {
  queue_copy(dst, src, 4, 4);
}
inline void cp_async_commit() {
  committed.push_back(std::move(open_group));
  open_group.clear();
}
template <int N>
void cp_async_wait() {
  while (committed.size() > size_t(N)) {
    for (const pending_copy& c : committed.front()) c.run();
    committed.pop_front();
  }
}

inline uint16_t smem_u16(uint32_t addr) {
  uint16_t v;
  std::memcpy(&v, smem + addr, 2);
  return v;
}

inline void ldmatrix_x4(uint32_t (&r)[4], uint32_t addr) {
  const int l = emu::lane();
  emu::slot().u[l][0] = addr;
  emu::warp_wait();
  for (int m = 0; m < 4; ++m) {
    const uint32_t row = emu::slot().u[8 * m + l / 4][0];
    r[m] = uint32_t(smem_u16(row + 4 * (l % 4))) | uint32_t(smem_u16(row + 4 * (l % 4) + 2)) << 16;
  }
  emu::next();
}

inline void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t addr) {
  const int l = emu::lane();
  emu::slot().u[l][0] = addr;
  emu::warp_wait();
  for (int m = 0; m < 4; ++m) {
    const uint32_t row0 = emu::slot().u[8 * m + 2 * (l % 4)][0],
                   row1 = emu::slot().u[8 * m + 2 * (l % 4) + 1][0];
    r[m] = uint32_t(smem_u16(row0 + 2 * (l / 4))) | uint32_t(smem_u16(row1 + 2 * (l / 4))) << 16;
  }
  emu::next();
}

inline float bf16_half(uint32_t reg, int hi) {
  const uint32_t bits = hi ? (reg & 0xffff0000u) : (reg << 16);
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline void mma_16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  const int l = emu::lane();
  uint32_t* mine = emu::slot().u[l];
  for (int i = 0; i < 4; ++i) mine[i] = a[i];
  mine[4] = b0;
  mine[5] = b1;
  emu::warp_wait();
  auto A = [&](int r, int k) {  // register (r >= 8) + 2 (k >= 8) of lane (r%8)*4 + (k%8)/2
    return bf16_half(emu::slot().u[(r % 8) * 4 + (k % 8) / 2][(r >= 8) + 2 * (k >= 8)], k % 2);
  };
  auto B = [&](int k, int n) {  // b0 (k < 8) or b1 of lane n*4 + (k%8)/2
    return bf16_half(emu::slot().u[n * 4 + (k % 8) / 2][4 + (k >= 8)], k % 2);
  };
  const int g = l / 4, t = l % 4;
  float d[4];
  for (int e = 0; e < 4; ++e) {
    const int r = g + 8 * (e / 2), n = 2 * t + e % 2;
    float s = c[e];
    for (int k = 0; k < 16; ++k) s += A(r, k) * B(k, n);
    d[e] = s;
  }
  emu::next();
  for (int e = 0; e < 4; ++e) c[e] = d[e];
}

}  // namespace kaito::nf4_mma

#include "kernels/cuda/nf4_gemm_mma.cu"      // NOLINT: the kernels under test
#include "kernels/cuda/nf4_gemm_mma_bwd.cu"  // NOLINT
#include "kernels/nf4.h"
#include "kernels/nf4_gemm.h"

namespace kaito {
namespace {

// Runs `kernel` over the grid, one block at a time, 256 std::threads per block.
void emulate(dim3 grid, const std::function<void()>& kernel) {
  emu::run(
      grid, nf4_mma::kThreads,
      [&] {
        kernel();
        EXPECT_TRUE(nf4_mma::open_group.empty() && nf4_mma::committed.empty())
            << "cp.async copies left pending at exit";
      },
      [] {
        nf4_mma::open_group.clear();
        nf4_mma::committed.clear();
      },
      [] { std::memset(smem, 0xCD, sizeof(smem)); });  // stale shared memory of "another block"
}

constexpr uint16_t kPoison = 0xFFFF;  // bf16 NaN
constexpr int64_t kGuard = 64;        // poisoned bf16 elements after the output

struct nf4_weight {
  std::vector<uint8_t> packed;
  std::vector<float> absmax;
  std::vector<float> w;  // dequantized, rounded to bf16 as the kernels do
};

nf4_weight make_weight(std::mt19937& rng, int64_t OC, int64_t C) {
  std::uniform_real_distribution<float> u(-0.05f, 0.05f);
  std::vector<float> w(size_t(OC * C));
  for (float& v : w) v = u(rng);
  nf4_weight q{
      std::vector<uint8_t>(size_t(OC * C / 2)), std::vector<float>(size_t(OC * C / 64)), {}};
  nf4_quantize_cpu(q.packed.data(), q.absmax.data(), w.data(), OC * C);
  std::vector<bf16> wb(w.size());
  nf4_dequantize_bf16_cpu(wb.data(), q.packed.data(), q.absmax.data(), OC * C);
  for (bf16 b : wb) q.w.push_back(bf16_to_f32(b));
  return q;
}

std::vector<__nv_bfloat16> random_bf16(std::mt19937& rng, int64_t n, std::vector<float>& f) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<__nv_bfloat16> b(static_cast<size_t>(n));
  f.resize(size_t(n));
  for (int64_t i = 0; i < n; ++i) {
    b[size_t(i)] = __float2bfloat16_rn(u(rng));
    f[size_t(i)] = __bfloat162float(b[size_t(i)]);
  }
  return b;
}

// max |got - ref| / max |ref| over the first n elements; the guard band must stay poisoned.
double check(const std::vector<__nv_bfloat16>& got, const std::vector<double>& ref, int64_t n) {
  double max_ref = 0.0, max_err = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double g = __bfloat162float(got[size_t(i)]);
    if (std::isnan(g)) return INFINITY;  // unwritten
    max_ref = std::max(max_ref, std::fabs(ref[size_t(i)]));
    max_err = std::max(max_err, std::fabs(g - ref[size_t(i)]));
  }
  for (int64_t i = n; i < n + kGuard; ++i) {
    uint16_t bits;
    std::memcpy(&bits, &got[size_t(i)], 2);
    if (bits != kPoison) return INFINITY;  // written past the output
  }
  return max_err / max_ref;
}

std::vector<__nv_bfloat16> poisoned(int64_t n) {
  std::vector<__nv_bfloat16> v(size_t(n + kGuard));
  std::memset(v.data(), 0xFF, v.size() * 2);
  return v;
}

template <class S, int MINB>
double run_forward(int64_t N, int64_t C, int64_t OC, uint32_t seed) {
  std::mt19937 rng(seed);
  const nf4_weight q = make_weight(rng, OC, C);
  std::vector<float> x;
  const auto xb = random_bf16(rng, N * C, x);
  auto out = poisoned(N * OC);
  emulate(dim3(unsigned(OC / nf4_mma::kBN), unsigned((N + S::BM - 1) / S::BM)), [&] {
    nf4_gemm_mma_kernel<S, MINB>(out.data(), xb.data(), q.packed.data(), q.absmax.data(), int(N),
                                 int(C), int(OC));
  });
  std::vector<double> ref(size_t(N * OC), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < OC; ++o) {
      double s = 0.0;
      for (int64_t c = 0; c < C; ++c) s += double(x[size_t(n * C + c)]) * q.w[size_t(o * C + c)];
      ref[size_t(n * OC + o)] = s;
    }
  return check(out, ref, N * OC);
}

template <class S, int MINB>
double run_backward(int64_t N, int64_t C, int64_t OC, uint32_t seed) {
  std::mt19937 rng(seed);
  const nf4_weight q = make_weight(rng, OC, C);
  std::vector<float> dy;
  const auto dyb = random_bf16(rng, N * OC, dy);
  auto dinp = poisoned(N * C);
  emulate(dim3(unsigned(C / nf4_mma::kBN), unsigned((N + S::BM - 1) / S::BM)), [&] {
    nf4_gemm_mma_bwd_kernel<S, MINB>(dinp.data(), dyb.data(), q.packed.data(), q.absmax.data(),
                                     int(N), int(C), int(OC));
  });
  std::vector<double> ref(size_t(N * C), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < OC; ++o) {
      const double d = dy[size_t(n * OC + o)];
      for (int64_t c = 0; c < C; ++c) ref[size_t(n * C + c)] += d * q.w[size_t(o * C + c)];
    }
  return check(dinp, ref, N * C);
}

using m128 = nf4_mma::nf4_mma_shape<128, 4>;
using m256 = nf4_mma::nf4_mma_shape<256, 3>;
// One bf16 rounding of the output (2^-9 relative) plus fp32 accumulation order.
constexpr double kTol = 4e-3;

class nf4_mma_emulation : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { emu::eager_copies = GetParam(); }
};

TEST_P(nf4_mma_emulation, forward_m128_ragged_rows_and_ring_wrap) {
  EXPECT_LT((run_forward<m128, 2>(37, 192, 128, 1)), kTol);  // 3 k-tiles, one ragged row tile
  EXPECT_LT((run_forward<m128, 2>(130, 64, 256, 2)), kTol);  // 1 k-tile, 2 x 2 blocks
  EXPECT_LT((run_forward<m128, 2>(3, 448, 128, 3)), kTol);   // 7 k-tiles: the 4-stage ring wraps
}

TEST_P(nf4_mma_emulation, forward_m256) {
  EXPECT_LT((run_forward<m256, 1>(300, 128, 128, 4)), kTol);  // 2 row tiles, ragged second
  EXPECT_LT((run_forward<m256, 1>(5, 320, 256, 5)), kTol);    // 5 k-tiles over 3 stages
}

TEST_P(nf4_mma_emulation, backward_inp_m128) {
  EXPECT_LT((run_backward<m128, 2>(37, 128, 192, 6)), kTol);  // 3 k-tiles, ragged rows
  EXPECT_LT((run_backward<m128, 2>(9, 256, 448, 7)), kTol);   // 7 k-tiles, 2 column blocks,
                                                              // C/64 = 4 absmax blocks per row
  EXPECT_LT((run_backward<m128, 2>(2, 384, 64, 8)), kTol);    // 1 k-tile, C/64 = 6
}

TEST_P(nf4_mma_emulation, backward_inp_m256) {
  EXPECT_LT((run_backward<m256, 1>(260, 128, 256, 9)), kTol);
  EXPECT_LT((run_backward<m256, 1>(3, 384, 320, 10)), kTol);  // 3 column blocks, 5 k-tiles
}

INSTANTIATE_TEST_SUITE_P(copies, nf4_mma_emulation, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "eager" : "lazy"; });

}  // namespace
}  // namespace kaito
