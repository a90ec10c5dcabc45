// The fused NF4 tensor-core GEMM kernels (kernels/cuda/nf4_gemm_mma.cu, nf4_gemm_mma_bwd.cu) run
// on the CPU (tests/cuda/cuda_emulation.h: the .cu compiled by the host compiler, a fiber
// per CUDA thread), with the PTX they use (cp.async, ldmatrix (.trans), mma.sync m16n8k16 bf16)
// emulated from the PTX ISA's definitions by tests/cuda/mma_emulation.h.
// This checks the kernels' index math, swizzles, byte selection, pipeline ring and ragged-row
// handling (AddressSanitizer builds catch reads past the inputs) without a GPU; it cannot check
// the hardware's own behaviour, timing or the launch configuration (parity_test does, on a GPU).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "tests/cuda/cuda_emulation.h"
#include "tests/cuda/mma_emulation.h"

#include "kernels/cuda/nf4_gemm_mma.cu"      // NOLINT: the kernels under test
#include "kernels/cuda/nf4_gemm_mma_bwd.cu"  // NOLINT
#include "kernels/nf4.h"
#include "kernels/nf4_gemm.h"

namespace kaito {
namespace {

// Runs `kernel` over the grid, one block at a time, 256 threads (fibers) per block.
void emulate(dim3 grid, const std::function<void()>& kernel) {
  emu::run(
      grid, nf4_mma::kThreads,
      [&] {
        kernel();
        EXPECT_TRUE(nf4_mma::queues().empty()) << "cp.async copies left pending at exit";
      },
      [] { nf4_mma::queues().clear(); },
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
