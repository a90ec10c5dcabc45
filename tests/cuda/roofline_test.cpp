// engine/cuda/roofline.h: the benches' work counts, against figures worked out by hand for
// Phi-3-mini (the numbers in the comments) and against brute-force counts for the rest.
#include "engine/cuda/roofline.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace kaito::gpu {
namespace {

// Pairs (i, j) with j <= i and i - j < window, counted one by one.
double brute_pairs(int64_t T, int64_t window) {
  double n = 0.0;
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = 0; j <= i; ++j)
      if (window == 0 || i - j < window) n += 1.0;
  return n;
}

TEST(Roofline, AttentionPairsMatchACount) {
  for (int64_t T : {1, 2, 7, 64, 100})
    for (int64_t w : {0, 1, 3, 64, 99, 100, 500})
      EXPECT_EQ(attention_pairs(T, w), brute_pairs(T, w)) << "T " << T << " window " << w;
  EXPECT_EQ(attention_pairs(0, 0), 0.0);
}

// Phi-3-mini per layer: base weights qkv 9216x3072 + o 3072x3072 + gate_up 16384x3072 +
// down 3072x8192 = 113,246,208, so 226,492,416 forward flops a token; LoRA r=8 over
// in + out = 12288 + 6144 + 19456 + 11264 = 49152: 786,432; attention at T = 1024:
// 1024*1025/2 pairs / 1024 tokens * 4 * 32 * 96 = 6,297,600.
// Training: 32 * (2 * 226,492,416 + 3 * 786,432 + 3 * 6,297,600) + 4 * 32064 * 3072
//         = 32 * 474,236,928 + 394,002,432 = 15,569,584,128.
TEST(Roofline, TrainingFlopsOfPhi3Mini) {
  EXPECT_DOUBLE_EQ(train_flops_per_token(gpu_model_shape::phi3_mini(), 1024), 15569584128.0);
}

// Prefill at 2048: the forward terms, attention over 2049/2 keys a token, and the lm_head on the
// last row only: 32 * (226,492,416 + 786,432 + 2049/2 * 12288) + 2 * 32064 * 3072 / 2048.
TEST(Roofline, PrefillFlopsOfPhi3Mini) {
  const double layer = 226492416.0 + 786432.0 + 2049.0 / 2.0 * 12288.0;
  EXPECT_DOUBLE_EQ(prefill_flops_per_token(gpu_model_shape::phi3_mini(), 2048),
                   32.0 * layer + 2.0 * 32064.0 * 3072.0 / 2048.0);
}

// The same model with a bf16 base does the same flops: only bytes differ.
TEST(Roofline, FlopsDoNotDependOnTheBaseStorage) {
  gpu_model_shape dense = gpu_model_shape::phi3_mini();
  dense.quantized_base = false;
  EXPECT_EQ(train_flops_per_token(dense, 1024),
            train_flops_per_token(gpu_model_shape::phi3_mini(), 1024));
}

