// gpu_generator: greedy generation on one GPU with a preallocated KV cache (issue #6).
//
// Flow: prefill(ids, B, T) runs B prompts of T tokens through the model (engine/cuda/gpu_model.h,
// HF Phi3ForCausalLM math), writes their keys/values into cache rows [0, T) and picks each
// sequence's greedy next token ON THE DEVICE (generated token 0). Every decode_step() then feeds
// the B last tokens at position length(), appends their keys/values, and picks the next tokens on
// the device: no host round trip between steps. tokens() copies what was generated.
//
// Per layer (bf16 activations, fp32 math inside the kernels):
//   h = rmsnorm(x); qkv = NF4(h) + LoRA; q, k = rope(q, k) at their positions; k, v -> cache;
//   a = attention; x += NF4(a)_o + LoRA; h = rmsnorm(x); gu = NF4(h) + LoRA; x += NF4(silu(g)*u)
//   + LoRA. Then final rmsnorm and the bf16 lm_head on each sequence's last row only; argmax
//   (ties: the lowest id, as torch.argmax) over the bf16 logits.
// Base products: prefill uses base_linear_forward_via (double-quant absmax decoded, W dequantized
//   to bf16 in the arena, cuBLASLt; or the fused tensor-core NF4 GEMM: engine/cuda/gemm_choice.h
//   measures which at create, infer_options::prefill_gemm_measure). Decode uses the
//   fused nf4_dq_gemv_cuda (reads each weight byte once; of its two kernels the one gemv_choice
//   measured faster on this device) when the batch is <= gemv_max_batch and the linear's C is a
//   multiple of 128, in calls of <= 16 rows (register_lut reads the weights once for 16 rows;
//   scaled_lut once per 8, still well under dequant+GEMM's ~4.5 byte/weight of traffic).
//   gemv_max_batch = 8 sends batch 16 to dequant+GEMM instead, so the bench can measure both.
// LoRA is applied at run time, unmerged (lora_forward_cuda, dropout 0; decode steps of <= 16 rows
//   use one-kernel forms, fused into the kernel after each base product: fused_decode below):
//   merging into an NF4 base
//   would need a requantization that changes the base weights. lora = false skips the branch.
// Attention: prefill from an empty cache uses attention_forward_mma_cuda (tensor cores; head
//   sizes 64, 96, 128, else the SIMT attention_forward_cuda) on the prompt's own q/k/v; decode uses
//   attention_decode_cuda (flash-decoding, split-K over keys so batch 1 fills the GPU, key count
//   read on the device).
// Decode positions live on the device (engine/cuda/infer_ops.h state), so with cuda_graph the
//   first decode_step at a batch size runs as plain launches (warm-up: lazy module loading and
//   cuBLASLt's algorithm choice happen outside a capture), the second captures the whole step
//   (with the fused GEMV and fused_decode: 9 kernels a layer; the GEMM path adds dequantize +
//   cuBLASLt calls) into one CUDA graph, and every later step is one cudaGraphLaunch. If capture
//   fails, steps stay plain launches (graphed() says which). With programmatic_launch, the step's
//   own kernels (all but the cuBLASLt lm_head) overlap their start with the end of the kernel ahead
//   (pdl.cuh).
// Positions: rope tables of the model (rows 0..max_T-1), so max_seq <= model.max_T.
// Memory: create() allocates everything (cache L x 2 x (max_batch, max_seq, NKV, HS) bf16, or the
//   paged pool's kv_blocks x kv_block_size rows, and the
//   activations for max_batch * max_seq prompt rows) once; cx's arena needs the largest linear's
//   bf16 copy (OC*C*2 bytes, 96 MiB for Phi-3's gate_up) plus attention split scratch.
// Errors: bad arguments return invalid_argument; launch failures are recorded in cx and returned
//   by the next call (take_error), asynchronous ones by tokens() (synchronize).
// Thread-safety: one host thread, one cuda_context, like gpu_model.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "base/status.h"
#include "engine/cuda/device_buffer.h"
#include "engine/cuda/gemm_choice.h"
#include "engine/cuda/gemv_choice.h"
#include "engine/cuda/gpu_model.h"
#include "engine/cuda/step_profile.h"

