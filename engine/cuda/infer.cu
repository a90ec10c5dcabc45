// gpu_generator (contract: engine/cuda/infer.h): prefill and greedy decode with a KV cache,
// composed from kaito_kernels_cuda launchers and the small kernels of engine/cuda/infer_ops.h.
// Buffers are allocated once in create(); prefill and decode_step only enqueue work.
// Prefill (host positions): qkv_split_bf16 (engine/cuda/train_ops.h), rope_forward_cuda per
// sequence, tensor-core attention (SIMT for other head sizes), k/v copied into the cache
// (cudaMemcpy2DAsync). Decode (device positions, infer_ops.h state): decode_qkv_cuda (split +
// rope + cache append in one kernel) and attention_decode_cuda, so the whole step can be
// captured once as a CUDA graph and replayed at every position.
#include "engine/cuda/infer.h"

#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "engine/cuda/cuda_try.h"
#include "engine/cuda/gemm_choice.h"
#include "engine/cuda/gemv_choice.h"
#include "engine/cuda/infer_ops.h"
#include "engine/cuda/step_profile.h"
#include "engine/cuda/train_ops.h"
#include "kernels/attention.h"
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/embedding.h"
#include "kernels/gemm.h"
#include "kernels/lora.h"
#include "kernels/nf4.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "kernels/swiglu.h"

namespace kaito::gpu {

// Programmatic dependent launch (kernels/cuda/pdl.cuh) on cx for a scope; restores the setting.
class programmatic_scope {
 public:
  programmatic_scope(cuda_context& cx, bool on) : cx_(cx), was_(cx.programmatic_launch()) {
    cx_.set_programmatic_launch(on);
  }
  ~programmatic_scope() { cx_.set_programmatic_launch(was_); }
  programmatic_scope(const programmatic_scope&) = delete;
  programmatic_scope& operator=(const programmatic_scope&) = delete;

 private:
  cuda_context& cx_;
  bool was_;
};

struct gpu_generator::impl {
  cuda_context& cx;
  const gpu_model& m;
  infer_options opt;
  int64_t rows = 0;                   // max_batch * max_seq: prompt rows the buffers hold
  std::vector<device_buffer> kc, vc;  // per layer (max_batch, max_seq, NKV, HS) bf16
  device_buffer x, h, tmp, qkv, q, k, v, att, gu, act, z, lse, last, logits, ids, gen, prompt;
  device_buffer state;              // int32 {pos, Tk, step} of the next decode step (infer_ops.h)
  device_buffer merge_counters;     // uint32 (max_batch, NH): attention_decode_cuda's, kept zero
  cudaGraphExec_t graph = nullptr;  // the captured decode step for graph_B sequences
  int64_t graph_B = 0;
  int64_t warm_B = 0;         // batch size of the last plain-launch step (warm-up before capture)
  bool graph_failed = false;  // capture failed once: stay with plain launches
  step_profile* prof = nullptr;     // gpu_generator::set_profile
  gemv_choice gemv;                 // the decode GEMV kernel (create: measured or from the options)
  nf4_gemm_direction prefill_gemm;  // prefill's NF4 base path (create: measured or the model's)
  bool capturing = false;           // no profile events inside a graph capture
  // decode: the down projection's LoRA term deferred into the next residual_norm (fused_decode)
  const gpu_lora_linear* pending_down = nullptr;

  void mark(const char* name) {
    if (!capturing) profile_mark(prof, name);
  }

  impl(cuda_context& c, const gpu_model& mm, const infer_options& o) : cx(c), m(mm), opt(o) {}
  ~impl() {
    if (graph != nullptr) cudaGraphExecDestroy(graph);
  }

  status alloc() {
    const gpu_model_shape& s = m.shape;
    rows = opt.max_batch * opt.max_seq;
    const size_t R = size_t(rows), b2 = sizeof(bf16);
    const size_t kv_bytes = size_t(opt.max_batch * opt.max_seq * s.kv_dim()) * b2;
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
        {&gen, R * sizeof(int32_t), "generated"},
        {&prompt, R * sizeof(int32_t), "prompt_ids"},
        {&state, 3 * sizeof(int32_t), "decode_state"},
        {&merge_counters, size_t(opt.max_batch * s.NH) * sizeof(uint32_t), "merge_counters"},
    };
    for (const want& w : wants) {
      KAITO_ASSIGN_OR_RETURN(*w.buf, device_buffer::alloc(w.bytes, std::string("infer.") + w.what));
    }
    return {};  // (merge_counters are zeroed by every prefill, on the stream)
  }

