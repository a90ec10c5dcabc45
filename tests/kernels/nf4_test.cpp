// kernels/nf4.h: byte-exact bitsandbytes layout on hand-computed cases (ties, reciprocal multiply,
// all-zero block, partial last block, double quantization) and the quant_state JSON blob.
#include "kernels/nf4.h"

#include <gtest/gtest.h>

#include <cmath>

#include "tests/kernels/kernel_test_util.h"

namespace kaito {
namespace {

std::vector<uint8_t> quantize(const std::vector<float>& w, std::vector<float>* absmax) {
  int64_t n = int64_t(w.size());
  std::vector<uint8_t> packed(static_cast<size_t>((n + 1) / 2), 0xAB);
  absmax->assign(static_cast<size_t>((n + 63) / 64), NAN);
  nf4_quantize_cpu(packed.data(), absmax->data(), w.data(), n);
  return packed;
}

TEST(nf4, thresholds_are_the_code_midpoints_as_bnb_spells_them) {
  for (int k = 0; k < 15; ++k) {
    double exact = (double(nf4_code[k]) + double(nf4_code[k + 1])) / 2.0;  // exact in double
    float fp32_mid = (nf4_code[k] + nf4_code[k + 1]) / 2.0f;
    bool tie = double(fp32_mid) != exact;
    // always one of the two floats around the exact midpoint
    EXPECT_LE(std::fabs(double(nf4_thresholds[k]) - exact),
              std::fabs(double(std::nextafter(fp32_mid, 2.0f)) - double(fp32_mid)) / 2)
        << k;
    // where the midpoint is a tie, bnb's decimal constant picks a side: 1 ulp from fp32 (a+b)/2 at
    // k = 0, 8, 12, 14 and equal elsewhere
    bool differs = nf4_thresholds[k] != fp32_mid;
    EXPECT_EQ(differs, k == 0 || k == 8 || k == 12 || k == 14) << k;
    if (differs) EXPECT_TRUE(tie) << k;
  }
  EXPECT_EQ(nf4_code[7], 0.0f);
}

TEST(nf4, value_ties_go_to_the_lower_code) {
  for (int k = 0; k < 15; ++k) {
    EXPECT_EQ(nf4_quantize_value(nf4_thresholds[k]), k);
    EXPECT_EQ(nf4_quantize_value(std::nextafter(nf4_thresholds[k], 2.0f)), k + 1);
  }
  for (int k = 0; k < 16; ++k) EXPECT_EQ(nf4_quantize_value(nf4_code[k]), k);
  EXPECT_EQ(nf4_quantize_value(NAN), 0);
  EXPECT_EQ(nf4_quantize_value(-0.0f), 7);
}

TEST(nf4, hand_computed_block_with_unit_absmax) {
  std::vector<float> w(64, 0.0f);
  w[0] = 1.0f;                                     // 15
  w[1] = -1.0f;                                    // 0
  w[2] = 0.0f;                                     // 7
  w[3] = nf4_thresholds[7];                        // tie -> 7
  w[4] = std::nextafter(nf4_thresholds[7], 1.0f);  // 8
  w[5] = nf4_thresholds[0];                        // tie -> 0
  w[6] = nf4_code[13];                             // 13
  w[7] = -0.5f;                                    // below -0.45999527 -> 2
  std::vector<float> absmax;
  auto packed = quantize(w, &absmax);
  ASSERT_EQ(packed.size(), 32u);
  EXPECT_EQ(absmax[0], 1.0f);
  EXPECT_EQ(packed[0], 0xF0);  // even element in the high nibble
  EXPECT_EQ(packed[1], 0x77);
  EXPECT_EQ(packed[2], 0x80);
  EXPECT_EQ(packed[3], 0xD2);
  for (size_t j = 4; j < 32; ++j) EXPECT_EQ(packed[j], 0x77);
  std::vector<float> out(64);
  nf4_dequantize_cpu(out.data(), packed.data(), absmax.data(), 64);
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[7], nf4_code[2]);
  EXPECT_EQ(out[6], nf4_code[13]);
}

TEST(nf4, scaling_is_reciprocal_then_multiply) {
  // absmax 3: w * (1/3f) lands exactly on / just past a threshold where w / 3 would not
  // (values found offline; bnb's CUDA kernel multiplies by the reciprocal).
  std::vector<float> w(64, 0.0f);
  w[0] = 3.0f;                        // 15
  w[1] = f32_from_bits(1039431807u);  // 0.11937045: *(1/3) > t7 -> 8 (w/3 == t7 would give 7)
  w[2] = f32_from_bits(3219815335u);  // -1.8318986: *(1/3) == t1 -> 1 (w/3 > t1 would give 2)
  w[3] = 0.0f;                        // 7
  w[4] = 1.5f;                        // 0.5 -> below 0.50166 -> 12
  w[5] = -0.75f;                      // -0.25 -> below -0.2346 -> 4
  std::vector<float> absmax;
  auto packed = quantize(w, &absmax);
  EXPECT_EQ(absmax[0], 3.0f);
  EXPECT_EQ(packed[0], 0xF8);
  EXPECT_EQ(packed[1], 0x17);
  EXPECT_EQ(packed[2], 0xC4);
}

TEST(nf4, all_zero_block_packs_to_zero_and_dequantizes_to_negative_zero) {
  std::vector<float> w(128, 0.0f);
  w[64] = 0.5f;  // second block non-zero
  std::vector<float> absmax;
  auto packed = quantize(w, &absmax);
  EXPECT_EQ(absmax[0], 0.0f);
  EXPECT_EQ(absmax[1], 0.5f);
  for (size_t j = 0; j < 32; ++j) EXPECT_EQ(packed[j], 0x00) << j;  // NaN -> code 0 (bnb CUDA)
  EXPECT_EQ(packed[32], 0xF7);
  std::vector<float> out(128);
  nf4_dequantize_cpu(out.data(), packed.data(), absmax.data(), 128);
  for (int i = 0; i < 64; ++i) {
    EXPECT_EQ(out[i], 0.0f);
    EXPECT_TRUE(std::signbit(out[i]));  // -1 * 0 = -0
  }
  EXPECT_EQ(out[64], 0.5f);
}

TEST(nf4, partial_last_block_and_odd_length) {
  std::vector<float> w(67, 0.0f);
  w[0] = -2.0f;  // block 0: absmax 2, element 0 -> code 0
  w[64] = 4.0f;  // block 1: [4, -2, 1] * 0.25 = [1, -0.5, 0.25] -> 15, 2, 10
  w[65] = -2.0f;
  w[66] = 1.0f;
  std::vector<float> absmax;
  auto packed = quantize(w, &absmax);
  ASSERT_EQ(packed.size(), 34u);
  ASSERT_EQ(absmax.size(), 2u);
  EXPECT_EQ(absmax[0], 2.0f);
  EXPECT_EQ(absmax[1], 4.0f);
  EXPECT_EQ(packed[0], 0x07);
  EXPECT_EQ(packed[32], 0xF2);
  EXPECT_EQ(packed[33], 0xA7);  // the missing 68th element reads as 0 -> code 7 in the low nibble
  std::vector<float> out(67);
  nf4_dequantize_cpu(out.data(), packed.data(), absmax.data(), 67);
  EXPECT_EQ(out[64], 4.0f);
  EXPECT_EQ(out[65], nf4_code[2] * 4.0f);
  EXPECT_EQ(out[66], nf4_code[10] * 4.0f);
  // an all-zero odd tail block: 0 * inf = NaN for both nibbles
  std::vector<float> z(65, 0.0f);
  z[0] = 1.0f;
  auto pz = quantize(z, &absmax);
  EXPECT_EQ(pz[32], 0x00);
  std::vector<bf16> ob(67);
  nf4_dequantize_bf16_cpu(ob.data(), packed.data(), std::vector<float>{2.0f, 4.0f}.data(), 67);
  EXPECT_EQ(ob[65].bits, f32_to_bf16(nf4_code[2] * 4.0f).bits);
}

TEST(nf4, codes_are_the_nearest_value_on_random_weights) {
  // 3 x 100 weight: blocks span rows, the last block has 44 elements.
  auto w = testing::random_vec(300, 21, -0.3f, 0.3f);
  std::vector<float> absmax;
  auto packed = quantize(w, &absmax);
  for (int64_t i = 0; i < 300; ++i) {
    uint8_t q = (i % 2 == 0) ? packed[i / 2] >> 4 : packed[i / 2] & 15;
    double x = double(w[i] * (1.0f / absmax[i / 64]));
    int best = 0;
    for (int k = 1; k < 16; ++k)
      if (std::fabs(x - nf4_code[k]) < std::fabs(x - nf4_code[best])) best = k;
    EXPECT_EQ(q, best) << i;
  }
}

TEST(nf4, dynamic_map_signed_matches_create_dynamic_map) {
  std::vector<float> code8(256);
  dynamic_map_signed(code8.data());
  for (int i = 1; i < 256; ++i) EXPECT_LT(code8[i - 1], code8[i]) << i;
  EXPECT_EQ(code8[127], 0.0f);
  EXPECT_EQ(code8[255], 1.0f);
  // i = 0: linspace(0.1, 1, 2) = [0.1, 1], one midpoint 0.55, scaled by 1e-6
  EXPECT_EQ(code8[128], 1e-6f * ((0.1f + 1.0f) / 2.0f));
  EXPECT_EQ(code8[126], -code8[128]);
  EXPECT_NEAR(code8[0], -0.99297, 1e-5);  // the documented range [-0.99297, 1]
  EXPECT_NEAR(code8[254], 0.99297, 1e-5);
}

TEST(nf4, eight_bit_quantizer_picks_nearest_with_bnb_ties) {
  std::vector<float> code8(256);
  dynamic_map_signed(code8.data());
  // x in {-1, 0, 1} hits the ends and the exact zero
  float x[3] = {-1.0f, 0.0f, 1.0f};
  uint8_t q[3];
  float amax[1];
  quantize_blockwise_8bit_cpu(q, amax, x, code8.data(), 3, 256);
  EXPECT_EQ(amax[0], 1.0f);
  EXPECT_EQ(q[0], 0);
  EXPECT_EQ(q[1], 127);
  EXPECT_EQ(q[2], 255);
  // every code value maps to itself; random values map to a nearest entry
  std::vector<float> xs(code8);
  std::vector<uint8_t> qs(256);
  quantize_blockwise_8bit_cpu(qs.data(), amax, xs.data(), code8.data(), 256, 256);
  for (int i = 0; i < 256; ++i) EXPECT_EQ(qs[i], i);
  auto r = testing::random_vec(512, 5);
  std::vector<uint8_t> qr(512);
  float am[2];
  quantize_blockwise_8bit_cpu(qr.data(), am, r.data(), code8.data(), 512, 256);
  for (int i = 0; i < 512; ++i) {
    double v = double(r[i] * (1.0f / am[i / 256]));
    double best = 1e9;
    for (float c : code8) best = std::min(best, std::fabs(v - c));
    EXPECT_LE(std::fabs(v - code8[qr[i]]), best + 1e-7) << i;
  }
}

TEST(nf4, double_quant_hand_computed) {
  // three blocks with absmax 1, 2, 3: offset 2, centered [-1, 0, 1], nested absmax 1,
  // qabsmax [0, 127, 255], reconstructed absmax [code8[0] + 2, 2, 3].
  std::vector<float> w(192, 0.0f);
  w[0] = 1.0f;
  w[64] = -2.0f;
  w[128] = 3.0f;
  nf4_quant_state qs = nf4_quantize_weight(w.data(), {3, 64}, dtype::bf16, true);
  ASSERT_TRUE(nf4_validate(qs).ok());
  EXPECT_TRUE(qs.nested);
  EXPECT_EQ(qs.nested_offset, 2.0f);
  ASSERT_EQ(qs.nested_absmax.size(), 1u);
  EXPECT_EQ(qs.nested_absmax[0], 1.0f);
  EXPECT_EQ(qs.qabsmax, (std::vector<uint8_t>{0, 127, 255}));
  EXPECT_EQ(qs.packed[0], 0xF7);
  EXPECT_EQ(qs.packed[32], 0x07);
  auto eff = nf4_effective_absmax(qs);
  EXPECT_EQ(eff[0], qs.nested_quant_map[0] * 1.0f + 2.0f);
  EXPECT_EQ(eff[1], 2.0f);
  EXPECT_EQ(eff[2], 3.0f);
  std::vector<float> out(192);
  ASSERT_TRUE(nf4_dequantize_weight(qs, out.data()).ok());
  EXPECT_EQ(out[0], eff[0]);  // code 15 (1.0) times the reconstructed absmax
  EXPECT_EQ(out[64], -2.0f);
  EXPECT_EQ(out[128], 3.0f);
}

TEST(nf4, double_quant_spans_nested_blocks) {
  // 300 blocks -> 2 nested blocks (256 + 44); reconstruction error <= half the widest code8 gap.
  auto w = testing::random_vec(300 * 64, 33, -2.0f, 2.0f);
  nf4_quant_state plain = nf4_quantize_weight(w.data(), {150, 128}, dtype::f32, false);
  nf4_quant_state dq = nf4_quantize_weight(w.data(), {150, 128}, dtype::f32, true);
  ASSERT_TRUE(nf4_validate(dq).ok());
  ASSERT_EQ(dq.nested_absmax.size(), 2u);
  EXPECT_EQ(plain.packed, dq.packed);  // DQ changes only the statistics
  double mean = 0;
  for (float a : plain.absmax) mean += a;
  mean /= 300;
  EXPECT_EQ(dq.nested_offset, float(mean));
  for (int nb = 0; nb < 2; ++nb) {
    float m = 0;
    for (int b = nb * 256; b < std::min(300, nb * 256 + 256); ++b)
      m = std::max(m, std::fabs(plain.absmax[b] - dq.nested_offset));
    EXPECT_EQ(dq.nested_absmax[nb], m);
  }
  auto eff = nf4_effective_absmax(dq);
  for (int b = 0; b < 300; ++b)
    EXPECT_NEAR(eff[b], plain.absmax[b], 0.05 * dq.nested_absmax[b / 256]) << b;
}

TEST(nf4, validate_names_the_bad_field) {
  auto w = testing::random_vec(128, 1);
  nf4_quant_state qs = nf4_quantize_weight(w.data(), {2, 64}, dtype::bf16, true);
  EXPECT_TRUE(nf4_validate(qs).ok());
  auto bad = qs;
  bad.nested_quant_map.resize(255);
  EXPECT_EQ(nf4_validate(bad).where(), "nested_quant_map");
  bad = qs;
  bad.packed.pop_back();
  EXPECT_EQ(nf4_validate(bad).where(), "weight");
  bad = qs;
  bad.qabsmax.push_back(0);
  EXPECT_EQ(nf4_validate(bad).where(), "absmax");
  bad = qs;
  bad.blocksize = 128;
  EXPECT_EQ(nf4_validate(bad).where(), "blocksize");
  bad = qs;
  bad.shape = {-1, 64};
  std::vector<float> out(128, 7.0f);
  EXPECT_FALSE(nf4_dequantize_weight(bad, out.data()).ok());
  EXPECT_EQ(out[0], 7.0f);  // untouched on error
}

TEST(nf4, quant_state_json_is_bnb_json_dumps) {
  nf4_quant_state qs;
  qs.shape = {32, 64};
  qs.orig_dtype = dtype::bf16;
  EXPECT_EQ(nf4_quant_state_json(qs),
            R"({"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16", "shape": [32, 64]})");
  qs.nested = true;
  // expected float spellings from python3: repr(float(np.float32(v)))
  const std::pair<float, const char*> cases[] = {{0.01234f, "0.01233999989926815"},
                                                 {1e-5f, "9.999999747378752e-06"},
                                                 {3.0f, "3.0"},
                                                 {123456.78f, "123456.78125"},
                                                 {1.5e-7f, "1.500000053056283e-07"},
                                                 {0.0001f, "9.999999747378752e-05"},
                                                 {2.5e16f, "2.4999999607668736e+16"},
                                                 {-0.75f, "-0.75"},
                                                 {0.0f, "0.0"}};
  for (auto [v, s] : cases) {
    qs.nested_offset = v;
    EXPECT_EQ(nf4_quant_state_json(qs),
              std::string(R"({"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16", )"
                          R"("shape": [32, 64], "nested_blocksize": 256, "nested_dtype": )"
                          R"("float32", "nested_offset": )") +
                  s + "}");
  }
  qs.orig_dtype = dtype::f16;
  EXPECT_NE(nf4_quant_state_json(qs).find("\"dtype\": \"float16\""), std::string::npos);
}

}  // namespace
}  // namespace kaito