namespace kaito::gpu {

struct infer_options {
  int64_t max_batch = 1;        // sequences decoded together
  int64_t max_seq = 0;          // cache capacity per sequence (prompt + generated), <= max_T
  int64_t gemv_max_batch = 16;  // decode batches up to this use the fused GEMV (16 rows a call)
  bool lora = true;             // apply the LoRA branches
  bool cuda_graph = true;       // replay decode steps as a captured CUDA graph
  // Decode-step kernels launched with programmatic dependent launch (kernels/cuda/pdl.cuh; compute
  // capability >= 9.0, else ignored): each kernel's blocks start, and the GEMV loads its first
  // weights, while the kernel ahead finishes. Same results bit for bit.
  bool programmatic_launch = true;
  // Decode steps in fewer kernels, same results bit for bit:
  //   - with LoRA, each linear's LoRA term goes into the kernel after its base product instead of
  //     a lora_decode launch: qkv's into the split + rope + cache kernel (decode_qkv_lora_cuda,
  //     infer_ops.h), gate_up's into SwiGLU (lora_decode_swiglu_cuda), o's and down's into the
  //     residual add + RMSNorm (lora_decode_add_rmsnorm_cuda; down's into the next layer's, or
  //     the final, norm): four launches a layer fewer;
  //   - when attention splits its keys, the split blocks merge the partials themselves
  //     (attention_decode_cuda's merge_counters): one launch a layer fewer.
  bool fused_decode = true;
  // Prefill on the tensor-core attention (attention_forward_mma_cuda; a paged prefill chunk after
  // the first: attention_forward_paged_mma_cuda) for head sizes 64, 96, 128; false, or another
  // head size: the SIMT attention_forward_cuda (attention_forward_paged_cuda).
  bool attention_mma = true;
  // The fused GEMV's kernel (kernels/nf4.h): measured at create() on this device
  // (engine/cuda/gemv_choice.h, ~10 ms at Phi-3 shapes), or gemv_kernel when gemv_measure is off.
  bool gemv_measure = true;
  nf4_gemv_kernel gemv_kernel = nf4_gemv_kernel::scaled_lut;
  // Prefill's NF4 base path (fused tensor-core GEMM or dequantize + cuBLASLt): measured at create()
  // at max_batch * max_seq rows (engine/cuda/gemm_choice.h; remembered per process), or, when
  // off, the model's fused_nf4_gemm.forward. A decode batch past gemv_max_batch always takes the
  // model's.
  bool prefill_gemm_measure = true;
  // Prompt rows the activation buffers hold (0: max_batch * max_seq, every prompt at once).
  // gpu_batch_decoder prefills one chunk of one sequence at a time and needs only its chunk.
  int64_t prefill_rows = 0;
  // gpu_batch_decoder's paged KV cache (kernels/attention.h kv_pages): a pool of kv_blocks
  // blocks of kv_block_size positions per layer that sequences draw from as they grow (0 blocks:
  // max_batch * ceil(max_seq / kv_block_size), the contiguous layout's memory). kv_block_size 0:
  // the contiguous (max_batch, max_seq) cache, which gpu_generator needs.
  int64_t kv_block_size = 0;
  int64_t kv_blocks = 0;
  // gpu_batch_decoder: keep full blocks for later sequences with the same prefix
  // (kernels/kv_block_pool.h; reuse_prefix attaches them).
  bool prefix_caching = true;
};

class gpu_generator {
 public:
  // Allocates the cache and activations for `m` (which must outlive the generator).
  static result<std::unique_ptr<gpu_generator>> create(cuda_context& cx, const gpu_model& m,
                                                       const infer_options& opt);
  ~gpu_generator();
  gpu_generator(const gpu_generator&) = delete;
  gpu_generator& operator=(const gpu_generator&) = delete;

  // Starts over: B (<= max_batch) prompts of T (1 <= T <= max_seq; decode steps need T <
  // max_seq) token ids, row-major (B, T) on the host, each in [0, V). Enqueued; pageable ids
  // (a std::vector's) are copied before return, page-locked ones must stay unchanged until the
  // next call that waits for the device (tokens(), last_logits()).
  status prefill(const int32_t* ids, int64_t B, int64_t T);
  // One greedy step for every sequence; needs length() < max_seq. Enqueued. After a failed
  // step the device-side position may be ahead of length(), so the generator needs a new
  // prefill (decode_step refuses until then).
  status decode_step();
  // Tokens in the cache per sequence (prompt + decode steps done).
  int64_t length() const { return len_; }
  // Generated tokens so far, (B, generated()) row-major; waits for the device.
  int64_t generated() const { return ngen_; }
  result<std::vector<int32_t>> tokens();
  // The logits the last token was picked from, (B, V) widened from bf16; waits for the device.
  result<std::vector<float>> last_logits();
  // The decode GEMV kernel in use and how it was chosen.
  const gemv_choice& gemv() const;
  // Prefill's NF4 base path and how it was chosen.
  const nf4_gemm_direction& prefill_gemm() const;
  // True once decode steps replay a captured graph.
  bool graphed() const;
  // Charges prefill and plain-launch decode steps to named segments while p records
  // (engine/cuda/step_profile.h); captured graph replays are not broken down. nullptr to stop.
  void set_profile(step_profile* p);
  // Device bytes held (cache + activations).
  size_t bytes() const;

 private:
  struct impl;
  friend class gpu_batch_decoder;  // engine/cuda/batch_decoder.h: the same buffers and layers
  explicit gpu_generator(std::unique_ptr<impl> p);
  std::unique_ptr<impl> p_;
  int64_t B_ = 0, len_ = 0, ngen_ = 0;
};

}  // namespace kaito::gpu