  size_t bytes() const {
    size_t n = 0;
    for (const device_buffer& b : kc) n += b.bytes();
    for (const device_buffer& b : vc) n += b.bytes();
    for (const device_buffer* b : {&x, &h, &tmp, &qkv, &q, &k, &v, &att, &gu, &act, &z, &lse, &last,
                                   &logits, &ids, &gen, &prompt, &state, &merge_counters})
      n += b->bytes();
    return n;
  }

  float scale() const { return 1.0f / std::sqrt(float(m.shape.HS)); }

  // out (N, OC) = in (N, C) · Wᵀ (+ LoRA). decode: the fused GEMV in calls of <= 16 rows.
  void linear(const gpu_layer& ly, int t, bf16* out, const bf16* in, int64_t N, bool decode) {
    base(ly, t, out, in, N, decode);
    if (!opt.lora) return;
    mark("lora");
    const gpu_lora_linear& l = ly.lora(t);
    if (decode_lora(l, N, decode)) {  // one kernel, not two cuBLASLt calls (kernels/lora.h)
      lora_decode_cuda(cx, out, in, l.A.as<bf16>(), l.B.as<bf16>(), N, l.in, l.r, l.out,
                       m.shape.lora_scale());
      return;
    }
    lora_forward_cuda(cx, out, nullptr, z.as<bf16>(), in, l.A.as<bf16>(), l.B.as<bf16>(), N, l.in,
                      l.r, l.out, m.shape.lora_scale(), 0.0f, 0);
  }

  // Whether the LoRA branch of a decode step runs as the one-kernel lora_decode.
  static bool decode_lora(const gpu_lora_linear& l, int64_t N, bool decode) {
    return decode && N <= 16 && l.r <= 64;
  }

  // out (N, OC) = in (N, C) · Wᵀ, the base product alone.
  void base(const gpu_layer& ly, int t, bf16* out, const bf16* in, int64_t N, bool decode) {
    const gpu_base_linear& w = ly.base(t);
    mark(decode ? "base linear (decode)" : "base linear");
    if (decode && w.quantized() && N <= opt.gemv_max_batch && w.C % 128 == 0) {
      for (int64_t b0 = 0; b0 < N; b0 += 16)
        nf4_dq_gemv_cuda(cx, out + b0 * w.OC, in + b0 * w.C, w.packed.as<uint8_t>(),
                         w.qabsmax.as<uint8_t>(), m.code8.as<float>(), w.nested_absmax.as<float>(),
                         w.offset, std::min<int64_t>(16, N - b0), w.C, w.OC, gemv.kernel);
      if (w.bias.get() != nullptr) gemm_add_bias_cuda(cx, out, w.bias.as<bf16>(), N, w.OC);
    } else {  // prefill: the path measured for it; a decode batch past the GEMV: the model's
      base_linear_forward_via(cx, m, w, out, in, N,
                              decode ? m.fused_nf4_gemm.forward : prefill_gemm.fused);
    }
  }

  void residual(int64_t n) { add_bf16(cx, x.as<bf16>(), x.as<bf16>(), tmp.as<bf16>(), n); }

  // h = rmsnorm(x) with `norm`, layer l's input: from layer 1 on, the previous layer's MLP output
  // (left in tmp by layer_tail) is first added to x in the same pass (residual_norm).
  void layer_input_norm(int64_t l, const bf16* norm, int64_t N) {
    const gpu_model_shape& s = m.shape;
    if (l == 0) {
      mark("rmsnorm + residual");
      rmsnorm_forward_cuda(cx, h.as<bf16>(), nullptr, x.as<bf16>(), norm, N, s.C, s.rms_eps);
    } else {
      residual_norm(norm, N);
    }
  }

