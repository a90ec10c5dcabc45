// The NF4 and blockwise 8-bit quantization kernels (kernels/cuda/nf4_quantize.cu) run on the CPU
// (tests/cuda/cuda_emulation.h) with their launchers' grids and blocks, against the CPU twins
// nf4_quantize_cpu and quantize_blockwise_8bit_cpu (kernels/nf4.h), which they claim to match bit
// for bit: random blocks of several scales, values exactly at the NF4 thresholds and the 8-bit
// midpoints (ties go to the lower code) and one float either side, all-zero blocks, NaN and inf,
// a partial (odd-length) last block, CTAs with idle warps, and the 8-bit kernel's strided loop
// (blocksize > threads). Unwritten outputs keep a sentinel, so a skipped element fails too.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "tests/cuda/cuda_emulation.h"
// the kernels under test (their launchers are left out under KAITO_CUDA_EMULATE)
#include "kernels/cuda/nf4_quantize.cu"  // NOLINT
#include "kernels/nf4.h"

namespace kaito {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// nf4_quantize_cuda's launch, kernel emulated.
void nf4_emulated(std::vector<uint8_t>& packed, std::vector<float>& absmax,
                  const std::vector<float>& w) {
  const int64_t n = int64_t(w.size());
  const int64_t nblocks = ceil_div<int64_t>(n, nf4_block_size);
  packed.assign(size_t(ceil_div<int64_t>(n, 2)), 0xAB);  // sentinels: every output is written
  absmax.assign(size_t(nblocks), -7.0f);
  const nf4_thresh th = make_thresh();
  emu::run(dim3(unsigned(nf4_quantize_grid(n))), 32 * kWarpsPerCta,
           [&] { nf4_quantize_kernel(packed.data(), absmax.data(), w.data(), n, nblocks, th); });
}

void expect_nf4_matches_cpu(const std::vector<float>& w) {
  const int64_t n = int64_t(w.size());
  std::vector<uint8_t> packed, ref_packed(size_t(ceil_div<int64_t>(n, 2)));
  std::vector<float> absmax, ref_absmax(size_t(ceil_div<int64_t>(n, nf4_block_size)));
  nf4_emulated(packed, absmax, w);
  nf4_quantize_cpu(ref_packed.data(), ref_absmax.data(), w.data(), n);
  for (size_t b = 0; b < ref_absmax.size(); ++b)
    EXPECT_EQ(bits(absmax[b]), bits(ref_absmax[b])) << "absmax block " << b;
  for (size_t j = 0; j < ref_packed.size(); ++j)
    EXPECT_EQ(int(packed[j]), int(ref_packed[j])) << "byte " << j << " (block " << j / 32 << ")";
}

// Block contents: 64 values each.
std::vector<float> random_block(std::mt19937& rng, float scale) {
  std::normal_distribution<float> g(0.0f, scale);
  std::vector<float> b(64);
  for (float& x : b) x = g(rng);
  return b;
}

// absmax 1 (so x = w exactly), then each threshold, one float above and one below each.
std::vector<float> nf4_tie_block() {
  std::vector<float> b = {1.0f};
  for (float t : nf4_thresholds) {
    b.push_back(t);
    b.push_back(std::nextafter(t, 2.0f));
    b.push_back(std::nextafter(t, -2.0f));
  }
  b.push_back(-1.0f);
  b.push_back(0.0f);
  while (b.size() < 64) b.push_back(-0.0f);
  return b;
}

TEST(nf4_quantize_emulation, ties_follow_the_contract) {
  // x equal to threshold k has exactly k thresholds strictly below it: code k (the lower one).
  const std::vector<float> w = nf4_tie_block();
  std::vector<uint8_t> packed;
  std::vector<float> absmax;
  nf4_emulated(packed, absmax, w);
  ASSERT_EQ(bits(absmax[0]), bits(1.0f));
  auto code = [&](size_t i) { return (i % 2 == 0) ? packed[i / 2] >> 4 : packed[i / 2] & 15; };
  EXPECT_EQ(code(0), 15);
  for (int k = 0; k < 15; ++k) {
    EXPECT_EQ(code(1 + 3 * size_t(k)), k) << "at threshold " << k;
    EXPECT_EQ(code(2 + 3 * size_t(k)), k + 1) << "above threshold " << k;
    EXPECT_EQ(code(3 + 3 * size_t(k)), k) << "below threshold " << k;
  }
  EXPECT_EQ(code(46), 0);  // -1
  EXPECT_EQ(code(47), 7);  // 0 and -0
  EXPECT_EQ(code(63), 7);
  expect_nf4_matches_cpu(w);
}

TEST(nf4_quantize_emulation, matches_the_cpu_twin_bit_for_bit) {
  std::mt19937 rng(11);
  std::vector<float> w;
  auto append = [&](const std::vector<float>& b) { w.insert(w.end(), b.begin(), b.end()); };
  append(random_block(rng, 1.0f));
  append(std::vector<float>(64, 0.0f));  // all zero: absmax 0, codes 0
  append(nf4_tie_block());
  std::vector<float> special = random_block(rng, 0.02f);  // NaN ignored by absmax, code 0
  special[3] = kNaN;
  special[40] = -kNaN;
  append(special);
  std::vector<float> with_inf = random_block(rng, 3.0f);  // absmax inf: x = w * 0
  with_inf[17] = -kInf;
  append(with_inf);
  std::vector<float> tiny = random_block(rng, 1e-39f);  // subnormals: 1/absmax overflows
  tiny[0] = -0.0f;
  append(tiny);
  append(std::vector<float>(64, kNaN));  // all NaN: absmax 0, NaN codes
  for (int b = 0; b < 3; ++b) append(random_block(rng, std::ldexp(1.0f, 8 * b - 8)));
  // 10 full blocks + a partial block of odd length 37: 11 blocks in 2 CTAs (5 idle warps)
  std::vector<float> last = random_block(rng, 0.5f);
  last.resize(37);
  append(last);
  expect_nf4_matches_cpu(w);
  // a single partial block with one element, and with two
  expect_nf4_matches_cpu({0.25f});
  expect_nf4_matches_cpu({-0.25f, 0.0f});
  expect_nf4_matches_cpu({3e-5f, -1e-5f, 2e-5f});  // tiny absmax: the padding must read as 0
  // exactly one CTA's worth of full blocks (8) plus one more in a second CTA
  std::vector<float> nine;
  for (int b = 0; b < 9; ++b) {
    const std::vector<float> blk = random_block(rng, 1.0f);
    nine.insert(nine.end(), blk.begin(), blk.end());
  }
  expect_nf4_matches_cpu(nine);
}

// quantize_blockwise_8bit_cuda's launch, kernel emulated.
void q8_emulated(std::vector<uint8_t>& q, std::vector<float>& absmax, const std::vector<float>& x,
                 const std::vector<float>& code8, int64_t blocksize) {
  const int64_t n = int64_t(x.size());
  q.assign(size_t(n), 0xAB);
  absmax.assign(size_t(ceil_div<int64_t>(n, blocksize)), -7.0f);
  emu::run(dim3(unsigned(quantize_8bit_grid(n, blocksize))), kQ8Threads, [&] {
    quantize_8bit_kernel(q.data(), absmax.data(), x.data(), code8.data(), n, blocksize);
  });
}

void expect_q8_matches_cpu(const std::vector<float>& x, const std::vector<float>& code8,
                           int64_t blocksize) {
  const int64_t n = int64_t(x.size());
  std::vector<uint8_t> q, ref_q(static_cast<size_t>(n));
  std::vector<float> absmax, ref_absmax(size_t(ceil_div<int64_t>(n, blocksize)));
  q8_emulated(q, absmax, x, code8, blocksize);
  quantize_blockwise_8bit_cpu(ref_q.data(), ref_absmax.data(), x.data(), code8.data(), n,
                              blocksize);
  for (size_t b = 0; b < ref_absmax.size(); ++b)
    EXPECT_EQ(bits(absmax[b]), bits(ref_absmax[b])) << "absmax block " << b;
  for (size_t i = 0; i < ref_q.size(); ++i)
    EXPECT_EQ(int(q[i]), int(ref_q[i])) << "element " << i << " (blocksize " << blocksize << ")";
}

TEST(nf4_quantize_emulation, blockwise_8bit_matches_the_cpu_twin_bit_for_bit) {
  std::vector<float> code8(256);
  dynamic_map_signed(code8.data());
  std::vector<float> mids;  // the fp32 midpoints bnb's search compares with
  for (size_t i = 0; i + 1 < 256; ++i) mids.push_back((code8[i] + code8[i + 1]) * 0.5f);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> x;
  for (int i = 0; i < 256; ++i) x.push_back(0.3f * u(rng));  // block 0: random
  x.push_back(1.0f);  // block 1: absmax 1 (x = value exactly), every midpoint
  x.insert(x.end(), mids.begin(), mids.end());
  for (size_t i = 0; i < 128; ++i) {  // blocks 2, 3: one float above and below each midpoint
    x.push_back(std::nextafter(mids[2 * i], 2.0f));
    x.push_back(std::nextafter(mids[2 * i], -2.0f));
  }
  x[2 * 256] = -1.0f;  // (absmax 1)
  x.push_back(1.0f);
  for (size_t i = 0; i < 127; ++i) {
    x.push_back(std::nextafter(mids[2 * i + 1], 2.0f));
    x.push_back(std::nextafter(mids[2 * i + 1], -2.0f));
  }
  x.push_back(0.0f);
  x.insert(x.end(), code8.begin(), code8.end());            // block 4: the codes themselves
  for (int i = 0; i < 256; ++i) x.push_back(0.0f);          // block 5: all zero
  for (int i = 0; i < 77; ++i) x.push_back(2.0f * u(rng));  // partial last block of 77
  x[6 * 256 + 3] = kNaN;
  x[6 * 256 + 10] = -0.0f;
  ASSERT_EQ(x.size(), size_t(6 * 256 + 77));
  expect_q8_matches_cpu(x, code8, 256);  // the double-quant absmax path: blocksize 256
  std::vector<float> with_inf(300);
  for (float& v : with_inf) v = u(rng);
  with_inf[123] = -kInf;
  expect_q8_matches_cpu(with_inf, code8, 256);
  // blocksize larger than the CTA (each thread strides) and one that is not a power of two
  expect_q8_matches_cpu(x, code8, 1000);
  expect_q8_matches_cpu(x, code8, 100);
}

TEST(nf4_quantize_emulation, blockwise_8bit_codes_round_trip) {
  // With absmax 1 every code value quantizes to itself (the search's exact hits).
  std::vector<float> code8(256);
  dynamic_map_signed(code8.data());
  ASSERT_EQ(code8[255], 1.0f);
  std::vector<uint8_t> q;
  std::vector<float> absmax;
  q8_emulated(q, absmax, code8, code8, 256);
  ASSERT_EQ(bits(absmax[0]), bits(1.0f));
  for (size_t i = 0; i < 256; ++i) EXPECT_EQ(code8[q[i]], code8[i]) << i;
}

}  // namespace
}  // namespace kaito