// Phi-3-mini's weights as a decode step reads them, per layer (NF4: codes n/2, qabsmax n/64,
// nested absmax 4 bytes per 256 blocks):
//   qkv 14,155,776 + 442,368 + 6,912 = 14,605,056;  o 4,718,592 + 147,456 + 2,304 = 4,868,352;
//   gate_up 25,165,824 + 786,432 + 12,288 = 25,964,544;
//   down 12,582,912 + 393,216 + 6,144 = 12,982,272;  sum 58,420,224;
//   LoRA bf16 2 * 8 * 49152 = 786,432; norms 2 * 2 * 3072 = 12,288 -> 59,218,944 a layer.
//   32 layers 1,895,006,208 + final norm 6,144 + lm_head 197,001,216 = 2,092,013,568.
// Per sequence with c tokens cached: embedding row 6,144 + rope rows 768 + KV 32 * 12,288 *
// (c + 2) (c + 1 keys and values read, one written).
TEST(Roofline, DecodeBytesOfPhi3Mini) {
  const gpu_model_shape s = gpu_model_shape::phi3_mini();
  const double weights = 2092013568.0;
  auto per_seq = [](double c) { return 6144.0 + 768.0 + 32.0 * 12288.0 * (c + 2.0); };
  EXPECT_DOUBLE_EQ(decode_step_bytes(s, 1, 128), weights + per_seq(128));
  EXPECT_DOUBLE_EQ(decode_step_bytes(s, 16, 200), weights + 16.0 * per_seq(200));
  // averaged over steps 0..2 after a 128-token prompt, per token of the batch
  EXPECT_DOUBLE_EQ(decode_bytes_per_token(s, 4, 128, 3),
                   (3.0 * weights + 4.0 * (per_seq(128) + per_seq(129) + per_seq(130))) / 12.0);
  EXPECT_EQ(decode_bytes_per_token(s, 0, 128, 3), 0.0);
  EXPECT_EQ(decode_bytes_per_token(s, 1, 128, 0), 0.0);
}

// A bf16 base reads 2 bytes a weight; the qkv bias adds 2 * qkv_dim a layer; a window caps the
// keys read.
TEST(Roofline, DecodeBytesFollowStorageBiasAndWindow) {
  gpu_model_shape s = gpu_model_shape::phi3_mini();
  const double nf4 = decode_step_bytes(s, 1, 0);
  s.quantized_base = false;
  const double dense = decode_step_bytes(s, 1, 0);
  EXPECT_DOUBLE_EQ(dense - nf4, 32.0 * (2.0 * 113246208.0 - 58420224.0));
  s.qkv_bias = true;
  EXPECT_DOUBLE_EQ(decode_step_bytes(s, 1, 0) - dense, 32.0 * 2.0 * 9216.0);
  s.window = 64;
  EXPECT_DOUBLE_EQ(decode_step_bytes(s, 1, 1000), decode_step_bytes(s, 1, 63));
  EXPECT_LT(decode_step_bytes(s, 1, 62), decode_step_bytes(s, 1, 63));
}

// Llama's split LoRA: PEFT's q, k, v (and gate, up) modules each of rank r. Flops count each
// module's A (r x in) and B (its rows x r), not the zero blocks of the fused block-diagonal B;
// bytes count the fused copies as stored (A (3r, in), B (out, 3r)).
TEST(Roofline, SplitLoraCountsPeftModules) {
  gpu_model_shape s = gpu_model_shape::tiny();  // C 128, 2/1 heads of 64, I 256, V 512, r 8
  gpu_model_shape split = s;
  split.split_lora = true;
  const double r = 8.0, C = 128.0, q = 128.0, kv = 64.0, I = 256.0;
  // forward LoRA flops a layer, fused vs per module
  const double fused = 2 * r * ((C + q + 2 * kv) + (q + C) + (C + 2 * I) + (I + C));
  const double peft =
      2 * r * (3 * C + q + 2 * kv) + 2 * r * (q + C) + 2 * r * (2 * C + 2 * I) + 2 * r * (I + C);
  const double L = double(s.L);  // training counts the LoRA forward 3 times (backward twice)
  EXPECT_DOUBLE_EQ(train_flops_per_token(split, 16) - train_flops_per_token(s, 16),
                   L * 3.0 * (peft - fused));
  const double bytes_fused = 2.0 * r * ((C + q + 2 * kv) + (q + C) + (C + 2 * I) + (I + C));
  const double bytes_split = 2.0 * (3 * r) * (C + q + 2 * kv) + 2.0 * r * (q + C) +
                             2.0 * (2 * r) * (C + 2 * I) + 2.0 * r * (I + C);
  EXPECT_DOUBLE_EQ(decode_step_bytes(split, 1, 5) - decode_step_bytes(s, 1, 5),
                   L * (bytes_split - bytes_fused));
}

}  // namespace
}  // namespace kaito::gpu
