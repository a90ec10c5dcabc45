// gpu_model: a Phi-3-style decoder held on one GPU for QLoRA training and inference (issue #6).
//
// Shape (legend: C hidden, L layers, NH query heads, NKV kv heads, HS head dim, I intermediate,
// V vocab): per layer, HF Phi3DecoderLayer:
//   h = rmsnorm(x, input_norm); qkv = h · Wqkvᵀ (rows [q (NH*HS) | k (NKV*HS) | v (NKV*HS)]);
//   rope(q, k) (the first rotary_dim() dims of each head); a = causal GQA attention (window 0 =
//   none); x += a · Woᵀ;
//   h = rmsnorm(x, post_norm); gu = h · Wgate_upᵀ (rows [gate (I) | up (I)]);
//   x += (silu(gate) * up) · Wdownᵀ
// then final_norm and lm_head (untied). Each of the four base linears carries a LoRA branch
// (kernels/lora.h): y += s * (x · Aᵀ) · Bᵀ, s = lora_alpha / lora_r.
// Llama / Mistral (shape.split_lora): HF keeps q_proj, k_proj, v_proj and gate_proj, up_proj as
// separate linears and PEFT gives each its own LoRA of rank r. The model concatenates their base
// weights into the same fused qkv and gate_up (rows [q | k | v], [gate | up]: the products are the
// same), and their LoRAs into one block-diagonal LoRA per fused linear (kernels/lora.h
// lora_blocks): A (3r, C) = [A_q; A_k; A_v], B (qkv_dim, 3r) with B_q at rows [0, q_dim) x columns
// [0, r), B_k, B_v after it, zero elsewhere; likewise gate_up with 2r. Forward, dX and dA are
// exactly the separate modules'; the trainer zeroes dB outside the blocks after each backward
// (lora_block_mask_cuda), so the zeros stay zero through clipping and AdamW. One difference from
// PEFT remains: with lora_dropout > 0, q, k and v see one dropout mask of their shared input where
// PEFT draws three.
// Qwen2 (shape.qkv_bias): Llama's layout (split_lora) whose q_proj, k_proj, v_proj also carry a
// frozen bias: qkv's base product adds it (bf16 (qkv_dim), rows [q | k | v]) before the LoRA term,
// as HF's Linear does before PEFT adds its branch.
//
// Storage (what bitsandbytes + PEFT hold for a QLoRA run):
//   base linears (qkv, o, gate_up, down): NF4 with double quantization (kernels/nf4.h): packed
//     codes (OC*C/2 bytes), qabsmax u8 per 64-block, nested_absmax fp32 per 256 blocks, offset.
//     The fp32 absmax is NOT kept: it is decoded into arena scratch before every product (as bnb
//     dequantizes its state on every matmul), so the model is exactly the bnb footprint.
//     With shape.quantized_base = false (Kaito's `method: lora`, and the Hugging Face fixture
//     parity test) they are plain bf16 (OC, C) instead and feed cuBLASLt directly.
//   LoRA: bf16 working copies A (r, in) and B (out, r) used by the kernels, fp32 masters (what
//     AdamW updates) and fp32 grads dA, dB. gpu_model_refresh_lora copies masters -> bf16.
//   input_norm, post_norm, final_norm, embed (V, C), lm_head (V, C): bf16 (frozen; lm_head stays
//     bf16 as in HF QLoRA, it is not quantized).
//   rope tables: cos, sin (max_T, rotary_dim()) fp32 for positions 0..max_T-1 for the shape's rope
//     (default, longrope/su as in Phi-3-128k, llama3), attention factor folded in; longrope
//     keeps a second, all-long-factor table for forwards longer than original_max
//     (engine/cuda/rope_tables.h says which forward uses which).
// Every device allocation is owned by a device_buffer (engine/cuda/device_buffer.h); moving a
// gpu_model moves ownership, destroying it frees everything.
// Thread-safety: a model is used with one cuda_context on one host thread at a time.
#pragma once

#include <cstdint>
#include <vector>

