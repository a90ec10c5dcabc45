// gpu_batch_decoder::state: the decoder's inside (contract: engine/cuda/batch_decoder.h), shared
// by batch_decoder.cu (creation, prefill, decode steps and their graphs) and
// batch_decoder_pages.cu (the paged cache's blocks, the block table, prefix reuse). Not part of
// the engine's interface.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "engine/cuda/batch_decoder.h"
#include "engine/cuda/device_buffer.h"
#include "engine/cuda/infer.h"
#include "engine/cuda/infer_impl.h"
#include "kernels/kv_block_pool.h"

namespace kaito::gpu {

struct gpu_batch_decoder::state {
  std::unique_ptr<gpu_generator> gen;  // owns impl (the buffers); its own calls are not used
  gpu_generator::impl* p = nullptr;
  device_buffer rows;             // int32 (3, max_batch): positions, key counts, slots
  std::vector<int64_t> len;       // tokens per slot
  std::vector<int8_t> long_rope;  // per slot: rotated with longrope's long factors
  std::vector<int32_t> host_rows;
  std::vector<bf16> host_logits;
  // The paged cache (kernels/attention.h kv_pages): each slot's blocks and the prefix cache
  // (kernels/kv_block_pool.h), and the block table on the device.
  int64_t table_ld = 0;
  std::unique_ptr<kv_block_pool> pool;
  device_buffer table;  // int32 (max_batch, table_ld)
  int64_t reused = 0;   // prompt tokens found in the prefix cache
  // Block ids on their way to the table: each upload's own host copy, kept until the stream is
  // next synchronized (an enqueued copy reads its source when it runs).
  std::vector<std::vector<int32_t>> uploads;
  // Decode steps as CUDA graphs (infer_options::cuda_graph), one per (batch size, key span):
  // the first step of a kind runs as plain launches (lazy module loading and cuBLASLt's choices
  // happen outside a capture), the second captures, later ones replay. The rows, ids and tables
  // are read from fixed device buffers, so one graph replays any slots at any positions up to
  // its span.
  bool use_graphs = false;
  bool graph_failed = false;  // a capture failed once: plain launches from then on
  std::map<std::pair<int64_t, int64_t>, cudaGraphExec_t> graphs;
  std::set<std::pair<int64_t, int64_t>> warm;

  ~state() {  // the graphs before the buffers they use
    for (auto& [key, g] : graphs) cudaGraphExecDestroy(g);
  }
};

}  // namespace kaito::gpu
