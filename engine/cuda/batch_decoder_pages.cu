// gpu_batch_decoder's paged KV cache (contract: engine/cuda/batch_decoder.h): the slots' blocks
// and the prefix cache on the host (kernels/kv_block_pool.h), their block table on the device.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "engine/cuda/batch_decoder.h"
#include "engine/cuda/batch_decoder_state.h"
#include "engine/cuda/cuda_try.h"
#include "engine/cuda/rope_tables.h"
#include "kernels/kv_block_pool.h"

namespace kaito::gpu {

void gpu_batch_decoder::reset(int64_t slot) {
  if (slot < 0 || slot >= slots()) return;
  s_->len[size_t(slot)] = 0;
  s_->pool->release(slot);
}
int64_t gpu_batch_decoder::kv_block_size() const {
  return s_->pool->block_size();
}
int64_t gpu_batch_decoder::kv_blocks() const {
  return s_->pool->blocks();
}
int64_t gpu_batch_decoder::free_blocks() const {
  return s_->pool->free_blocks();
}
int64_t gpu_batch_decoder::blocks_needed(int64_t slot, int64_t len) const {
  if (slot < 0 || slot >= slots()) return 0;
  return s_->pool->blocks_needed(slot, std::min(len, max_seq()));
}
int64_t gpu_batch_decoder::reused_tokens() const {
  return s_->reused;
}

status gpu_batch_decoder::upload_table(int64_t slot, int64_t first) {
  state& st = *s_;
  const std::vector<int32_t>& mine = st.pool->blocks_of(slot);
  if (first >= int64_t(mine.size())) return {};
  st.uploads.emplace_back(mine.begin() + first, mine.end());
  const std::vector<int32_t>& src = st.uploads.back();
  GPU_TRY_CUDA(cudaMemcpyAsync(st.table.as<int32_t>() + slot * st.table_ld + first, src.data(),
                               src.size() * sizeof(int32_t), cudaMemcpyHostToDevice,
                               st.p->cx.stream()));
  return {};
}

status gpu_batch_decoder::take_blocks(int64_t slot, int64_t len) {
  KAITO_ASSIGN_OR_RETURN(const int64_t first, s_->pool->grow(slot, len));
  return upload_table(slot, first);
}

namespace {
// Whether n tokens prefilled with rope_len's factors (0: n) use longrope's long ones.
bool long_factors(const gpu_model_shape& s, int64_t n, int64_t rope_len) {
  return rope_forward_uses_long(s.rope, rope_len == 0 ? n : rope_len);
}
}  // namespace

int64_t gpu_batch_decoder::held_prefix_blocks(const int32_t* ids, int64_t n,
                                              int64_t rope_len) const {
  if (n < 1) return 0;
  const bool lr = long_factors(s_->p->m.shape, n, rope_len);
  return s_->pool->held_prefix_blocks(ids, std::min(n, max_seq()), lr);
}

int64_t gpu_batch_decoder::reuse_prefix(int64_t slot, const int32_t* ids, int64_t n,
                                        int64_t rope_len) {
  if (slot < 0 || slot >= slots() || s_->len[size_t(slot)] != 0 || n < 1) return 0;
  const bool lr = long_factors(s_->p->m.shape, n, rope_len);
  const int64_t have = s_->pool->attach_prefix(slot, ids, std::min(n, max_seq()), lr);
  if (have == 0) return 0;
  if (!upload_table(slot, 0).ok()) {  // (a failed copy: the slot starts empty)
    reset(slot);
    return 0;
  }
  s_->len[size_t(slot)] = have;
  s_->long_rope[size_t(slot)] = lr ? 1 : 0;
  s_->reused += have;
  return have;
}

}  // namespace kaito::gpu