#include "base/status.h"
#include "engine/cuda/device_buffer.h"
#include "kernels/dtype.h"
#include "kernels/lora.h"
#include "kernels/rope.h"

namespace kaito {
struct cuda_context;
}

namespace kaito::gpu {

struct gpu_model_shape {
  int64_t C = 0, L = 0, NH = 0, NKV = 0, HS = 0, I = 0, V = 0;
  rope_params rope;  // kind, theta, longrope factors... (head_dim: rotary_dim(), whatever it holds)
  // The rotated dims of each head (HF partial_rotary_factor * HS: Phi-4-mini 96 of 128; the rest
  // pass through, kernels/rope.h); 0 = all HS.
  int64_t rotary = 0;
  float rms_eps = 1e-5f;
  int64_t window = 0;  // sliding window in keys (HF semantics, kernels/attention.h); 0 = none
  int64_t lora_r = 8;
  double lora_alpha = 16.0;
  bool quantized_base = true;  // NF4 + double quant (QLoRA); false: bf16 base linears (LoRA)
  bool split_lora = false;     // Llama's separate q/k/v, gate/up LoRA modules (see the top)
  bool qkv_bias = false;       // Qwen2's q/k/v biases (see the top)

  // microsoft/Phi-3-mini-4k-instruct: 3072, 32 layers, 32/32 heads of 96, 8192, vocab 32064,
  // theta 10000, eps 1e-5, window 2047 in config.json (0 here: training sequences of <= 2047
  // tokens never reach it, and HF sdpa ignores it); LoRA r=8, alpha=16.
  static gpu_model_shape phi3_mini();
  // A few-MiB model for smoke runs and the emulated runtime (model_parity_test's default shape,
  // the benches' --tiny): C 128, 2 layers, 2/1 heads of 64, I 256, V 512, LoRA r 8 alpha 16.
  static gpu_model_shape tiny();
  int64_t rotary_dim() const { return rotary > 0 ? rotary : HS; }
  int64_t q_dim() const { return NH * HS; }
  int64_t kv_dim() const { return NKV * HS; }
  int64_t qkv_dim() const { return (NH + 2 * NKV) * HS; }
  float lora_scale() const { return float(lora_alpha / double(lora_r)); }
  // The rank of lora_target t's (block-diagonal) LoRA: lora_r times its module count (split_lora:
  // 3 for qkv, 2 for gate_up), and the largest over the four targets.
  int64_t lora_rank(int t) const;
  int64_t max_lora_rank() const;
  // invalid_argument naming the field: positive sizes, NH % NKV == 0, HS an attention_head_size
  // (kernels/attention.h: the attention kernels' sizes), C % 8 == 0 and I % 8 == 0 (16-byte rows),
  // rotary 0 or even in [2, HS], lora_r >= 1, rope.theta > 0, longrope: rotary_dim()/2 short and
  // long factors (all > 0) and a positive original max.
  status validate() const;
};

// A frozen base linear W (OC, C): NF4 with double quantization (layout: kernels/nf4.h), or, in a
// model whose shape has quantized_base = false, bf16 row-major in `dense` (the NF4 buffers empty).
struct gpu_base_linear {
  int64_t OC = 0, C = 0;
  device_buffer packed;         // u8, ceil(OC*C/2)
  device_buffer qabsmax;        // u8, nblocks = ceil(OC*C/64)
  device_buffer nested_absmax;  // fp32, ceil(nblocks/256)
  float offset = 0.0f;          // nested_offset (host value)
  device_buffer dense;          // bf16 (OC, C) when not quantized
  device_buffer bias;           // bf16 (OC), or empty: no bias (only qkv with shape.qkv_bias)
  bool quantized() const { return dense.get() == nullptr; }
  int64_t numel() const { return OC * C; }
  int64_t nblocks() const { return (OC * C + 63) / 64; }
};

// A LoRA branch on a linear in -> out (kernels/lora.h layout); r is the whole (block) rank.
struct gpu_lora_linear {
  int64_t r = 0, in = 0, out = 0;
  lora_blocks blocks;                // one block, or split_lora's modules (dB is masked to them)
  device_buffer A, B;                // bf16 working copies: A (r, in), B (out, r)
  device_buffer A_master, B_master;  // fp32 masters (AdamW updates these)
  device_buffer dA, dB;              // fp32 gradients (accumulated by backward, += )
};

// The four adapted linears of a layer, in this order everywhere (host weights, tags, listings).
enum lora_target : int { lora_qkv = 0, lora_o = 1, lora_gate_up = 2, lora_down = 3 };
inline constexpr int kLoraTargets = 4;

struct gpu_layer {
  device_buffer input_norm, post_norm;  // bf16 (C)
  gpu_base_linear qkv, o, gate_up, down;
  gpu_lora_linear lqkv, lo, lgate_up, ldown;

