// gpu_batch_decoder: the GPU forward steps continuous batching is made of (issue #6; the CPU
// twin is engine/kv_decode.h under engine/batch_generator.h). A served model decodes many
// answers at once, each joining and leaving on its own, so unlike gpu_generator (engine/cuda/
// infer.h: B prompts in lockstep, greedy on the device) every sequence here lives in a cache
// slot of its own at its own length, and the logits go back to the host for each answer's own
// sampling.
//
//   auto d = gpu_batch_decoder::create(cx, model, {.max_batch = 8, .max_seq = 4096,
//                                                  .prefill_rows = 512});
//   d->prefill(slot, ids, n, rope_len, &logits);   // n tokens appended to the slot, last logits
//   d->decode({s1, s2}, {t1, t2}, &logits);        // one token each, (2, V) logits
//
// Slots 0..max_batch-1 each hold one sequence (at most max_seq positions) in a paged KV cache
// (vLLM's PagedAttention layout, kernels/attention.h kv_pages): one pool of kv_blocks blocks of
// kv_block_size positions (default 16) per layer, from which a slot draws a block whenever its
// length enters a new one (prefill and decode draw them; reset returns them), so memory goes to
// the sequences that are long, not max_seq to every slot. A call that needs more blocks than are
// free fails with resource_exhausted naming the slot, before any change (batch_generator asks
// blocks_needed/free_blocks first and preempts). prefill appends n <=
// prefill_rows tokens at positions length(slot).. (length 0 after reset), rotated with the rope
// tables of a forward over rope_len tokens (engine/cuda/rope_tables.h: a chunked prompt passes its
// whole length to every chunk, so its keys equal one prefill's); the first chunk attends over its
// own keys on the tensor cores, a later one (or one after a reused prefix) over the slot's blocks
// (attention_forward_paged_mma_cuda, or attention_forward_paged_cuda for fewer than 16 queries or
// with attention_mma off). With prefix caching (default), the blocks a slot fills stay in
// the pool after reset, found again by their tokens (kernels/kv_block_pool.h): reuse_prefix
// attaches them to an empty slot, shared read-only.
// decode feeds ids[b] to slots[b] at position length(slots[b]) as one (B, C) activation through
// every GEMV/GEMM, exactly gpu_generator's decode step (fused GEMV, fused LoRA epilogues,
// flash-decoding) with a position, key count and slot per row read on the device
// (infer_ops.h decode_rows, attention_decode_rows_cuda). Longrope: a slot remembers which
// factors its keys were rotated with (those of its prefill's rope_len); needs_reprefill() says
// when its next length crosses original_max_position_embeddings (then: reset and prefill the
// whole sequence; decode refuses until then). Decode reads the model's tables, short below the
// threshold and long past it, so short and long slots share a step.
// Logits are bf16 on the device (as gpu_generator's), widened to fp32 for the host.
// With infer_options::cuda_graph (default) decode steps replay CUDA graphs, one per batch size
// and key span (the longest row's key count rounded up to a power of two of at least 512, at most
// max_seq: the attention plans its splits for it, so a short context on a long-context model
// still spreads over the SMs), captured at a kind's second step; else plain launches. Programmatic
// dependent launch and the fused decode kernels as gpu_generator's options say. Errors:
// invalid_argument naming the argument (a slot out of range or listed twice, a full slot, an id
// outside the vocabulary); resource_exhausted when the pool has too few free blocks; launch
// failures as gpu_generator's. After a failed call a slot's contents are unknown: reset it.
// Thread-safety: one host thread, one cuda_context.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "base/status.h"
#include "engine/cuda/gpu_model.h"
#include "engine/cuda/infer.h"

namespace kaito::gpu {

class gpu_batch_decoder {
 public:
  static constexpr int64_t kDefaultBlockSize = 16;  // positions per block (vLLM's default)