  // x += tmp; h = rmsnorm(x) with `norm` (add_rmsnorm_forward_cuda), where tmp is the down
  // projection's base output and, when layer_tail deferred it (pending_down), its LoRA term is
  // added to tmp in the same kernel first (lora_decode_add_rmsnorm_cuda, input act).
  void residual_norm(const bf16* norm, int64_t N) {
    const gpu_model_shape& s = m.shape;
    if (pending_down != nullptr) {
      const gpu_lora_linear& l = *pending_down;
      pending_down = nullptr;
      mark("lora + rmsnorm + residual");
      lora_decode_add_rmsnorm_cuda(cx, x.as<bf16>(), h.as<bf16>(), nullptr, x.as<bf16>(),
                                   tmp.as<bf16>(), norm, N, s.C, s.rms_eps, act.as<bf16>(),
                                   l.A.as<bf16>(), l.B.as<bf16>(), l.in, l.r, s.lora_scale());
      return;
    }
    mark("rmsnorm + residual");
    add_rmsnorm_forward_cuda(cx, x.as<bf16>(), h.as<bf16>(), nullptr, x.as<bf16>(), tmp.as<bf16>(),
                             norm, N, s.C, s.rms_eps);
  }

  // Whether a decode step's LoRA term on `l` goes into the kernel after the base product
  // (infer_options::fused_decode).
  bool fuse_lora(const gpu_lora_linear& l, int64_t N, bool decode) const {
    return opt.lora && opt.fused_decode && decode_lora(l, N, decode);
  }

  // Rows of `width` bytes: dst rows dpitch apart <- src rows spitch apart (stream-ordered).
  void copy2d(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width,
              int64_t height) {
    CUDA_CHECK(cudaMemcpy2DAsync(dst, dpitch, src, spitch, width, size_t(height),
                                 cudaMemcpyDeviceToDevice, cx.stream()));
  }

  // The second half of a layer, shared by prefill and decode: x += o(att); x += mlp(norm(x)).
  void layer_tail(const gpu_layer& ly, int64_t N, bool decode) {
    const gpu_model_shape& s = m.shape;
    if (fuse_lora(ly.lora(lora_o), N, decode)) {  // o's LoRA term in the residual + norm kernel
      base(ly, lora_o, tmp.as<bf16>(), att.as<bf16>(), N, decode);
      const gpu_lora_linear& l = ly.lora(lora_o);
      mark("lora + rmsnorm + residual");
      lora_decode_add_rmsnorm_cuda(cx, x.as<bf16>(), h.as<bf16>(), nullptr, x.as<bf16>(),
                                   tmp.as<bf16>(), ly.post_norm.as<bf16>(), N, s.C, s.rms_eps,
                                   att.as<bf16>(), l.A.as<bf16>(), l.B.as<bf16>(), l.in, l.r,
                                   s.lora_scale());
    } else {
      linear(ly, lora_o, tmp.as<bf16>(), att.as<bf16>(), N, decode);
      mark("rmsnorm + residual");
      add_rmsnorm_forward_cuda(cx, x.as<bf16>(), h.as<bf16>(), nullptr, x.as<bf16>(),
                               tmp.as<bf16>(), ly.post_norm.as<bf16>(), N, s.C, s.rms_eps);
    }
    const gpu_lora_linear& lgu = ly.lora(lora_gate_up);
    if (fuse_lora(lgu, N, decode)) {
      // gate_up's LoRA term and the activation in one kernel (bit for bit the two below)
      base(ly, lora_gate_up, gu.as<bf16>(), h.as<bf16>(), N, decode);
      mark("lora + swiglu");
      lora_decode_swiglu_cuda(cx, act.as<bf16>(), gu.as<bf16>(), h.as<bf16>(), lgu.A.as<bf16>(),
                              lgu.B.as<bf16>(), N, lgu.in, lgu.r, lgu.out, s.lora_scale());
    } else {
      linear(ly, lora_gate_up, gu.as<bf16>(), h.as<bf16>(), N, decode);
      mark("swiglu");
      swiglu_forward_cuda(cx, act.as<bf16>(), gu.as<bf16>(), gu.as<bf16>() + s.I, N, s.I, 2 * s.I);
    }
    // x += tmp is left to the next layer's input norm (or, after the last layer, to the caller),
    // and with fused_decode so is down's LoRA term (residual_norm)
    if (fuse_lora(ly.lora(lora_down), N, decode)) {
      base(ly, lora_down, tmp.as<bf16>(), act.as<bf16>(), N, decode);
      pending_down = &ly.lora(lora_down);
    } else {
      linear(ly, lora_down, tmp.as<bf16>(), act.as<bf16>(), N, decode);
    }
  }