  gpu_base_linear& base(int t) { return t == 0 ? qkv : t == 1 ? o : t == 2 ? gate_up : down; }
  const gpu_base_linear& base(int t) const {
    return t == 0 ? qkv : t == 1 ? o : t == 2 ? gate_up : down;
  }
  gpu_lora_linear& lora(int t) { return t == 0 ? lqkv : t == 1 ? lo : t == 2 ? lgate_up : ldown; }
  const gpu_lora_linear& lora(int t) const {
    return t == 0 ? lqkv : t == 1 ? lo : t == 2 ? lgate_up : ldown;
  }
};

// (out, in) of lora_target t's linear: qkv (qkv_dim, C), o (C, q_dim), gate_up (2I, C),
// down (C, I).
struct linear_dims {
  int64_t out, in;
};
linear_dims target_dims(const gpu_model_shape& s, int t);
// The modules of lora_target t's LoRA as row blocks of its output (kernels/lora.h): one block
// (out) unless split_lora: qkv [q_dim, q_dim + kv_dim, qkv_dim], gate_up [I, 2I].
lora_blocks lora_blocks_of(const gpu_model_shape& s, int t);
// Host form of a split target's LoRA from PEFT's per-module tensors (q, k, v or gate, up, in
// order; each A (r, in), B (rows of the module, r)): A stacked, B block-diagonal (zero outside the
// blocks). And back: module `seg`'s A rows and B block. invalid_argument naming the module
// index ("modules[1].lora_B") when a size does not match.
struct lora_pair {
  std::vector<float> A, B;
};
result<lora_pair> lora_pack_blocks(const gpu_model_shape& s, int t,
                                   const std::vector<lora_pair>& modules);
lora_pair lora_unpack_block(const gpu_model_shape& s, int t, const lora_pair& packed, int seg);

struct gpu_model {
  gpu_model_shape shape;
  int64_t max_T = 0;                         // rows of the rope tables
  device_buffer embed, final_norm, lm_head;  // bf16 (V, C), (C), (V, C)
  std::vector<gpu_layer> layers;
  device_buffer rope_cos, rope_sin;            // fp32 (max_T, rotary_dim()): rope_tables
  device_buffer rope_cos_long, rope_sin_long;  // rope_tables::cos_long, sin_long (or empty)
  device_buffer code8;  // fp32 (256): the double-quant code (dynamic_map_signed)
  // Per direction, whether base_linear_forward / _backward_inp use the fused tensor-core NF4 GEMM
  // (kernels/nf4.h nf4_gemm_mma_*: tiles dequantized in registers, no bf16 copy of W) where its
  // shape and alignment preconditions hold, instead of dequantize + cuBLASLt. Off until set:
  // engine/cuda/gemm_choice.h measures which is faster on the device (gpu_tuner does at create).
  struct nf4_gemm_paths {
    bool forward = false;
    bool backward_inp = false;
  };
  nf4_gemm_paths fused_nf4_gemm;

