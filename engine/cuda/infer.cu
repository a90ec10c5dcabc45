// gpu_generator (contract: engine/cuda/infer.h): prefill and greedy decode with a KV cache.
// Buffers are allocated once in create(); prefill and decode_step only enqueue work. This file
// holds the allocation, the public calls and the decode step with its CUDA graph; one layer's
// work is in infer_layer.cu, the state both share in infer_impl.h.
#include "engine/cuda/infer.h"

#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>

#include "engine/cuda/cuda_try.h"
#include "engine/cuda/gemm_choice.h"
#include "engine/cuda/gemv_choice.h"
#include "engine/cuda/infer_impl.h"
#include "engine/cuda/infer_ops.h"
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/embedding.h"
#include "kernels/nf4.h"

namespace kaito::gpu {

gpu_generator::impl::~impl() {
  if (graph != nullptr) cudaGraphExecDestroy(graph);
}

status gpu_generator::impl::alloc() {
  const gpu_model_shape& s = m.shape;
  rows = opt.prefill_rows > 0 ? std::max(opt.prefill_rows, opt.max_batch)
                              : opt.max_batch * opt.max_seq;
  const size_t R = size_t(rows), b2 = sizeof(bf16);
  const int64_t kv_rows =
      opt.kv_block_size > 0 ? opt.kv_blocks * opt.kv_block_size : opt.max_batch * opt.max_seq;
  const size_t kv_bytes = size_t(kv_rows * s.kv_dim()) * b2;
  for (int64_t l = 0; l < s.L; ++l) {
    const std::string at = "kv_cache[" + std::to_string(l) + "]";
    KAITO_ASSIGN_OR_RETURN(device_buffer kb, device_buffer::alloc(kv_bytes, at + ".k"));
    KAITO_ASSIGN_OR_RETURN(device_buffer vb, device_buffer::alloc(kv_bytes, at + ".v"));
    kc.push_back(std::move(kb));
    vc.push_back(std::move(vb));
  }
  struct want {
    device_buffer* buf;
    size_t bytes;
    const char* what;
  };
  const want wants[] = {
      {&x, R * s.C * b2, "x"},
      {&h, R * s.C * b2, "h"},
      {&tmp, R * s.C * b2, "tmp"},
      {&qkv, R * s.qkv_dim() * b2, "qkv"},
      {&q, R * s.q_dim() * b2, "q"},
      {&k, R * s.kv_dim() * b2, "k"},
      {&v, R * s.kv_dim() * b2, "v"},
      {&att, R * s.q_dim() * b2, "att"},
      {&gu, R * 2 * s.I * b2, "gate_up"},
      {&act, R * s.I * b2, "act"},
      {&z, R * s.max_lora_rank() * b2, "lora_z"},
      {&lse, R * s.NH * sizeof(float), "lse"},
      {&last, size_t(opt.max_batch * s.C) * b2, "last_rows"},
      {&logits, size_t(opt.max_batch * s.V) * b2, "logits"},
      {&ids, size_t(opt.max_batch) * sizeof(int32_t), "next_ids"},
      {&gen, size_t(opt.max_batch * gen_ld()) * sizeof(int32_t), "generated"},
      {&prompt, R * sizeof(int32_t), "prompt_ids"},
      {&state, 3 * sizeof(int32_t), "decode_state"},
      {&merge_counters, size_t(opt.max_batch * s.NH) * sizeof(uint32_t), "merge_counters"},
  };
  for (const want& w : wants) {
    KAITO_ASSIGN_OR_RETURN(*w.buf, device_buffer::alloc(w.bytes, std::string("infer.") + w.what));
  }
  return {};  // (merge_counters are zeroed by every prefill, on the stream)
}

size_t gpu_generator::impl::bytes() const {
  size_t n = 0;
  for (const device_buffer& b : kc) n += b.bytes();
  for (const device_buffer& b : vc) n += b.bytes();
  for (const device_buffer* b : {&x, &h, &tmp, &qkv, &q, &k, &v, &att, &gu, &act, &z, &lse, &last,
                                 &logits, &ids, &gen, &prompt, &state, &merge_counters})
    n += b->bytes();
  return n;
}

void gpu_generator::impl::enqueue_forward(int64_t B) {
  const gpu_model_shape& s = m.shape;
  mark("embedding");
  embedding_forward_cuda(cx, x.as<bf16>(), ids.as<int32_t>(), m.embed.as<bf16>(), B, s.V, s.C);
  pending_down = nullptr;
  for (int64_t l = 0; l < s.L; ++l) layer_decode(l, B);
  residual_norm(m.final_norm.as<bf16>(), B);  // the last layer's MLP output, the final norm
  head_logits(B);
}

void gpu_generator::impl::enqueue_step(int64_t B) {
  const programmatic_scope pdl(cx, opt.programmatic_launch);
  enqueue_forward(B);
  advance_decode_state_cuda(cx, state.as<int32_t>());
}

cudaGraphExec_t gpu_generator::impl::capture_graph(int64_t B, bool advance) {
  cudaStream_t st = cx.stream();
  if (cudaStreamBeginCapture(st, cudaStreamCaptureModeRelaxed) != cudaSuccess) {
    static_cast<void>(cudaGetLastError());
    return nullptr;
  }
  capturing = true;
  if (advance) {
    enqueue_step(B);
  } else {
    const programmatic_scope pdl(cx, opt.programmatic_launch);
    enqueue_forward(B);
  }
  capturing = false;
  cudaGraph_t g = nullptr;
  const cudaError_t end = cudaStreamEndCapture(st, &g);
  const status recorded = cx.take_error();  // a launcher that failed while capturing
  cudaGraphExec_t exec = nullptr;
  const bool ok = end == cudaSuccess && recorded.ok() && g != nullptr &&
                  cudaGraphInstantiate(&exec, g, 0) == cudaSuccess;
  if (g != nullptr) cudaGraphDestroy(g);
  if (!ok) {
    static_cast<void>(cudaGetLastError());
    if (exec != nullptr) cudaGraphExecDestroy(exec);
    return nullptr;
  }
  return exec;
}

bool gpu_generator::impl::capture(int64_t B) {
  if (graph != nullptr) cudaGraphExecDestroy(graph);
  graph = capture_graph(B, /*advance=*/true);
  if (graph == nullptr) return false;
  graph_B = B;
  return true;
}

result<std::unique_ptr<gpu_generator>> gpu_generator::create(cuda_context& cx, const gpu_model& m,
                                                             const infer_options& opt) {
  KAITO_TRY(m.shape.validate());
  if (int64_t(m.layers.size()) != m.shape.L)
    return invalid_argument("model has " + std::to_string(m.layers.size()) +
                                " layers, shape L=" + std::to_string(m.shape.L),
                            "layers");
  if (opt.max_batch < 1 || opt.max_batch > 65535)
    return invalid_argument("max_batch must be in [1, 65535]", "max_batch");
  if (opt.max_seq < 1 || opt.max_seq > m.max_T)
    return invalid_argument("max_seq must be in [1, model max_T = " + std::to_string(m.max_T) +
                                "] (the rope tables' rows)",
                            "max_seq");
  if (m.shape.V > INT32_MAX) return invalid_argument("vocabulary too large", "V");
  if (opt.prefill_rows < 0) return invalid_argument("must not be negative", "prefill_rows");
  infer_options o = opt;
  if (o.kv_block_size < 0 || o.kv_block_size > 65536)
    return invalid_argument("must be in [0, 65536]", "kv_block_size");
  if (o.kv_block_size > 0) {
    const int64_t per_seq = ceil_div<int64_t>(o.max_seq, o.kv_block_size);
    if (o.kv_blocks == 0) o.kv_blocks = o.max_batch * per_seq;
    if (o.kv_blocks < 1 || o.kv_blocks > INT32_MAX / o.kv_block_size)
      return invalid_argument("must be in [1, " + std::to_string(INT32_MAX / o.kv_block_size) +
                                  "] blocks of " + std::to_string(o.kv_block_size),
                              "kv_blocks");
  }
  auto p = std::make_unique<impl>(cx, m, o);
  KAITO_TRY(p->alloc());
  // decode steps: every row at state[0] in its own slot, key count state[1]
  p->dec_rows = {p->state.as<int32_t>(), 0, nullptr, 0};
  p->dec_tk = p->state.as<int32_t>() + 1;
  if (opt.gemv_measure && opt.gemv_max_batch > 0) {
    // at the batch decode steps will use the GEMV with (at most 16 rows a call)
    const int64_t b = std::min({opt.max_batch, opt.gemv_max_batch, int64_t{16}});
    KAITO_ASSIGN_OR_RETURN(p->gemv, choose_gemv_kernel(cx, m, b));
  } else {
    p->gemv.kernel = opt.gemv_kernel;
    p->gemv.note = std::string(nf4_gemv_kernel_name(opt.gemv_kernel)) + ": fixed by the options";
  }
  if (opt.prefill_gemm_measure) {
    // at the rows the longest prefill runs (measured at up to kGemmChoiceMaxRows)
    KAITO_ASSIGN_OR_RETURN(gemm_choice c, choose_nf4_gemm(cx, m, p->rows));
    p->prefill_gemm = c.forward;
  } else {
    p->prefill_gemm.fused = m.fused_nf4_gemm.forward;
    p->prefill_gemm.note = "the model's fused_nf4_gemm.forward";
  }
  return std::unique_ptr<gpu_generator>(new gpu_generator(std::move(p)));
}

gpu_generator::gpu_generator(std::unique_ptr<impl> p) : p_(std::move(p)) {}
gpu_generator::~gpu_generator() = default;

size_t gpu_generator::bytes() const {
  return p_->bytes();
}

status gpu_generator::prefill(const int32_t* ids, int64_t B, int64_t T) {
  impl& s = *p_;
  const gpu_model_shape& sh = s.m.shape;
  if (B < 1 || B > s.opt.max_batch)
    return invalid_argument("batch " + std::to_string(B) +
                                " not in [1, max_batch = " + std::to_string(s.opt.max_batch) + "]",
                            "B");
  if (T < 1 || T > s.opt.max_seq)
    return invalid_argument("prompt length " + std::to_string(T) +
                                " not in [1, max_seq = " + std::to_string(s.opt.max_seq) + "]",
                            "T");
  const int64_t N = B * T;
  if (N > s.rows)
    return invalid_argument("batch x prompt length " + std::to_string(N) +
                                " exceeds the prefill rows (" + std::to_string(s.rows) + ")",
                            "prefill_rows");
  for (int64_t i = 0; i < N; ++i)
    if (ids[i] < 0 || ids[i] >= sh.V)
      return invalid_argument(
          "token id " + std::to_string(ids[i]) + " outside [0, " + std::to_string(sh.V) + ")",
          "ids[" + std::to_string(i) + "]");
  if (s.opt.kv_block_size > 0)
    return invalid_argument(
        "a paged KV cache is gpu_batch_decoder's; this generator needs "
        "kv_block_size 0",
        "kv_block_size");
  B_ = len_ = ngen_ = 0;
  KAITO_TRY(s.cx.take_error());  // an earlier failure must not be blamed on this call
  // attention_decode_cuda's merge counters start from zero (a failed step may have left some)
  GPU_TRY_CUDA(cudaMemsetAsync(s.merge_counters.get(), 0, s.merge_counters.bytes(), s.cx.stream()));
  GPU_TRY_CUDA(cudaMemcpyAsync(s.prompt.get(), ids, size_t(N) * sizeof(int32_t),
                               cudaMemcpyHostToDevice, s.cx.stream()));
  s.mark("embedding");
  embedding_forward_cuda(s.cx, s.x.as<bf16>(), s.prompt.as<int32_t>(), s.m.embed.as<bf16>(), N,
                         sh.V, sh.C);
  for (int64_t l = 0; l < sh.L; ++l) s.layer_prefill(l, B, T);
  s.mark("rmsnorm + residual");
  s.residual(N * sh.C);  // the last layer's MLP output
  // each sequence's last row: x[b, T-1, :] -> last[b, :]
  const size_t row = size_t(sh.C) * sizeof(bf16);
  GPU_TRY_CUDA(cudaMemcpy2DAsync(s.last.get(), row, s.x.as<bf16>() + (T - 1) * sh.C, row * T, row,
                                 size_t(B), cudaMemcpyDeviceToDevice, s.cx.stream()));
  set_decode_state_cuda(s.cx, s.state.as<int32_t>(), T, 0);  // prefill's pick -> gen[:, 0]
  s.head(s.last.as<bf16>(), B);
  set_decode_state_cuda(s.cx, s.state.as<int32_t>(), T, 1);  // the first decode step
  KAITO_TRY(s.cx.take_error());
  B_ = B;
  len_ = T;
  ngen_ = 1;
  return {};
}

status gpu_generator::decode_step() {
  impl& s = *p_;
  if (B_ == 0) return invalid_argument("decode_step before prefill", "prefill");
  if (len_ >= s.opt.max_seq)
    return invalid_argument(
        "the KV cache is full (max_seq = " + std::to_string(s.opt.max_seq) + ")", "max_seq");
  KAITO_TRY(s.cx.take_error());
  // The first step at a batch size runs as plain launches (lazy module loading, cuBLASLt's
  // algorithm choice and arena use all happen outside a capture); the second captures.
  bool graphed = false;
  if (s.opt.cuda_graph && !s.graph_failed && (s.graph_B == B_ || s.warm_B == B_)) {
    if (s.graph == nullptr || s.graph_B != B_) s.graph_failed = !s.capture(B_);
    if (s.graph != nullptr) {
      GPU_TRY_CUDA(cudaGraphLaunch(s.graph, s.cx.stream()));
      graphed = true;
    }
  }
  if (!graphed) {
    s.enqueue_step(B_);
    s.warm_B = B_;
  }
  if (status st = s.cx.take_error(); !st.ok()) {
    B_ = 0;  // the rest of the step (advance_decode_state) may have run: start over
    return st;
  }
  ++len_;
  ++ngen_;
  return {};
}

void gpu_generator::set_profile(step_profile* p) {
  p_->prof = p;
}

const nf4_gemm_direction& gpu_generator::prefill_gemm() const {
  return p_->prefill_gemm;
}

const gemv_choice& gpu_generator::gemv() const {
  return p_->gemv;
}

bool gpu_generator::graphed() const {
  return p_->graph != nullptr;
}

result<std::vector<int32_t>> gpu_generator::tokens() {
  impl& s = *p_;
  KAITO_TRY(s.cx.synchronize());
  std::vector<int32_t> out(size_t(B_ * ngen_));
  if (out.empty()) return out;
  GPU_TRY_CUDA(cudaMemcpy2D(out.data(), size_t(ngen_) * sizeof(int32_t), s.gen.get(),
                            size_t(s.opt.max_seq) * sizeof(int32_t),
                            size_t(ngen_) * sizeof(int32_t), size_t(B_), cudaMemcpyDeviceToHost));
  return out;
}

result<std::vector<float>> gpu_generator::last_logits() {
  impl& s = *p_;
  KAITO_TRY(s.cx.synchronize());
  std::vector<bf16> raw(size_t(B_ * s.m.shape.V));
  std::vector<float> out(raw.size());
  if (raw.empty()) return out;
  GPU_TRY_CUDA(
      cudaMemcpy(raw.data(), s.logits.get(), raw.size() * sizeof(bf16), cudaMemcpyDeviceToHost));
  for (size_t i = 0; i < raw.size(); ++i) out[i] = bf16_to_f32(raw[i]);
  return out;
}

}  // namespace kaito::gpu