  // B prompts of T tokens at positions 0..T-1 (x holds their embeddings).
  void layer_prefill(int64_t l, int64_t B, int64_t T) {
    const gpu_model_shape& s = m.shape;
    const gpu_layer& ly = m.layers[size_t(l)];
    const int64_t N = B * T, qd = s.q_dim(), kvd = s.kv_dim();
    const size_t b2 = sizeof(bf16);
    layer_input_norm(l, ly.input_norm.as<bf16>(), N);
    linear(ly, lora_qkv, qkv.as<bf16>(), h.as<bf16>(), N, false);
    mark("qkv split + rope");
    qkv_split_bf16(cx, q.as<bf16>(), k.as<bf16>(), v.as<bf16>(), qkv.as<bf16>(), N, qd, kvd);
    const float* cos = m.rope_cos_for(T);  // rows = positions 0..T-1, this forward's factors
    const float* sin = m.rope_sin_for(T);
    for (int64_t b = 0; b < B; ++b) {  // the tables are per position, so one call per sequence
      bf16* qb = q.as<bf16>() + b * T * qd;
      bf16* kb = k.as<bf16>() + b * T * kvd;
      rope_forward_cuda(cx, qb, qb, cos, sin, T, s.NH, s.HS, s.rotary_dim());
      rope_forward_cuda(cx, kb, kb, cos, sin, T, s.NKV, s.HS, s.rotary_dim());
    }
    // tensor cores for the head sizes the mma kernel takes (as the trainer does)
    mark("attention prefill");
    (opt.attention_mma && attention_mma_head_size(s.HS)
         ? attention_forward_mma_cuda
         : attention_forward_cuda)(cx, att.as<bf16>(), lse.as<float>(), q.as<bf16>(), k.as<bf16>(),
                                   v.as<bf16>(), B, T, s.NH, s.NKV, s.HS, scale(), s.window);
    // cache rows [0, T) of each sequence
    mark("kv cache write");
    const size_t cache_pitch = size_t(opt.max_seq * kvd) * b2;
    copy2d(kc[size_t(l)].get(), cache_pitch, k.get(), size_t(T * kvd) * b2, size_t(T * kvd) * b2,
           B);
    copy2d(vc[size_t(l)].get(), cache_pitch, v.get(), size_t(T * kvd) * b2, size_t(T * kvd) * b2,
           B);
    layer_tail(ly, N, false);
  }

  // One token per sequence at the position in `state` (x holds the B embeddings).
  void layer_decode(int64_t l, int64_t B) {
    const gpu_model_shape& s = m.shape;
    const gpu_layer& ly = m.layers[size_t(l)];
    bf16* kcache = kc[size_t(l)].as<bf16>();
    bf16* vcache = vc[size_t(l)].as<bf16>();
    layer_input_norm(l, ly.input_norm.as<bf16>(), B);
    const gpu_lora_linear& lqkv = ly.lora(lora_qkv);
    if (fuse_lora(lqkv, B, true)) {
      // qkv's LoRA term in the split + rope kernel (bit for bit lora_decode, then the two below)
      base(ly, lora_qkv, qkv.as<bf16>(), h.as<bf16>(), B, true);
      mark("lora + qkv split + rope + cache append");
      decode_qkv_lora_cuda(cx, q.as<bf16>(), kcache, vcache, qkv.as<bf16>(), m.rope_cos.as<float>(),
                           m.rope_sin.as<float>(), state.as<int32_t>(), B, s.NH, s.NKV, s.HS,
                           s.rotary_dim(), opt.max_seq, h.as<bf16>(), lqkv.A.as<bf16>(),
                           lqkv.B.as<bf16>(), lqkv.in, lqkv.r, s.lora_scale());
    } else {
      linear(ly, lora_qkv, qkv.as<bf16>(), h.as<bf16>(), B, true);
      mark("qkv split + rope + cache append");
      decode_qkv_cuda(cx, q.as<bf16>(), kcache, vcache, qkv.as<bf16>(), m.rope_cos.as<float>(),
                      m.rope_sin.as<float>(), state.as<int32_t>(), B, s.NH, s.NKV, s.HS,
                      s.rotary_dim(), opt.max_seq);
    }
    mark("attention decode");
    attention_decode_cuda(cx, att.as<bf16>(), q.as<bf16>(), kcache, vcache, state.as<int32_t>() + 1,
                          B, opt.max_seq, opt.max_seq, s.NH, s.NKV, s.HS, scale(), s.window,
                          opt.fused_decode ? merge_counters.as<uint32_t>() : nullptr);
    layer_tail(ly, B, true);
  }

