// The work of the benchmarked steps (contract and conventions: engine/cuda/roofline.h). Host code.
#include "engine/cuda/roofline.h"

#include <algorithm>

namespace kaito::gpu {

namespace {

constexpr double kBf16 = 2.0, kFp32 = 4.0;

// Per token, summed over the four adapted linears of one layer: the base products' forward
// flops, and the LoRA branches' forward flops (A: the block rank R over `in`; B: each PEFT
// module's rank r over its own rows, so `out` in all).
struct linear_flops {
  double base = 0.0, lora = 0.0;
};

linear_flops layer_linear_flops(const gpu_model_shape& s) {
  linear_flops f;
  for (int t = 0; t < kLoraTargets; ++t) {
    const linear_dims d = target_dims(s, t);
    f.base += 2.0 * double(d.out) * double(d.in);
    f.lora += 2.0 * double(s.lora_rank(t)) * double(d.in) + 2.0 * double(s.lora_r) * double(d.out);
  }
  return f;
}

// Forward attention flops of one layer per (query, key) pair: q.k and p.v over every head.
double pair_flops(const gpu_model_shape& s) {
  return 4.0 * double(s.NH) * double(s.HS);
}

// Bytes of the base linear (out, in) as the model stores it.
double base_bytes(const gpu_model_shape& s, const linear_dims& d) {
  const double n = double(d.out) * double(d.in);
  if (!s.quantized_base) return kBf16 * n;
  const int64_t nblocks = (d.out * d.in + 63) / 64;
  return n / 2.0 + double(nblocks) + kFp32 * double((nblocks + 255) / 256);
}

// Every weight a decode step reads once, whatever the batch: base linears (and qkv's bias),
// LoRA working copies, norms, final norm, lm_head.
double weight_bytes(const gpu_model_shape& s) {
  double layer = 2.0 * kBf16 * double(s.C);  // input_norm, post_norm
  for (int t = 0; t < kLoraTargets; ++t) {
    const linear_dims d = target_dims(s, t);
    const double R = double(s.lora_rank(t));
    layer += base_bytes(s, d) + kBf16 * R * double(d.in + d.out);
    if (t == lora_qkv && s.qkv_bias) layer += kBf16 * double(d.out);
  }
  return double(s.L) * layer + kBf16 * double(s.C) + kBf16 * double(s.V) * double(s.C);
}

}  // namespace

double attention_pairs(int64_t T, int64_t window) {
  if (T <= 0) return 0.0;
  const double t = double(T);
  if (window <= 0 || window >= T) return t * (t + 1.0) / 2.0;
  const double w = double(window);  // queries 0..w-1 see i+1 keys, the rest see w
  return w * (w + 1.0) / 2.0 + (t - w) * w;
}

double train_flops_per_token(const gpu_model_shape& s, int64_t T) {
  const linear_flops f = layer_linear_flops(s);
  const double attn = pair_flops(s) * attention_pairs(T, s.window) / double(T);
  const double layer = 2.0 * f.base + 3.0 * f.lora + 3.0 * attn;
  return double(s.L) * layer + 2.0 * (2.0 * double(s.V) * double(s.C));
}

double prefill_flops_per_token(const gpu_model_shape& s, int64_t T) {
  const linear_flops f = layer_linear_flops(s);
  const double attn = pair_flops(s) * attention_pairs(T, s.window) / double(T);
  return double(s.L) * (f.base + f.lora + attn) + 2.0 * double(s.V) * double(s.C) / double(T);
}

double decode_step_bytes(const gpu_model_shape& s, int64_t B, int64_t cached) {
  const int64_t visible = s.window > 0 ? std::min(cached + 1, s.window) : cached + 1;
  const double kv_pos = 2.0 * kBf16 * double(s.NKV) * double(s.HS);     // k and v, one layer
  const double per_seq = kBf16 * double(s.C)                            // embedding row
                         + 2.0 * kFp32 * double(s.rotary_dim())         // rope cos, sin rows
                         + double(s.L) * kv_pos * double(visible + 1);  // reads + the write
  return weight_bytes(s) + double(B) * per_seq;
}

double decode_bytes_per_token(const gpu_model_shape& s, int64_t B, int64_t prompt, int64_t steps) {
  if (B <= 0 || steps <= 0) return 0.0;
  double sum = 0.0;
  for (int64_t i = 0; i < steps; ++i) sum += decode_step_bytes(s, B, prompt + i);
  return sum / (double(B) * double(steps));
}

}  // namespace kaito::gpu