  // opt.max_batch = slots, opt.max_seq = positions per slot (<= the model's max_T),
  // opt.prefill_rows = the longest prefill call (0: max_seq), opt.kv_block_size (0:
  // kDefaultBlockSize) and opt.kv_blocks (0: max_batch * ceil(max_seq / block size), every slot
  // full at once). gemv/gemm choices as gpu_generator.
  static result<std::unique_ptr<gpu_batch_decoder>> create(cuda_context& cx, const gpu_model& m,
                                                           infer_options opt);
  ~gpu_batch_decoder();
  gpu_batch_decoder(const gpu_batch_decoder&) = delete;
  gpu_batch_decoder& operator=(const gpu_batch_decoder&) = delete;

  int64_t slots() const;
  int64_t max_seq() const;
  int64_t prefill_rows() const;
  int64_t length(int64_t slot) const;
  // Empties the slot and returns its blocks to the pool.
  void reset(int64_t slot);
  // The pool: positions per block, blocks in all, free now; the blocks the slot must still draw
  // to hold len tokens (len capped at max_seq).
  int64_t kv_block_size() const;
  int64_t kv_blocks() const;
  int64_t free_blocks() const;
  int64_t blocks_needed(int64_t slot, int64_t len) const;
  // Prefix caching (infer_options::prefix_caching, default on; kernels/kv_block_pool.h): every
  // block a slot fills is kept, by its tokens and rope factors, until the pool needs it. On an
  // empty slot, attaches the kept blocks holding the longest prefix of ids[0..n) in whole
  // blocks, fewer than n tokens, rotated with rope_len's factors (0: n), shared read-only with
  // any slot holding them; the slot's length becomes their token count, which is returned (0:
  // none), and prefill goes on from there.
  int64_t reuse_prefix(int64_t slot, const int32_t* ids, int64_t n, int64_t rope_len);
  // Of the blocks reuse_prefix would attach now, those slots hold (kv_block_pool
  // held_prefix_blocks); changes nothing.
  int64_t held_prefix_blocks(const int32_t* ids, int64_t n, int64_t rope_len) const;
  int64_t reused_tokens() const;  // in all, so far
  // n tokens (1 <= n <= prefill_rows, length + n <= max_seq) appended to the slot; logits gets
  // the last one's V logits (null: no head and no wait for the device, for a chunk before the
  // last). rope_len: the total length whose rope factors rotate them (0: length
  // + n); a slot's first chunk sets the slot's factors, later ones must agree. all_rows: logits
  // gets every one of the n rows' logits ((n, V), max_batch rows per head call; prompt logprobs).
  status prefill(int64_t slot, const int32_t* ids, int64_t n, int64_t rope_len,
                 std::vector<float>* logits, bool all_rows = false);
  // True when the slot growing to seq_len tokens needs other longrope factors than its keys have.
  bool needs_reprefill(int64_t slot, int64_t seq_len) const;
  // One token for each of B = slots.size() distinct slots (each non-empty, not full): logits
  // gets (B, V), row b for slots[b].
  status decode(const std::vector<int64_t>& slots, const std::vector<int32_t>& ids,
                std::vector<float>* logits);
  // Device bytes held (caches and activations).
  size_t bytes() const;
  // Decode-step graphs captured so far (0 with cuda_graph off or after a failed capture).
  int64_t graphs() const;

 private:
  struct state;
  explicit gpu_batch_decoder(std::unique_ptr<state> s);
  // Draws the blocks the slot needs to hold len tokens and enqueues their table entries; none
  // when the pool has too few (resource_exhausted naming the slot).
  status take_blocks(int64_t slot, int64_t len);
  // Enqueues the slot's table entries from block `first` on.
  status upload_table(int64_t slot, int64_t first);
  // One decode step over the B rows set in the state's host rows: ids in, (B, V) logits out.
  status step(int64_t B, const std::vector<int32_t>& ids, std::vector<float>* out);
  std::unique_ptr<state> s_;
};

}  // namespace kaito::gpu