  // Everything one decode step enqueues (plain launches, or captured into `graph`).
  void enqueue_step(int64_t B) {
    const gpu_model_shape& s = m.shape;
    const programmatic_scope pdl(cx, opt.programmatic_launch);
    mark("embedding");
    embedding_forward_cuda(cx, x.as<bf16>(), ids.as<int32_t>(), m.embed.as<bf16>(), B, s.V, s.C);
    pending_down = nullptr;
    for (int64_t l = 0; l < s.L; ++l) layer_decode(l, B);
    residual_norm(m.final_norm.as<bf16>(), B);  // the last layer's MLP output, the final norm
    head_logits(B);
    advance_decode_state_cuda(cx, state.as<int32_t>());
  }

  // Captures enqueue_step(B) into `graph`; false (and plain launches from then on) on any failure.
  bool capture(int64_t B) {
    if (graph != nullptr) cudaGraphExecDestroy(graph);
    graph = nullptr;
    cudaStream_t st = cx.stream();
    if (cudaStreamBeginCapture(st, cudaStreamCaptureModeRelaxed) != cudaSuccess) {
      static_cast<void>(cudaGetLastError());
      return false;
    }
    capturing = true;
    enqueue_step(B);
    capturing = false;
    cudaGraph_t g = nullptr;
    const cudaError_t end = cudaStreamEndCapture(st, &g);
    const status recorded = cx.take_error();  // a launcher that failed while capturing
    bool ok = end == cudaSuccess && recorded.ok() && g != nullptr &&
              cudaGraphInstantiate(&graph, g, 0) == cudaSuccess;
    if (g != nullptr) cudaGraphDestroy(g);
    if (!ok) {
      static_cast<void>(cudaGetLastError());
      if (graph != nullptr) cudaGraphExecDestroy(graph);
      graph = nullptr;
      return false;
    }
    graph_B = B;
    return true;
  }

  // Final norm + lm_head over B rows of `rows_in` (B, C), greedy pick into ids and
  // gen[:, state[2]].
  void head(const bf16* rows_in, int64_t B) {
    const gpu_model_shape& s = m.shape;
    mark("final norm + lm_head + argmax");
    rmsnorm_forward_cuda(cx, h.as<bf16>(), nullptr, rows_in, m.final_norm.as<bf16>(), B, s.C,
                         s.rms_eps);
    head_logits(B);
  }

  // lm_head over the B normalized rows in h, greedy pick into ids and gen[:, state[2]].
  void head_logits(int64_t B) {
    const gpu_model_shape& s = m.shape;
    mark("lm_head + argmax");
    gemm_forward_cuda(cx, logits.as<bf16>(), h.as<bf16>(), m.lm_head.as<bf16>(), nullptr, B, s.C,
                      s.V);
    argmax_rows_cuda(cx, ids.as<int32_t>(), gen.as<int32_t>(), opt.max_seq, state.as<int32_t>(),
                     logits.as<bf16>(), B, s.V);
  }
};

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
  auto p = std::make_unique<impl>(cx, m, opt);
  KAITO_TRY(p->alloc());
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
    KAITO_ASSIGN_OR_RETURN(gemm_choice c, choose_nf4_gemm(cx, m, opt.max_batch * opt.max_seq));
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
  for (int64_t i = 0; i < N; ++i)
    if (ids[i] < 0 || ids[i] >= sh.V)
      return invalid_argument(
          "token id " + std::to_string(ids[i]) + " outside [0, " + std::to_string(sh.V) + ")",
          "ids[" + std::to_string(i) + "]");
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
