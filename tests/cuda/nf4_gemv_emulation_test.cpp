// The fused NF4 decode GEMV kernels (kernels/cuda/nf4_gemv.cu: scaled_lut and register_lut) run on
// the CPU (tests/cuda/cuda_emulation.h: a fiber per CUDA thread; prmt and mma.sync from the
// PTX ISA's definitions in tests/cuda/mma_emulation.h), with nf4_gemv_cuda's launch shape (16
// rows per block of 256 threads), against the CPU twin (nf4_dequantize_cpu + gemm_forward_cpu):
//   - the byte-permute dequantization of every 16-bit half-word against nf4_code rounded to bf16;
//   - both kernels, fp32 and double-quantized absmax, batch 1..16 (register_lut's one and two n8
//     tiles, scaled_lut's launches of <= 8 rows, as the launcher splits), C of 1 to 9 and 41
//     chunks of 128 (fewer chunks than warps, a ragged stride, and rings of loads in flight that
//     wrap), OC not a multiple of 16 (rows past OC must stay unwritten), outputs poisoned with NaN
//     before the run; register_lut at the depths nf4_gemv_cuda uses and at D = 1..4.
// It checks index math, fragment layouts and the k permutations; timing and the hardware itself
// are parity_test's and bench/cuda/nf4_gemv_versions' (on a GPU).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "tests/cuda/cuda_emulation.h"
#include "tests/cuda/mma_emulation.h"

#include "kernels/cuda/nf4_gemv.cu"  // NOLINT: the kernels under test
#include "kernels/dtype.h"
#include "kernels/gemm.h"
#include "kernels/nf4.h"

