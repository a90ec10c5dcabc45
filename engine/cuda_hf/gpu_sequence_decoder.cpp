// gpu_sequence_decoder; see gpu_sequence_decoder.h.
#include "engine/cuda_hf/gpu_sequence_decoder.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <string>
#include <utility>

#include "engine/cuda/batch_decoder.h"
#include "engine/cuda_hf/gpu_model_from_hf.h"
#include "engine/file_text.h"
#include "engine/lora_combine.h"
#include "engine/peft_adapter.h"
#include "kernels/cuda/cuda_context.h"

namespace kaito::gpu {

int64_t gpu_kv_bytes_per_token(const engine::model_config& c) {
  return c.num_layers * 2 * c.num_kv_heads * c.head_dim * 2;  // bf16 keys and values
}

int64_t gpu_serving_kv_blocks(const engine::model_config& c, int64_t block_size,
                              uint64_t free_bytes, uint64_t total_bytes, double utilization,
                              uint64_t reserve_bytes) {
  const double in_use = free_bytes < total_bytes ? double(total_bytes - free_bytes) : 0.0;
  const double usable = utilization * double(total_bytes) - in_use - double(reserve_bytes);
  const double per_block = double(block_size) * double(gpu_kv_bytes_per_token(c));
  if (usable <= 0.0 || per_block <= 0.0) return 0;
  return int64_t(std::min(usable / per_block, double(INT32_MAX / block_size)));
}

namespace {

// The step's buffers for `rows` prompt rows (engine/cuda/infer.cu alloc, generously) and the
// arena's slack: what must stay free besides the cache.
uint64_t activation_reserve(const engine::model_config& c, int64_t rows) {
  const int64_t C = c.hidden_size, I = c.intermediate_size;
  const int64_t q = c.num_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim;
  const int64_t per_row =
      2 * (3 * C + (q + 2 * kv) + 2 * q + 2 * kv + 3 * I + 64) + 4 * c.num_heads + 8;
  return uint64_t(rows * per_row) + (uint64_t{512} << 20);
}

class gpu_sequence_decoder final : public engine::sequence_decoder {
 public:
  gpu_sequence_decoder(std::unique_ptr<cuda_context> cx, std::unique_ptr<gpu_hf_model> m,
                       std::unique_ptr<gpu_batch_decoder> d, int64_t kv_bytes)
      : cx_(std::move(cx)), m_(std::move(m)), d_(std::move(d)), kv_bytes_(kv_bytes) {}
  ~gpu_sequence_decoder() override {
    d_.reset();  // the decoder's buffers, then the model's, then the context
    m_.reset();
  }

  int64_t slots() const override { return d_->slots(); }
  int64_t max_len() const override { return d_->max_seq(); }
  int64_t max_prefill() const override { return d_->prefill_rows(); }
  int64_t kv_bytes_per_token() const override { return kv_bytes_; }
  bool kv_preallocated() const override { return true; }
  int64_t kv_block_size() const override { return d_->kv_block_size(); }
  int64_t kv_blocks() const override { return d_->kv_blocks(); }
  int64_t free_blocks() const override { return d_->free_blocks(); }
  int64_t blocks_needed(int64_t slot, int64_t len) const override {
    return d_->blocks_needed(slot, len);
  }
  int64_t held_prefix_blocks(const int32_t* ids, int64_t n, int64_t rope_len) const override {
    return d_->held_prefix_blocks(ids, n, rope_len);
  }
  int64_t reuse_prefix(int64_t slot, const int32_t* ids, int64_t n, int64_t rope_len) override {
    return d_->reuse_prefix(slot, ids, n, rope_len);
  }
  void reset(int64_t slot) override { d_->reset(slot); }
  status prefill(int64_t slot, const int32_t* ids, int64_t n, int64_t rope_len,
                 std::vector<float>* logits) override {
    return d_->prefill(slot, ids, n, rope_len, logits);
  }
  status prefill_rows(int64_t slot, const int32_t* ids, int64_t n, int64_t rope_len,
                      std::vector<float>* logits) override {
    return d_->prefill(slot, ids, n, rope_len, logits, true);
  }
  bool needs_reprefill(int64_t slot, int64_t seq_len) const override {
    return d_->needs_reprefill(slot, seq_len);
  }
  status decode(const std::vector<int64_t>& slots, const std::vector<int32_t>& ids,
                std::vector<float>* logits) override {
    return d_->decode(slots, ids, logits);
  }

