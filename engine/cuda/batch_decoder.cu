// gpu_batch_decoder (contract: engine/cuda/batch_decoder.h): gpu_generator's buffers and layers
// (engine/cuda/infer_impl.h) driven a slot at a time; the paged cache's blocks and prefix reuse
// are batch_decoder_pages.cu's.
#include "engine/cuda/batch_decoder.h"

#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "engine/cuda/batch_decoder_state.h"
#include "engine/cuda/cuda_try.h"
#include "engine/cuda/infer_impl.h"
#include "engine/cuda/infer_ops.h"
#include "engine/cuda/rope_tables.h"
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/embedding.h"
#include "kernels/kv_block_pool.h"

namespace kaito::gpu {

namespace {

std::string slot_name(int64_t i) {
  return "slots[" + std::to_string(i) + "]";
}

// The key count a decode step's attention plans its splits for (attention_decode_rows_cuda's
// Tk_max): the longest row's, rounded up to a power of two of at least 512, at most max_seq. So
// the split plan (and the graph) changes only when a row's length doubles, and short contexts on
// a long-context model still spread their keys over the SMs (a plan for max_seq = 131072 keys
// would put a 10k-key row in one split).
int64_t key_span(int64_t longest, int64_t max_seq) {
  int64_t span = 512;
  while (span < longest) span *= 2;
  return std::min(span, max_seq);
}

}  // namespace

result<std::unique_ptr<gpu_batch_decoder>> gpu_batch_decoder::create(cuda_context& cx,
                                                                     const gpu_model& m,
                                                                     infer_options opt) {
  if (opt.prefill_rows == 0) opt.prefill_rows = opt.max_seq;
  if (opt.kv_block_size == 0) opt.kv_block_size = kDefaultBlockSize;
  if (opt.prefill_rows < 1 || opt.prefill_rows > 65535)
    return invalid_argument("must be in [1, 65535]", "prefill_rows");
  const bool graphs = opt.cuda_graph;
  const bool prefix_caching = opt.prefix_caching;
  opt.cuda_graph = false;  // (the generator's own decode_step is not used)
  KAITO_ASSIGN_OR_RETURN(std::unique_ptr<gpu_generator> g, gpu_generator::create(cx, m, opt));
  auto s = std::make_unique<state>();
  s->use_graphs = graphs;
  s->p = g->p_.get();
  s->gen = std::move(g);
  const size_t B = size_t(opt.max_batch);
  KAITO_ASSIGN_OR_RETURN(s->rows, device_buffer::alloc(3 * B * sizeof(int32_t), "decoder.rows"));
  const infer_options& o = s->p->opt;  // (kv_blocks settled by create)
  s->table_ld = ceil_div<int64_t>(o.max_seq, o.kv_block_size);
  s->pool =
      std::make_unique<kv_block_pool>(int64_t(B), o.kv_blocks, o.kv_block_size, prefix_caching);
  KAITO_ASSIGN_OR_RETURN(
      s->table, device_buffer::alloc(B * size_t(s->table_ld) * sizeof(int32_t), "decoder.table"));
  s->len.assign(B, 0);
  s->long_rope.assign(B, 0);
  s->host_rows.assign(3 * B, 0);
  gpu_generator::impl& p = *s->p;
  // decode steps: a position, key count and slot per row (set by decode)
  p.dec_rows = {s->rows.as<int32_t>(),
                1,
                s->rows.as<int32_t>() + 2 * B,
                int64_t(B),
                {s->table.as<int32_t>(), o.kv_block_size, s->table_ld, o.kv_blocks}};
  p.dec_tk = s->rows.as<int32_t>() + B;
  // the state buffer stays {0, 1, 0}: head_logits' greedy pick goes to gen[:, 0], unused here
  set_decode_state_cuda(cx, p.state.as<int32_t>(), 0, 0);
  GPU_TRY_CUDA(cudaMemsetAsync(p.merge_counters.get(), 0, p.merge_counters.bytes(), cx.stream()));
  GPU_TRY_CUDA(cudaMemsetAsync(s->table.get(), 0, s->table.bytes(), cx.stream()));
  KAITO_TRY(cx.take_error());
  return std::unique_ptr<gpu_batch_decoder>(new gpu_batch_decoder(std::move(s)));
}

gpu_batch_decoder::gpu_batch_decoder(std::unique_ptr<state> s) : s_(std::move(s)) {}
gpu_batch_decoder::~gpu_batch_decoder() = default;

int64_t gpu_batch_decoder::slots() const {
  return s_->p->opt.max_batch;
}
int64_t gpu_batch_decoder::max_seq() const {
  return s_->p->opt.max_seq;
}
int64_t gpu_batch_decoder::prefill_rows() const {
  return s_->p->rows;
}
int64_t gpu_batch_decoder::graphs() const {
  return int64_t(s_->graphs.size());
}
int64_t gpu_batch_decoder::length(int64_t slot) const {
  return slot >= 0 && slot < slots() ? s_->len[size_t(slot)] : 0;
}
size_t gpu_batch_decoder::bytes() const {
  return s_->gen->bytes() + s_->rows.bytes() + s_->table.bytes();
}

bool gpu_batch_decoder::needs_reprefill(int64_t slot, int64_t seq_len) const {
  if (slot < 0 || slot >= slots()) return false;
  const bool want = rope_forward_uses_long(s_->p->m.shape.rope, seq_len);
  return want != (s_->long_rope[size_t(slot)] != 0);
}

namespace {

// logits (B, V) bf16 on the device -> out, widened.
status read_logits(cuda_context& cx, const bf16* dev, int64_t B, int64_t V,
                   std::vector<bf16>& staging, std::vector<float>* out) {
  staging.resize(size_t(B * V));
  GPU_TRY_CUDA(cudaMemcpyAsync(staging.data(), dev, staging.size() * sizeof(bf16),
                               cudaMemcpyDeviceToHost, cx.stream()));
  KAITO_TRY(cx.synchronize());
  out->resize(staging.size());
  for (size_t i = 0; i < staging.size(); ++i) (*out)[i] = bf16_to_f32(staging[i]);
  return {};
}

}  // namespace

status gpu_batch_decoder::prefill(int64_t slot, const int32_t* ids, int64_t n, int64_t rope_len,
                                  std::vector<float>* logits, bool all_rows) {
  gpu_generator::impl& p = *s_->p;
  const gpu_model_shape& sh = p.m.shape;
  if (slot < 0 || slot >= slots())
    return invalid_argument(
        "slot " + std::to_string(slot) + " not in [0, " + std::to_string(slots()) + ")", "slot");
  const int64_t start = s_->len[size_t(slot)];
  if (n < 1 || n > p.rows)
    return invalid_argument(
        "chunk of " + std::to_string(n) + " tokens not in [1, " + std::to_string(p.rows) + "]",
        "n");
  if (start + n > p.opt.max_seq)
    return invalid_argument("slot " + std::to_string(slot) + " holds " + std::to_string(start) +
                                " tokens; " + std::to_string(n) +
                                " more pass max_seq = " + std::to_string(p.opt.max_seq),
                            "n");
  if (rope_len == 0) rope_len = start + n;
  if (rope_len < start + n || rope_len > p.m.max_T)
    return invalid_argument("rope_len " + std::to_string(rope_len) + " not in [" +
                                std::to_string(start + n) + ", " + std::to_string(p.m.max_T) + "]",
                            "rope_len");
  const bool lr = rope_forward_uses_long(sh.rope, rope_len);
  if (start > 0 && lr != (s_->long_rope[size_t(slot)] != 0))
    return invalid_argument("a later chunk must rotate with the slot's rope factors", "rope_len");
  for (int64_t i = 0; i < n; ++i)
    if (ids[i] < 0 || ids[i] >= sh.V)
      return invalid_argument(
          "token id " + std::to_string(ids[i]) + " outside [0, " + std::to_string(sh.V) + ")",
          "ids[" + std::to_string(i) + "]");
  KAITO_TRY(p.cx.take_error());
  KAITO_TRY(take_blocks(slot, start + n));  // (none taken when the pool cannot hold them all)
  s_->len[size_t(slot)] = 0;                // unknown until this call succeeds
  const programmatic_scope pdl(p.cx, false);
  GPU_TRY_CUDA(cudaMemcpyAsync(p.prompt.get(), ids, size_t(n) * sizeof(int32_t),
                               cudaMemcpyHostToDevice, p.cx.stream()));
  p.mark("embedding");
  embedding_forward_cuda(p.cx, p.x.as<bf16>(), p.prompt.as<int32_t>(), p.m.embed.as<bf16>(), n,
                         sh.V, sh.C);
  const float* cos = p.m.rope_cos_for(rope_len);
  const float* sin = p.m.rope_sin_for(rope_len);
  p.pending_down = nullptr;
  for (int64_t l = 0; l < sh.L; ++l) p.layer_prefill_slot(l, slot, start, n, cos, sin);
  p.mark("rmsnorm + residual");
  p.residual(n * sh.C);  // the last layer's MLP output
  if (logits != nullptr && all_rows) {
    // every row's distribution, as many rows per head call as the logits buffer holds
    std::vector<float> part;
    logits->clear();
    for (int64_t r0 = 0; r0 < n; r0 += p.opt.max_batch) {
      const int64_t g = std::min<int64_t>(p.opt.max_batch, n - r0);
      p.head_rows(p.x.as<bf16>() + r0 * sh.C, g);
      KAITO_TRY(p.cx.take_error());
      KAITO_TRY(read_logits(p.cx, p.logits.as<bf16>(), g, sh.V, s_->host_logits, &part));
      logits->insert(logits->end(), part.begin(), part.end());
    }
    s_->uploads.clear();  // (the stream has run them)
  } else if (logits != nullptr) {
    p.head(p.x.as<bf16>() + (n - 1) * sh.C, 1);
  }
  KAITO_TRY(p.cx.take_error());
  if (logits != nullptr && !all_rows) {
    KAITO_TRY(read_logits(p.cx, p.logits.as<bf16>(), 1, sh.V, s_->host_logits, logits));
    s_->uploads.clear();  // (the stream has run them)
  }
  s_->len[size_t(slot)] = start + n;
  s_->pool->append_tokens(slot, ids, n, lr);
  s_->long_rope[size_t(slot)] = lr ? 1 : 0;
  return {};
}

status gpu_batch_decoder::decode(const std::vector<int64_t>& slot_list,
                                 const std::vector<int32_t>& ids, std::vector<float>* logits) {
  gpu_generator::impl& p = *s_->p;
  const int64_t B = int64_t(slot_list.size()), V = p.m.shape.V;
  if (ids.size() != slot_list.size()) return invalid_argument("one id per slot", "ids");
  if (B < 1 || B > slots())
    return invalid_argument(
        "batch of " + std::to_string(B) + " not in [1, " + std::to_string(slots()) + "]", "slots");
  std::vector<int8_t> seen(size_t(slots()), 0);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t sl = slot_list[size_t(b)];
    if (sl < 0 || sl >= slots() || seen[size_t(sl)])
      return invalid_argument("slot " + std::to_string(sl) + " out of range or listed twice",
                              slot_name(b));
    seen[size_t(sl)] = 1;
    const int64_t len = s_->len[size_t(sl)];
    if (len == 0) return invalid_argument("slot " + std::to_string(sl) + " is empty", slot_name(b));
    if (len >= p.opt.max_seq)
      return invalid_argument("slot " + std::to_string(sl) +
                                  " is full (max_seq = " + std::to_string(p.opt.max_seq) + ")",
                              slot_name(b));
    if (needs_reprefill(sl, len + 1))
      return invalid_argument("slot " + std::to_string(sl) + " must be prefilled again (longrope)",
                              slot_name(b));
    if (ids[size_t(b)] < 0 || ids[size_t(b)] >= V)
      return invalid_argument(
          "token id " + std::to_string(ids[size_t(b)]) + " outside [0, " + std::to_string(V) + ")",
          "ids[" + std::to_string(b) + "]");
  }
  KAITO_TRY(p.cx.take_error());
  // a block for each row whose position starts one, all or none
  int64_t need = 0;
  for (int64_t sl : slot_list) need += blocks_needed(sl, s_->len[size_t(sl)] + 1);
  if (need > free_blocks()) {
    for (int64_t b = 0; b < B; ++b)  // name the first row that cannot grow
      if (blocks_needed(slot_list[size_t(b)], s_->len[size_t(slot_list[size_t(b)])] + 1) > 0)
        return status(status_code::resource_exhausted,
                      "the KV cache pool is full: " + std::to_string(need) + " rows need a new " +
                          "block, " + std::to_string(free_blocks()) + " of " +
                          std::to_string(kv_blocks()) + " are free",
                      slot_name(b));
  }
  for (int64_t sl : slot_list) KAITO_TRY(take_blocks(sl, s_->len[size_t(sl)] + 1));
  // One step for every row. The model's decode tables (rope_cos/sin) hold the short factors'
  // rows below original_max_position_embeddings and the long ones' from there on
  // (engine/cuda/rope_tables.h), and a slot decodes at a position of its own factors' range (a
  // short slot stays below the threshold: needs_reprefill above), so short and long slots share
  // the step, as in gpu_generator.
  const int64_t MB = slots();
  std::vector<int32_t>& rows = s_->host_rows;  // (3, max_batch): pos, Tk, slot
  int64_t longest = 0;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t pos = s_->len[size_t(slot_list[size_t(b)])];
    rows[size_t(b)] = int32_t(pos);
    rows[size_t(MB + b)] = int32_t(pos + 1);
    rows[size_t(2 * MB + b)] = int32_t(slot_list[size_t(b)]);
    longest = std::max(longest, pos + 1);
  }
  p.dec_tk_max = key_span(longest, p.opt.max_seq);
  if (status st = step(B, ids, logits); !st.ok()) {
    for (int64_t sl : slot_list) s_->len[size_t(sl)] = 0;  // contents unknown: reset
    return st;
  }
  for (int64_t b = 0; b < B; ++b) {
    const int64_t sl = slot_list[size_t(b)];
    ++s_->len[size_t(sl)];
    s_->pool->append_tokens(sl, &ids[size_t(b)], 1, s_->long_rope[size_t(sl)] != 0);
  }
  return {};
}