namespace kaito {
namespace {

constexpr int kThreads = kGemvWarps * 32;

TEST(Nf4GemvEmulation, ByteTablesRoundCodesToBf16) {
  const nf4_byte_lut l = make_nf4_byte_lut();
  for (int i = 0; i < 16; ++i) {
    const uint32_t hi = (l.hi[i / 4] >> (8 * (i % 4))) & 0xffu;
    const uint32_t lo = (l.lo[i / 4] >> (8 * (i % 4))) & 0xffu;
    EXPECT_EQ(hi << 8 | lo, f32_to_bf16(nf4_code[i]).bits) << "code " << i;
  }
}

TEST(Nf4GemvEmulation, WordToBf16MatchesCodeTableForEveryHalfWord) {
  const nf4_byte_lut l = make_nf4_byte_lut();
  for (uint32_t v = 0; v < 65536; ++v) {
    // v in both halves, paired with a different pattern in the other half
    for (const uint32_t w :
         {v | ((v * 40503u) & 0xffffu) << 16, ((v * 7919u) & 0xffffu) | v << 16}) {
      uint32_t r[4];
      nf4_word_to_bf16(l, w, r);
      for (int e = 0; e < 8; ++e) {
        const uint32_t byte = (w >> (8 * (e / 2))) & 0xffu;
        const uint32_t q = e % 2 == 0 ? byte >> 4 : byte & 15u;  // even element: high nibble
        const uint32_t got = (r[e / 2] >> (16 * (e % 2))) & 0xffffu;
        ASSERT_EQ(got, f32_to_bf16(nf4_code[q]).bits)
            << "word " << std::hex << w << " element " << e;
      }
    }
  }
}

struct gemv_case {
  int B, C, OC;
  bool dq;
};

class Nf4GemvKernels : public ::testing::TestWithParam<gemv_case> {};

// register_lut with D chunks of loads in flight per warp, as nf4_gemv_cuda launches it (one
// launch; two n8 tiles above batch 8).
template <int D>
void run_register(const gemv_case& c, __nv_bfloat16* o, const __nv_bfloat16* xp, const uint8_t* p,
                  const absmax_src& am) {
  const dim3 grid(unsigned((c.OC + kGemvRows - 1) / kGemvRows));
  const nf4_byte_lut blut = make_nf4_byte_lut();
  emu::run(grid, kThreads, [&] {
    const int B = c.B, C = c.C, OC = c.OC;
    if (c.dq) {
      B <= 8 ? nf4_gemv_register_kernel<true, 1, D>(o, xp, p, am, B, C, OC, blut)
             : nf4_gemv_register_kernel<true, 2, D>(o, xp, p, am, B, C, OC, blut);
    } else {
      B <= 8 ? nf4_gemv_register_kernel<false, 1, D>(o, xp, p, am, B, C, OC, blut)
             : nf4_gemv_register_kernel<false, 2, D>(o, xp, p, am, B, C, OC, blut);
    }
  });
}

// The kernels under test: scaled_lut, register_lut at the depths nf4_gemv_cuda uses, and
// register_lut at every other depth the kernel lab times.
enum class variant { scaled, reg_production, reg_d1, reg_d2, reg_d3, reg_d4 };
const variant kVariants[] = {variant::scaled, variant::reg_production, variant::reg_d1,
                             variant::reg_d2, variant::reg_d3,         variant::reg_d4};
const char* variant_name(variant v) {
  switch (v) {
    case variant::scaled:
      return "scaled_lut";
    case variant::reg_production:
      return "register_lut";
    case variant::reg_d1:
      return "register_lut<D=1>";
    case variant::reg_d2:
      return "register_lut<D=2>";
    case variant::reg_d3:
      return "register_lut<D=3>";
    case variant::reg_d4:
      return "register_lut<D=4>";
  }
  return "?";
}

// Runs one variant over the launch grid; out has OC*B entries plus a sentinel tail.
void run_kernel(variant v, const gemv_case& c, std::vector<bf16>& out, const std::vector<bf16>& x,
                const nf4_quant_state& st, const std::vector<float>& absmax) {
  const absmax_src am = c.dq ? absmax_src{nullptr, st.qabsmax.data(), st.nested_quant_map.data(),
                                          st.nested_absmax.data(), st.nested_offset}
                             : absmax_src{absmax.data(), nullptr, nullptr, nullptr, 0.0f};
  auto* o = reinterpret_cast<__nv_bfloat16*>(out.data());
  const auto* xp = reinterpret_cast<const __nv_bfloat16*>(x.data());
  const uint8_t* p = st.packed.data();
  switch (v) {
    case variant::reg_production:
      return c.B <= 8 ? run_register<kGemvDepth1>(c, o, xp, p, am)
                      : run_register<kGemvDepth2>(c, o, xp, p, am);
    case variant::reg_d1:
      return run_register<1>(c, o, xp, p, am);
    case variant::reg_d2:
      return run_register<2>(c, o, xp, p, am);
    case variant::reg_d3:
      return run_register<3>(c, o, xp, p, am);
    case variant::reg_d4:
      return run_register<4>(c, o, xp, p, am);
    case variant::scaled:
      break;
  }
  const dim3 grid(unsigned((c.OC + kGemvRows - 1) / kGemvRows));
  nf4_lut lut{};
  for (int i = 0; i < 16; ++i) lut.v[i] = nf4_code[i];
  for (int b0 = 0; b0 < c.B; b0 += 8) {  // scaled_lut: launches of <= 8 batch rows
    const int B = std::min(8, c.B - b0);
    emu::run(grid, kThreads, [&] {
      if (c.dq) {
        nf4_gemv_scaled_kernel<true>(o + b0 * c.OC, xp + b0 * c.C, p, am, B, c.C, c.OC, lut);
      } else {
        nf4_gemv_scaled_kernel<false>(o + b0 * c.OC, xp + b0 * c.C, p, am, B, c.C, c.OC, lut);
      }
    });
  }
}

TEST_P(Nf4GemvKernels, MatchTheCpuTwin) {
  const gemv_case c = GetParam();
  std::mt19937 rng(uint32_t(c.B * 7919 + c.C * 31 + c.OC + (c.dq ? 1 : 0)));
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> w(size_t(c.OC) * c.C), xf(size_t(c.B) * c.C);
  for (float& v : w) v = 0.05f * u(rng);
  std::vector<bf16> x(xf.size());
  for (size_t i = 0; i < xf.size(); ++i) xf[i] = bf16_to_f32(x[i] = f32_to_bf16(u(rng)));
  const nf4_quant_state st = nf4_quantize_weight(w.data(), {c.OC, c.C}, dtype::bf16, c.dq);
  const std::vector<float> absmax = nf4_effective_absmax(st);
  std::vector<float> wd(w.size()), ref(size_t(c.B) * c.OC);
  nf4_dequantize_cpu(wd.data(), st.packed.data(), absmax.data(), int64_t(w.size()));
  gemm_forward_cpu(ref.data(), xf.data(), wd.data(), nullptr, c.B, c.C, c.OC);
  double ref_max = 0.0;
  for (float v : ref) ref_max = std::max(ref_max, std::fabs(double(v)));

  constexpr uint16_t kNaN = 0x7fc1, kSentinel = 0x1234;
  std::vector<float> scaled_out;
  for (variant v : kVariants) {
    std::vector<bf16> out(ref.size() + 64, bf16{kSentinel});
    std::fill(out.begin(), out.begin() + ptrdiff_t(ref.size()), bf16{kNaN});
    run_kernel(v, c, out, x, st, absmax);
    double err = 0.0;
    for (size_t i = 0; i < ref.size(); ++i) {
      const double d = std::fabs(double(bf16_to_f32(out[i])) - ref[i]);
      err = std::isnan(d) ? INFINITY : std::max(err, d);
    }
    EXPECT_LT(err / ref_max, 1e-2)
        << variant_name(v) << ": max error " << err << " of max |ref| " << ref_max;
    for (size_t i = ref.size(); i < out.size(); ++i)
      ASSERT_EQ(out[i].bits, kSentinel) << variant_name(v) << " wrote past B*OC at " << i;
    if (v == variant::scaled) {
      for (size_t i = 0; i < ref.size(); ++i) scaled_out.push_back(bf16_to_f32(out[i]));
      continue;
    }
    // register_lut against scaled_lut: they differ only by where the bf16 rounding falls, a few
    // bf16 ulps of the largest output
    double diff = 0.0;
    for (size_t i = 0; i < ref.size(); ++i)
      diff = std::max(diff, std::fabs(double(scaled_out[i]) - bf16_to_f32(out[i])));
    EXPECT_LT(diff / ref_max, 1e-2) << variant_name(v);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, Nf4GemvKernels,
    ::testing::Values(gemv_case{1, 128, 16, false},   // one chunk: 7 of 8 warps idle
                      gemv_case{3, 384, 40, false},   // 3 chunks, OC % 16 = 8: row g+8 past OC
                      gemv_case{8, 1152, 24, false},  // 9 chunks: warp 0 takes two
                      gemv_case{5, 256, 33, true},    // DQ, OC % 16 = 1
                      gemv_case{1, 1152, 16, true},   // DQ, 9 chunks
                      gemv_case{8, 640, 8, true},     // fewer rows than one block
                      gemv_case{10, 384, 40, false},  // batch 9..16: two n8 tiles / two launches
                      gemv_case{16, 1152, 24, false}, gemv_case{13, 256, 33, true},
                      // 41 chunks: 5 or 6 per warp, so every depth's ring wraps (partly)
                      gemv_case{2, 5248, 17, true}, gemv_case{12, 5248, 9, false}),
    [](const ::testing::TestParamInfo<gemv_case>& i) {
      return "B" + std::to_string(i.param.B) + "_C" + std::to_string(i.param.C) + "_OC" +
             std::to_string(i.param.OC) + (i.param.dq ? "_dq" : "");
    });

}  // namespace
}  // namespace kaito
