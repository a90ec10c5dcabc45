// gpu_trainer (contract: engine/cuda/train_step.h; buffer layout: engine/cuda/train_plan.h).
#include "engine/cuda/train_step.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "engine/cuda/cuda_try.h"
#include "engine/cuda/train_ops.h"
#include "kernels/cross_entropy.h"
#include "kernels/cuda/cuda_context.h"
#include "kernels/dtype.h"
#include "kernels/embedding.h"
#include "kernels/gemm.h"
#include "kernels/grad_clip.h"
#include "kernels/linear_cross_entropy.h"
#include "kernels/rmsnorm.h"
#include "kernels/rng.h"

namespace kaito::gpu {

result<std::unique_ptr<gpu_trainer>> gpu_trainer::create(cuda_context& cx, gpu_model& m,
                                                         const train_options& o) {
  if (o.T > m.max_T)
    return invalid_argument(
        "T=" + std::to_string(o.T) + " exceeds the model's max_T=" + std::to_string(m.max_T), "T");
  if (!(o.lora_dropout >= 0.0f && o.lora_dropout < 1.0f))
    return invalid_argument("lora_dropout must be in [0, 1)", "lora_dropout");
  if (int64_t(m.layers.size()) != m.shape.L)
    return invalid_argument("model has no layers (moved from?)", "layers");
  KAITO_ASSIGN_OR_RETURN(train_plan p, make_train_plan(m.shape, o.B, o.T, o.checkpoint,
                                                       o.lora_dropout > 0.0f, o.loss_chunk_rows));
  // The launchers' arena scratch (nested, each rewound after use): NF4 absmax + dequantized W,
  // the LoRA dropout gradient (N, in), attention's D (B, NH, T); checked here, not mid-step.
  size_t scratch = size_t(o.B * m.shape.NH * o.T) * sizeof(float);
  for (int t = 0; t < kLoraTargets; ++t) {
    const linear_dims d = target_dims(m.shape, t);
    scratch = std::max(scratch, size_t(d.out * d.in) * sizeof(bf16) +
                                    size_t((d.out * d.in + 63) / 64) * sizeof(float) + 512);
    if (o.lora_dropout > 0.0f) scratch = std::max(scratch, size_t(p.N * d.in) * sizeof(bf16));
  }
  if (o.fused_head_vocab_chunk > 0)  // linear_cross_entropy_backward_cuda's scratch
    scratch = std::max(scratch, size_t(p.N * o.fused_head_vocab_chunk) * 6 +
                                    size_t(p.N * m.shape.C) * sizeof(float) + 1024);
  if (cx.arena().capacity() - cx.arena().used() < scratch)
    return status(status_code::resource_exhausted,
                  "the cuda_context arena has " +
                      std::to_string(cx.arena().capacity() - cx.arena().used()) +
                      " free bytes; the step needs " + std::to_string(scratch) +
                      " (cuda_context_options::arena_bytes)",
                  "arena");
  std::unique_ptr<gpu_trainer> tr(new gpu_trainer(cx, m, o));
  tr->plan_ = p;
  KAITO_ASSIGN_OR_RETURN(tr->region_, device_buffer::alloc(p.total, "trainer activation region"));
  size_t params = 0;
  for (const gpu_layer& ly : m.layers)
    for (int t = 0; t < kLoraTargets; ++t) {
      const gpu_lora_linear& a = ly.lora(t);
      params += size_t(a.r * a.in + a.out * a.r);
    }
  KAITO_ASSIGN_OR_RETURN(tr->moments_,
                         device_buffer::alloc(2 * params * sizeof(float), "AdamW moments"));
  GPU_TRY_CUDA(cudaMemsetAsync(tr->moments_.get(), 0, tr->moments_.bytes(), cx.stream()));
  float* mv = tr->moments_.as<float>();
  for (gpu_layer& ly : m.layers)
    for (int t = 0; t < kLoraTargets; ++t) {
      gpu_lora_linear& a = ly.lora(t);
      const int64_t na = a.r * a.in, nb = a.out * a.r;
      tr->adam_list_.push_back({a.A_master.as<float>(), mv, mv + params, a.dA.as<float>(), na});
      mv += na;
      tr->adam_list_.push_back({a.B_master.as<float>(), mv, mv + params, a.dB.as<float>(), nb});
      mv += nb;
    }
  // Per-token rope tables: every sequence holds positions 0..T-1 (longrope: the factors of a
  // forward of T tokens, engine/cuda/rope_tables.h).
  const size_t row_bytes = size_t(o.T * m.shape.rotary_dim()) * sizeof(float);
  for (int64_t b = 0; b < o.B; ++b) {
    GPU_TRY_CUDA(cudaMemcpyAsync(tr->at<char>(p.cos) + size_t(b) * row_bytes, m.rope_cos_for(o.T),
                                 row_bytes, cudaMemcpyDeviceToDevice, cx.stream()));
    GPU_TRY_CUDA(cudaMemcpyAsync(tr->at<char>(p.sin) + size_t(b) * row_bytes, m.rope_sin_for(o.T),
                                 row_bytes, cudaMemcpyDeviceToDevice, cx.stream()));
  }
  KAITO_TRY(cx.synchronize());
  return std::move(tr);  // explicit: nvcc does not apply C++20 implicit move here
}

char* gpu_trainer::set_base(int64_t l) const {
  return at<char>(plan_.sets) + size_t(plan_.checkpoint ? 0 : l) * plan_.set_stride;
}

uint64_t gpu_trainer::dropout_seed(int64_t l, int t) const {
  return rng_derive(rng_derive(o_.seed, uint64_t(fb_)), uint64_t(l) * kLoraTargets + uint64_t(t));
}

void gpu_trainer::head(float grad_scale, bool backward) {
  const gpu_model_shape& s = m_.shape;
  const int64_t N = plan_.N, C = s.C, V = s.V, Nc = plan_.chunk_rows;
  bf16* xL = at<bf16>(plan_.xin + size_t(s.L) * plan_.xin_stride);
  bf16* hf = at<bf16>(plan_.hf);
  bf16* dhf = at<bf16>(plan_.dhf);
  bf16* logits = at<bf16>(plan_.logits);
  float* logits32 = at<float>(plan_.logits32);
  const int32_t* targets = at<int32_t>(plan_.targets);
  const bf16* lm_head = m_.lm_head.as<bf16>();
  profile_mark(prof_, "lm_head + cross-entropy");
  rmsnorm_forward_cuda(cx_, hf, at<float>(plan_.rstdf), xL, m_.final_norm.as<bf16>(), N, C,
                       s.rms_eps);
  if (o_.fused_head_vocab_chunk > 0) {
    const int64_t Vc = std::min(o_.fused_head_vocab_chunk, V);
    linear_cross_entropy_forward_cuda(cx_, at<float>(plan_.losses), at<float>(plan_.ce_lse), hf,
                                      lm_head, targets, N, C, V, Vc);
    if (backward)
      linear_cross_entropy_backward_cuda(cx_, dhf, hf, lm_head, at<float>(plan_.ce_lse), targets,
                                         grad_scale, N, C, V, Vc);
  }
  for (int64_t n0 = 0; o_.fused_head_vocab_chunk <= 0 && n0 < N; n0 += Nc) {
    const int64_t rows = std::min(Nc, N - n0);
    gemm_forward_cuda(cx_, logits, hf + n0 * C, lm_head, nullptr, rows, C, V);
    bf16_to_f32_cuda(cx_, logits32, logits, rows * V);  // HF: logits.float() for the loss
    cross_entropy_forward_cuda(cx_, at<float>(plan_.losses) + n0, at<float>(plan_.ce_lse) + n0,
                               logits32, targets + n0, rows, V);
    if (!backward) continue;
    cross_entropy_backward_cuda(cx_, logits32, logits32, at<float>(plan_.ce_lse) + n0, targets + n0,
                                grad_scale, rows, V);
    f32_to_bf16_cuda(cx_, logits, logits32, rows * V);  // bf16 dlogits
    gemm_backward_inp_cuda(cx_, dhf + n0 * C, logits, lm_head, rows, C, V);
  }
  if (!backward) return;
  rmsnorm_backward_cuda(cx_, at<bf16>(plan_.dres), nullptr, dhf, xL, m_.final_norm.as<bf16>(),
                        at<float>(plan_.rstdf), N, C);
}

void gpu_trainer::zero_grads() {
  profile_mark(prof_, "zero grads");
  gpu_model_zero_lora_grads(cx_, m_);
}

result<double> gpu_trainer::forward_backward(const int32_t* ids, const int32_t* targets) {
  const int64_t count = cross_entropy_count(targets, plan_.N);
  zero_grads();
  KAITO_ASSIGN_OR_RETURN(const double sum,
                         accumulate(ids, targets, count > 0 ? 1.0 / double(count) : 0.0, true));
  return count > 0 ? sum / double(count) : 0.0;  // cross_entropy_mean, bit for bit
}

status gpu_trainer::check_batch(const int32_t* ids, const int32_t* targets) const {
  const gpu_model_shape& s = m_.shape;
  for (int64_t i = 0; i < plan_.N; ++i) {
    if (ids[i] < 0 || ids[i] >= s.V)
      return invalid_argument(
          "token id " + std::to_string(ids[i]) + " outside [0, " + std::to_string(s.V) + ")",
          "ids[" + std::to_string(i) + "]");
    if (targets[i] != cross_entropy_ignore_index && (targets[i] < 0 || targets[i] >= s.V))
      return invalid_argument("target " + std::to_string(targets[i]) + " outside [0, " +
                                  std::to_string(s.V) + ") and not -100",
                              "targets[" + std::to_string(i) + "]");
  }
  return {};
}

status gpu_trainer::forward(const int32_t* ids, const int32_t* targets) {
  const gpu_model_shape& s = m_.shape;
  const int64_t N = plan_.N;
  GPU_TRY_CUDA(cudaMemcpyAsync(at<int32_t>(plan_.ids), ids, size_t(N) * sizeof(int32_t),
                               cudaMemcpyHostToDevice, cx_.stream()));
  GPU_TRY_CUDA(cudaMemcpyAsync(at<int32_t>(plan_.targets), targets, size_t(N) * sizeof(int32_t),
                               cudaMemcpyHostToDevice, cx_.stream()));
  profile_mark(prof_, "embedding");
  embedding_forward_cuda(cx_, at<bf16>(plan_.xin), at<int32_t>(plan_.ids), m_.embed.as<bf16>(), N,
                         s.V, s.C);
  for (int64_t l = 0; l < s.L; ++l) layer_forward(l, false);
  return {};
}

result<double> gpu_trainer::loss_sum(const int32_t* targets) {
  const int64_t N = plan_.N;
  profile_mark(prof_, "loss read-back");
  std::vector<float> losses(static_cast<size_t>(N));
  GPU_TRY_CUDA(cudaMemcpyAsync(losses.data(), at<float>(plan_.losses), size_t(N) * sizeof(float),
                               cudaMemcpyDeviceToHost, cx_.stream()));
  KAITO_TRY(cx_.synchronize());
  double sum = 0.0;  // cross_entropy_mean's order
  for (int64_t n = 0; n < N; ++n)
    if (targets[n] != cross_entropy_ignore_index) sum += losses[size_t(n)];
  return sum;
}

result<double> gpu_trainer::accumulate(const int32_t* ids, const int32_t* targets,
                                       double grad_scale, bool last) {
  KAITO_TRY(check_batch(ids, targets));
  if (!(grad_scale >= 0.0) || !std::isfinite(grad_scale))
    return invalid_argument("must be finite and >= 0", "grad_scale");
  KAITO_TRY(cx_.take_error());  // start clean: an earlier failure must not be blamed on this step
  tokens_ = cross_entropy_count(targets, plan_.N);
  reduce_pass_ = last;
  KAITO_TRY(forward(ids, targets));
  head(float(grad_scale), true);
  for (int64_t l = m_.shape.L - 1; l >= 0; --l) layer_backward(l);
  profile_mark(prof_, "gradient all-reduce wait");
  if (reducer_ && reduce_pass_) KAITO_TRY(reducer_->finish());
  result<double> sum = loss_sum(targets);
  ++fb_;  // after the backward: forward and backward drew the same dropout masks
  return sum;
}

result<double> gpu_trainer::evaluate(const int32_t* ids, const int32_t* targets) {
  KAITO_TRY(check_batch(ids, targets));
  KAITO_TRY(cx_.take_error());
  eval_ = true;
  const status st = forward(ids, targets);
  eval_ = false;
  KAITO_TRY(st);
  head(0.0f, false);
  return loss_sum(targets);
}

status gpu_trainer::set_grad_reducer(gpu_grad_reducer* r) {
  if (r == nullptr) return invalid_argument("no reducer given", "reducer");
  if (reducer_ != nullptr)
    return status(status_code::failed_precondition, "a gradient reducer is already set", "reducer");
  const gpu_model_shape& s = m_.shape;
  std::vector<size_t> index(size_t(s.L * kLoraTargets) * 2);
  // Backward's order: layers last to first; in a layer down, gate_up, o, qkv; dB then dA.
  for (int64_t l = s.L - 1; l >= 0; --l)
    for (int t : {int(lora_down), int(lora_gate_up), int(lora_o), int(lora_qkv)}) {
      gpu_lora_linear& w = m_.layers[size_t(l)].lora(t);
      const size_t i = size_t(l * kLoraTargets + t) * 2;
      KAITO_ASSIGN_OR_RETURN(index[i + 1], r->add(w.dB.as<float>(), size_t(w.out * w.r)));
      KAITO_ASSIGN_OR_RETURN(index[i], r->add(w.dA.as<float>(), size_t(w.r * w.in)));
    }
  KAITO_TRY(r->seal());
  reducer_ = r;
  reducer_index_ = std::move(index);
  return {};
}

result<step_result> gpu_trainer::clip_and_update() {
  step_result r;
  r.tokens = tokens_;
  float* sumsq = at<float>(plan_.sumsq);
  profile_mark(prof_, "grad norm + clip");
  GPU_TRY_CUDA(cudaMemsetAsync(sumsq, 0, sizeof(float), cx_.stream()));
  for (const adamw_tensor& e : adam_list_) grad_sum_squares_cuda(cx_, sumsq, e.grad, e.n);
  float h = 0.0f;
  GPU_TRY_CUDA(cudaMemcpyAsync(&h, sumsq, sizeof(float), cudaMemcpyDeviceToHost, cx_.stream()));
  KAITO_TRY(cx_.synchronize());
  r.grad_norm = grad_total_norm(double(h));
  if (!std::isfinite(r.grad_norm)) return r;  // skipped: the caller sees updated == false
  if (o_.max_grad_norm > 0.0) {
    const float coef = grad_clip_coef(r.grad_norm, o_.max_grad_norm);
    // torch multiplies by a coefficient of 1.0 too; skipping it is bitwise the same.
    if (coef != 1.0f)
      for (const adamw_tensor& e : adam_list_)
        grad_scale_cuda(cx_, const_cast<float*>(e.grad), e.n, coef);  // our own grad buffers
  }
  ++t_;
  profile_mark(prof_, "adamw + bf16 refresh");
  adamw_update_multi_cuda(cx_, adam_list_.data(), int64_t(adam_list_.size()), o_.adamw, t_);
  gpu_model_refresh_lora(cx_, m_);
  KAITO_TRY(cx_.synchronize());
  r.updated = true;
  return r;
}

result<gpu_trainer::lora_moments> gpu_trainer::download_moments(int64_t l, int t) {
  KAITO_TRY(check_lora_target(m_, l, t));
  lora_moments mo;
  const size_t k = size_t(l * kLoraTargets + t) * 2;  // adam_list_: A then B per target
  auto get = [&](std::vector<float>& dst, const float* src, int64_t n) -> status {
    dst.resize(size_t(n));
    GPU_TRY_CUDA(cudaMemcpyAsync(dst.data(), src, size_t(n) * sizeof(float), cudaMemcpyDeviceToHost,
                                 cx_.stream()));
    return {};
  };
  KAITO_TRY(get(mo.exp_avg.A, adam_list_[k].m, adam_list_[k].n));
  KAITO_TRY(get(mo.exp_avg_sq.A, adam_list_[k].v, adam_list_[k].n));
  KAITO_TRY(get(mo.exp_avg.B, adam_list_[k + 1].m, adam_list_[k + 1].n));
  KAITO_TRY(get(mo.exp_avg_sq.B, adam_list_[k + 1].v, adam_list_[k + 1].n));
  KAITO_TRY(cx_.synchronize());
  return mo;
}

status gpu_trainer::upload_moments(int64_t l, int t, const lora_moments& mo) {
  KAITO_TRY(check_lora_target(m_, l, t));
  const size_t k = size_t(l * kLoraTargets + t) * 2;
  auto put = [&](float* dst, const std::vector<float>& src, int64_t n, const char* what) -> status {
    if (int64_t(src.size()) != n)
      return invalid_argument(
          "expected " + std::to_string(n) + " values, got " + std::to_string(src.size()),
          "layers[" + std::to_string(l) + "]." + what);
    GPU_TRY_CUDA(cudaMemcpyAsync(dst, src.data(), size_t(n) * sizeof(float), cudaMemcpyHostToDevice,
                                 cx_.stream()));
    return {};
  };
  KAITO_TRY(put(adam_list_[k].m, mo.exp_avg.A, adam_list_[k].n, "exp_avg.lora_A"));
  KAITO_TRY(put(adam_list_[k].v, mo.exp_avg_sq.A, adam_list_[k].n, "exp_avg_sq.lora_A"));
  KAITO_TRY(put(adam_list_[k + 1].m, mo.exp_avg.B, adam_list_[k + 1].n, "exp_avg.lora_B"));
  KAITO_TRY(put(adam_list_[k + 1].v, mo.exp_avg_sq.B, adam_list_[k + 1].n, "exp_avg_sq.lora_B"));
  return cx_.synchronize();
}

result<step_result> gpu_trainer::step(const int32_t* ids, const int32_t* targets) {
  KAITO_ASSIGN_OR_RETURN(const double loss, forward_backward(ids, targets));
  KAITO_ASSIGN_OR_RETURN(step_result r, clip_and_update());
  r.loss = loss;
  return r;
}

result<std::vector<float>> gpu_trainer::logits_rows(int64_t row0, int64_t n) {
  if (row0 < 0 || n <= 0 || n > plan_.chunk_rows || row0 + n > plan_.N)
    return invalid_argument("rows [" + std::to_string(row0) + ", " + std::to_string(row0 + n) +
                                ") outside the step or above the chunk size",
                            "row0");
  const int64_t C = m_.shape.C, V = m_.shape.V;
  gemm_forward_cuda(cx_, at<bf16>(plan_.logits), at<bf16>(plan_.hf) + row0 * C,
                    m_.lm_head.as<bf16>(), nullptr, n, C, V);
  bf16_to_f32_cuda(cx_, at<float>(plan_.logits32), at<bf16>(plan_.logits), n * V);
  std::vector<float> out(static_cast<size_t>(n * V));
  GPU_TRY_CUDA(cudaMemcpyAsync(out.data(), at<float>(plan_.logits32), out.size() * sizeof(float),
                               cudaMemcpyDeviceToHost, cx_.stream()));
  KAITO_TRY(cx_.synchronize());
  return out;
}

}  // namespace kaito::gpu