status gpu_batch_decoder::step(int64_t B, const std::vector<int32_t>& ids,
                               std::vector<float>* out) {
  gpu_generator::impl& p = *s_->p;
  const std::vector<int32_t>& rows = s_->host_rows;
  GPU_TRY_CUDA(cudaMemcpyAsync(s_->rows.get(), rows.data(), rows.size() * sizeof(int32_t),
                               cudaMemcpyHostToDevice, p.cx.stream()));
  GPU_TRY_CUDA(cudaMemcpyAsync(p.ids.get(), ids.data(), size_t(B) * sizeof(int32_t),
                               cudaMemcpyHostToDevice, p.cx.stream()));
  state& st = *s_;
  bool replayed = false;
  const std::pair<int64_t, int64_t> kind(B, p.dec_tk_max);
  if (st.use_graphs && !st.graph_failed) {
    auto it = st.graphs.find(kind);
    if (it == st.graphs.end() && st.warm.count(kind) != 0) {
      if (cudaGraphExec_t g = p.capture_graph(B, /*advance=*/false); g != nullptr)
        it = st.graphs.emplace(kind, g).first;
      else
        st.graph_failed = true;
    }
    if (it != st.graphs.end()) {
      GPU_TRY_CUDA(cudaGraphLaunch(it->second, p.cx.stream()));
      replayed = true;
    }
  }
  if (!replayed) {
    const programmatic_scope pdl(p.cx, p.opt.programmatic_launch);
    p.enqueue_forward(B);
    st.warm.insert(kind);
  }
  KAITO_TRY(p.cx.take_error());
  // (the host vectors stay unchanged until read_logits synchronizes the stream)
  KAITO_TRY(read_logits(p.cx, p.logits.as<bf16>(), B, p.m.shape.V, s_->host_logits, out));
  s_->uploads.clear();
  return {};
}

}  // namespace kaito::gpu