  // Device bytes held by the model (weights, LoRA state, tables).
  size_t bytes() const;
  // The (max_T, rotary_dim()) cos / sin tables a forward over positions 0..T-1 (T <= max_T) reads.
  const float* rope_cos_for(int64_t T) const;
  const float* rope_sin_for(int64_t T) const;
};

// Random weights made on the device: base linears ~ U(-a, a), a = kRandomWeightBound (std 0.02,
// the HF initializer_range): element i of linear t of layer l is the fp32
//   -a + (2a) * rng_uniform(rng_derive(seed, random_weight_tag(l, t)), i)   (no FMA, kernels/rng.h)
// quantized to NF4 with double quantization on the device by nf4_quantize_cuda, an fp64 mean
// (fixed order) and quantize_blockwise_8bit_cuda: the same state nf4_quantize_weight makes from
// those values (model_parity_test checks it). Norms 1; embed and lm_head ~ U(-a, a) rounded to
// bf16. LoRA A: lora_init_cpu(seed rng_derive(seed, random_weight_tag(l, t) + 1)), kaiming
// uniform; B zero when lora_b_zero (PEFT's init), else ~ U(-1e-3, 1e-3) inside its blocks
// (split_lora: zero outside them) so benches exercise every product with non-zero values; a
// qkv bias (shape.qkv_bias) ~ U(-a, a) rounded to bf16, drawn from random_weight_tag(l,
// kLoraTargets). The whole model is deterministic in `seed`.
inline constexpr float kRandomWeightBound = 0.034641016f;  // 0.02 * sqrt(3)
inline uint64_t random_weight_tag(int64_t l, int t) {
  return 16 + uint64_t(l) * 16 + uint64_t(t) * 2;
}
result<gpu_model> gpu_model_random(cuda_context& cx, const gpu_model_shape& shape, int64_t max_T,
                                   uint64_t seed, bool lora_b_zero = true);

// fp32 host weights (row-major, PyTorch layouts) for small shapes (parity tests).
struct host_layer_weights {
  std::vector<float> input_norm, post_norm;  // (C)
  std::vector<float> qkv, o, gate_up, down;  // (qkv_dim, C), (C, q_dim), (2I, C), (C, I)
  std::vector<float> qkv_bias;               // (qkv_dim) with shape.qkv_bias, else empty
  // by lora_target, R = shape.lora_rank(t): A (R, in), B (out, R) (split_lora: block form,
  // lora_pack_blocks)
  std::vector<float> lora_A[4], lora_B[4];
};
struct host_model_weights {
  std::vector<float> embed, final_norm, lm_head;  // (V, C), (C), (V, C)
  std::vector<host_layer_weights> layers;
};
// Uploads: base linears quantized on the HOST with nf4_quantize_weight(double_quant = true) (the
// CPU twin), so a test can rebuild the same state and dequantize it on the CPU (bf16-rounded
// instead when !shape.quantized_base); norms, embed,
// lm_head rounded to bf16; LoRA masters as given (fp32), bf16 copies rounded from them; grads 0.
// invalid_argument naming the tensor ("layers[1].gate_up") when a size does not match `shape`, or
// ("layers[0].qkv.lora_B") when a split_lora B is not zero outside its blocks.
result<gpu_model> gpu_model_from_host(cuda_context& cx, const gpu_model_shape& shape, int64_t max_T,
                                      const host_model_weights& w);

// A model built a piece at a time, so a checkpoint loader (engine/cuda_hf) can stream a model of
// any size through one layer of host memory:
//   gpu_model_alloc: validates the shape (and max_T > 0) and allocates every buffer, contents
//     unset; the rope tables and code8 are filled.
//   gpu_model_upload_globals: embed, final_norm, lm_head rounded to bf16.
//   gpu_model_upload_layer: layer l as gpu_model_from_host does it (the same checks and names),
//     the base linears NF4-quantized on the host (nf4_quantize_weight) or on the device
//     (nf4_quantize_cuda, an fp64 mean in a fixed order, quantize_blockwise_8bit_cuda: the same
//     state bit for bit, which model_parity_test and gpu_model_hf_test check; a device scratch of
//     the largest linear in fp32 lives for the call). bf16 bases ignore `where`.
// gpu_model_from_host = alloc + globals + every layer (host quantization) after checking every
// size first. Each call synchronizes.
enum class nf4_quantizer { host, device };
result<gpu_model> gpu_model_alloc(cuda_context& cx, const gpu_model_shape& shape, int64_t max_T);
status gpu_model_upload_globals(cuda_context& cx, gpu_model& m, const std::vector<float>& embed,
                                const std::vector<float>& final_norm,
                                const std::vector<float>& lm_head);
status gpu_model_upload_layer(cuda_context& cx, gpu_model& m, int64_t l,
                              const host_layer_weights& h, nf4_quantizer where);
// invalid_argument "no LoRA (l, t)" (field "layers") unless the model has layer l and t is a
// lora_target: the index check of every per-target call below and of gpu_trainer's.
status check_lora_target(const gpu_model& m, int64_t l, int t);
// Sets the LoRA of lora_target t of layer l (block form, as host_layer_weights): fp32 masters,
// bf16 copies, grads zero. invalid_argument naming "layers[l].<target>.lora_A" / "lora_B" for a
// wrong size or (split_lora) a B entry outside its blocks. Synchronizes.
status gpu_model_set_lora(cuda_context& cx, gpu_model& m, int64_t l, int t, const lora_pair& p);
// The fp32 LoRA masters of lora_target t of layer l (what AdamW updates; block form under
// split_lora: lora_unpack_block gives PEFT's modules). Synchronizes.
result<lora_pair> gpu_model_download_lora(cuda_context& cx, const gpu_model& m, int64_t l, int t);
// The same for its fp32 gradients dA, dB (as the last backward left them). Synchronizes.
result<lora_pair> gpu_model_download_lora_grads(cuda_context& cx, const gpu_model& m, int64_t l,
                                                int t);
// Sets those gradients (block form; what clip_and_update then applies), for checking the
// optimizer on given gradients (engine/cuda_hf/gpu_verify.h). The same checks and errors as
// gpu_model_set_lora. Synchronizes.
status gpu_model_set_lora_grads(cuda_context& cx, gpu_model& m, int64_t l, int t,
                                const lora_pair& grads);

// The frozen base product through one base linear. bf16 (not quantized): gemm_forward_cuda /
// gemm_backward_inp_cuda on `dense` (the bias, where the linear has one, in the GEMM's epilogue;
// after an NF4 product gemm_add_bias_cuda adds it). NF4: the double-quant absmax is decoded into
// cx's arena scratch (nblocks fp32), then nf4_gemm_forward_cuda / nf4_gemm_backward_inp_cuda (which
// dequantize W to bf16 arena scratch, OC*C*2 bytes: size the arena for the largest linear), or
// with m.fused_nf4_gemm.forward / .backward_inp the nf4_gemm_mma_* kernels where they apply
// (forward: C % 64 == 0, OC % 128 == 0; backward: C % 128 == 0, OC % 64 == 0; 16-byte aligned
// activations).
//   forward:      out (N, OC) = inp (N, C) · Wᵀ        (=)
//   backward inp: dinp (N, C) = dout (N, OC) · W       (=)
void base_linear_forward(cuda_context& cx, const gpu_model& m, const gpu_base_linear& w, bf16* out,
                         const bf16* inp, int64_t N);
void base_linear_backward_inp(cuda_context& cx, const gpu_model& m, const gpu_base_linear& w,
                              bf16* dinp, const bf16* dout, int64_t N);
// The same with the path given (fused: the nf4_gemm_mma_* kernels where they apply) instead of
// m.fused_nf4_gemm's, for gemm_choice's measurement.
void base_linear_forward_via(cuda_context& cx, const gpu_model& m, const gpu_base_linear& w,
                             bf16* out, const bf16* inp, int64_t N, bool fused);
void base_linear_backward_inp_via(cuda_context& cx, const gpu_model& m, const gpu_base_linear& w,
                                  bf16* dinp, const bf16* dout, int64_t N, bool fused);

// bf16 working copies <- fp32 masters for every LoRA tensor (after an optimizer step). Enqueued.
void gpu_model_refresh_lora(cuda_context& cx, gpu_model& m);
// dA = dB = 0 for every LoRA tensor. Enqueued.
void gpu_model_zero_lora_grads(cuda_context& cx, gpu_model& m);

}  // namespace kaito::gpu