 private:
  std::unique_ptr<cuda_context> cx_;
  std::unique_ptr<gpu_hf_model> m_;
  std::unique_ptr<gpu_batch_decoder> d_;
  int64_t kv_bytes_;
};

}  // namespace

result<std::unique_ptr<engine::sequence_decoder>> make_gpu_sequence_decoder(
    const gpu_serving_options& o, const engine::model_config& c) {
  if (!o.adapter_strengths.empty() && o.adapter_strengths.size() != o.adapter_dirs.size())
    return invalid_argument("one strength per adapter folder", "adapter_strengths");
  for (float w : o.adapter_strengths)
    if (!(w >= 0.0f && w <= 1.0f))
      return invalid_argument("strength must be in [0, 1]", "adapter_strengths");
  // the adapters, at their strengths, as one LoRA on every linear (engine/lora_combine.h)
  std::vector<engine::lora_adapter> adapters;
  for (const std::string& dir : o.adapter_dirs) {
    auto a = engine::load_peft_adapter(dir, c);
    if (!a.ok()) return engine::in_file(a.error(), dir);
    adapters.push_back(std::move(*a));
  }
  KAITO_ASSIGN_OR_RETURN(engine::lora_adapter lora,
                         engine::lora_combine(c, adapters, o.adapter_strengths));
  adapters.clear();
  if (o.max_batch < 1 || o.max_batch > 4096)
    return invalid_argument("must be in [1, 4096]", "max_batch");
  if (o.prefill_chunk < 1) return invalid_argument("must be at least 1", "prefill_chunk");
  if (!(o.gpu_memory_utilization > 0.0 && o.gpu_memory_utilization <= 1.0))
    return invalid_argument("must be in (0, 1]", "gpu_memory_utilization");
  int64_t context = c.max_position_embeddings;
  if (o.context > 0) context = std::min(context, o.context);
  if (context < 1) return invalid_argument("no positions to serve", "max_position_embeddings");

  cuda_context_options copt;
  copt.arena_bytes = size_t{512} << 20;  // gate_up's bf16 copy (96 MiB at Phi-3) + scratch
  KAITO_ASSIGN_OR_RETURN(std::unique_ptr<cuda_context> cx, cuda_context::create(copt));
  gpu_hf_options ho;
  ho.max_T = context;
  ho.quantized_base = o.quantized_base;
  ho.adapter = &lora;  // (with no adapters: zeros, and the branch is skipped below)
  auto loaded = gpu_model_from_hf(*cx, o.model_dir, ho);
  if (!loaded.ok()) return loaded.error();
  auto m = std::make_unique<gpu_hf_model>(std::move(*loaded));
  lora = {};

  const int64_t rows = std::max(std::min(o.prefill_chunk, context), o.max_batch);
  size_t free_bytes = 0, total_bytes = 0;
  if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess)
    return status(status_code::internal, "cudaMemGetInfo failed", "device");
  const int64_t bs = gpu_batch_decoder::kDefaultBlockSize;
  const uint64_t table_bytes = uint64_t(o.max_batch) * uint64_t((context + bs - 1) / bs) * 4;
  // at most every slot full at once: more blocks could never be drawn
  if (o.kv_blocks < 0) return invalid_argument("must not be negative", "kv_blocks");
  const int64_t blocks =
      o.kv_blocks > 0
          ? o.kv_blocks
          : std::min(o.max_batch * ((context + bs - 1) / bs),
                     gpu_serving_kv_blocks(c, bs, free_bytes, total_bytes, o.gpu_memory_utilization,
                                           activation_reserve(c, rows) + table_bytes));
  if (blocks * bs < std::min(o.min_len, context))
    return status(status_code::resource_exhausted,
                  std::to_string(o.gpu_memory_utilization) + " of the GPU's " +
                      std::to_string(total_bytes >> 20) + " MiB (" +
                      std::to_string(free_bytes >> 20) + " MiB free after the weights) holds " +
                      std::to_string(blocks * bs) + " KV positions (fewer than " +
                      std::to_string(std::min(o.min_len, context)) +
                      "); lower the context or max_batch, or raise gpu_memory_utilization",
                  "gpu_memory_utilization");
  // one answer may take the whole pool (up to the context); how many run at once is what the
  // pool holds of their lengths (batch_generator preempts the newest when it runs out)
  const int64_t len = std::min(context, blocks * bs);
  infer_options io;
  io.max_batch = o.max_batch;
  io.max_seq = len;
  io.kv_block_size = bs;
  io.kv_blocks = blocks;
  io.prefix_caching = o.prefix_caching;
  io.prefill_rows = std::min(rows, len);
  io.lora = !o.adapter_dirs.empty();
  KAITO_ASSIGN_OR_RETURN(std::unique_ptr<gpu_batch_decoder> d,
                         gpu_batch_decoder::create(*cx, m->model, io));
  return std::unique_ptr<engine::sequence_decoder>(new gpu_sequence_decoder(
      std::move(cx), std::move(m), std::move(d), gpu_kv_bytes_per_token(c)));
}

}  // namespace kaito::gpu
