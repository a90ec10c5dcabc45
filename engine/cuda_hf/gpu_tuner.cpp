// gpu_tuner (contract: engine/cuda_hf/gpu_tuner.h).
#include "engine/cuda_hf/gpu_tuner.h"

#include <algorithm>
#include <string>
#include <utility>

#include "base/check.h"
#include "engine/train_batches.h"
#include "engine/train_checkpoint.h"
#include "kernels/cross_entropy.h"
#include "kernels/lr_schedule.h"

namespace kaito::gpu {

namespace {

result<gemm_choice> pinned_or_measured(cuda_context& cx, const gpu_model& m, int64_t N,
                                       nf4_gemm_mode mode) {
  if (mode == nf4_gemm_mode::measure) return choose_nf4_gemm(cx, m, N);
  gemm_choice c;
  const bool fused = mode == nf4_gemm_mode::fused;
  for (nf4_gemm_direction* d : {&c.forward, &c.backward_inp}) {
    d->fused = fused;
    d->note = fused ? "fused: pinned" : "dequantize: pinned";
  }
  return c;
}

}  // namespace

result<std::unique_ptr<gpu_tuner>> gpu_tuner::create(cuda_context& cx, gpu_hf_model& m,
                                                     std::vector<engine::train_example> data,
                                                     engine::train_config cfg,
                                                     const gpu_tune_options& opts) {
  KAITO_TRY(engine::validate_train_data(data, m.model.shape.V));
  if (cfg.micro_batch_size <= 0) return invalid_argument("must be positive", "micro_batch_size");
  if (cfg.grad_accum <= 0) return invalid_argument("must be positive", "grad_accum");
  int64_t longest = 0;
  for (const engine::train_example& e : data) longest = std::max(longest, int64_t(e.ids.size()));
  const int64_t T = opts.T > 0 ? opts.T : longest;
  if (longest > T)
    return invalid_argument(
        "an example has " + std::to_string(longest) + " tokens, above T " + std::to_string(T), "T");
  if (T > m.model.max_T)
    return invalid_argument("T " + std::to_string(T) + " above the model's rope tables (max_T " +
                                std::to_string(m.model.max_T) + ")",
                            "T");
  train_options o;
  o.B = cfg.micro_batch_size;
  o.T = T;
  o.checkpoint = opts.checkpoint;
  o.lora_dropout = float(m.lora.dropout);
  o.max_grad_norm = cfg.max_grad_norm;
  o.adamw = cfg.adamw;
  o.attention_mma = opts.attention_mma;
  o.fused_head_vocab_chunk = opts.fused_head_vocab_chunk;
  o.seed = cfg.seed;
  std::unique_ptr<gpu_tuner> t(new gpu_tuner());
  KAITO_ASSIGN_OR_RETURN(t->nf4_gemm_, pinned_or_measured(cx, m.model, o.B * T, opts.nf4_gemm));
  m.model.fused_nf4_gemm = t->nf4_gemm_.paths();
  KAITO_ASSIGN_OR_RETURN(t->trainer_, gpu_trainer::create(cx, m.model, o));
  t->cx_ = &cx;
  t->m_ = &m;
  t->data_ = std::move(data);
  t->cfg_ = cfg;
  t->T_ = T;
  return t;
}

namespace {

// The (B, b.T) ids and next-token targets (HF's label shift) of batch b (b.B <= B rows); rows
// beyond b.B are padding: token 0, no target.
struct micro {
  std::vector<int32_t> ids, targets;
};
micro micro_of(const engine::batch& b, int64_t B) {
  KAITO_CHECK(b.B <= B, "micro_of: ", b.B, " rows for a batch of ", B);
  const int64_t T = b.T;
  micro mb;
  mb.ids = b.ids;
  mb.ids.resize(size_t(B * T), 0);
  mb.targets.assign(size_t(B * T), cross_entropy_ignore_index);
  for (int64_t r = 0; r < b.B; ++r)
    for (int64_t t = 0; t + 1 < T; ++t)
      mb.targets[size_t(r * T + t)] = b.labels[size_t(r * T + t + 1)];
  return mb;
}

// A double summed over the ranks as a float and its float remainder.
result<double> sum_double(engine::all_reducer& r, double x) {
  float h[2] = {float(x), 0.0f};
  h[1] = float(x - double(h[0]));
  KAITO_TRY(r.all_reduce_sum(h, 2));
  return double(h[0]) + double(h[1]);
}

}  // namespace

status gpu_tuner::set_data_parallel(engine::all_reducer* ranks, gpu_grad_reducer* grads) {
  if (ranks == nullptr || grads == nullptr)
    return invalid_argument("an all_reducer and a gradient reducer are needed", "ranks");
  if (ranks_ != nullptr || step_ > 0 || micro_index_ > 0)
    return status(status_code::failed_precondition,
                  "data parallelism is set before the first step, once", "ranks");
  KAITO_TRY(trainer_->set_grad_reducer(grads));
  ranks_ = ranks;
  return {};
}

result<engine::step_info> gpu_tuner::step() {
  const int64_t n = int64_t(data_.size()), B = cfg_.micro_batch_size, T = T_;
  const int64_t world = ranks_ ? int64_t(ranks_->world_size()) : 1;
  const int64_t rank = ranks_ ? int64_t(ranks_->rank()) : 0;
  // The step's micro-batches, as targets shifted the way HF's loss shifts labels.
  std::vector<micro> micros;
  int64_t total = 0;
  for (int64_t k = 0; k < cfg_.grad_accum; ++k) {
    const engine::batch b = engine::make_train_batch(
        data_, engine::micro_batch_examples(n, B, cfg_.seed, micro_index_ + k * world + rank), T);
    total += engine::supervised_tokens(b);
    micros.push_back(micro_of(b, B));
  }
  if (ranks_) {
    KAITO_ASSIGN_OR_RETURN(total, engine::all_reduce_count(*ranks_, total));
  }
  trainer_->zero_grads();
  double loss_sum = 0.0;
  const double grad_scale = total > 0 ? 1.0 / double(total) : 0.0;
  for (size_t k = 0; k < micros.size(); ++k) {
    KAITO_ASSIGN_OR_RETURN(const double s,
                           trainer_->accumulate(micros[k].ids.data(), micros[k].targets.data(),
                                                grad_scale, k + 1 == micros.size()));
    loss_sum += s;
  }
  if (ranks_) {
    KAITO_ASSIGN_OR_RETURN(loss_sum, sum_double(*ranks_, loss_sum));
  }
  engine::step_info info;
  info.tokens = total;
  info.loss = total > 0 ? loss_sum / double(total) : 0.0;
  info.lr = lr_at(cfg_.schedule, step_);
  trainer_->set_lr(info.lr);
  KAITO_ASSIGN_OR_RETURN(const step_result r, trainer_->clip_and_update());
  info.grad_norm = r.grad_norm;
  last_updated_ = r.updated;
  ++step_;
  micro_index_ += cfg_.grad_accum * world;
  info.step = step_;
  return info;
}

result<double> gpu_tuner::evaluate() {
  const int64_t n = int64_t(data_.size()), B = cfg_.micro_batch_size;
  double sum = 0.0;
  int64_t count = 0;
  for (int64_t i0 = 0; i0 < n; i0 += B) {
    std::vector<int64_t> which;
    for (int64_t i = i0; i < std::min(n, i0 + B); ++i) which.push_back(i);
    const micro mb = micro_of(engine::make_train_batch(data_, which, T_), B);  // T_ columns
    count += cross_entropy_count(mb.targets.data(), B * T_);
    KAITO_ASSIGN_OR_RETURN(const double s, trainer_->evaluate(mb.ids.data(), mb.targets.data()));
    sum += s;
  }
  return count > 0 ? sum / double(count) : 0.0;
}

size_t gpu_tuner::trainer_bytes() const {
  return trainer_->bytes();
}

status gpu_tuner::save_checkpoint(const std::string& dir) const {
  engine::train_state st;
  KAITO_ASSIGN_OR_RETURN(st.adapter, gpu_model_adapter(*cx_, *m_));
  const size_t n = st.adapter.modules.size();
  st.exp_avg.resize(2 * n);
  st.exp_avg_sq.resize(2 * n);
  const gpu_model_shape& s = m_->model.shape;
  for (int64_t l = 0; l < s.L; ++l)
    for (int t = 0; t < kLoraTargets; ++t) {
      KAITO_ASSIGN_OR_RETURN(const gpu_trainer::lora_moments mo, trainer_->download_moments(l, t));
      const std::vector<size_t> mods = target_modules(st.adapter, l, t);
      for (size_t seg = 0; seg < mods.size(); ++seg) {
        const lora_pair m1 = lora_unpack_block(s, t, mo.exp_avg, int(seg));
        const lora_pair m2 = lora_unpack_block(s, t, mo.exp_avg_sq, int(seg));
        const size_t i = mods[seg];
        st.exp_avg[2 * i] = m1.A;
        st.exp_avg[2 * i + 1] = m1.B;
        st.exp_avg_sq[2 * i] = m2.A;
        st.exp_avg_sq[2 * i + 1] = m2.B;
      }
    }
  st.step = step_;
  st.micro_index = micro_index_;
  st.seed = cfg_.seed;
  return engine::save_train_checkpoint(dir, st);
}

status gpu_tuner::load_checkpoint(const std::string& dir) {
  KAITO_ASSIGN_OR_RETURN(const engine::lora_adapter like, gpu_model_adapter_layout(*m_));
  KAITO_ASSIGN_OR_RETURN(engine::train_state st,
                         engine::load_train_checkpoint(dir, m_->config, like, cfg_.seed));
  const gpu_model_shape& s = m_->model.shape;
  for (int64_t l = 0; l < s.L; ++l)
    for (int t = 0; t < kLoraTargets; ++t) {
      std::vector<lora_pair> w, m1, m2;
      for (size_t i : target_modules(st.adapter, l, t)) {
        w.push_back({st.adapter.modules[i].A, st.adapter.modules[i].B});
        m1.push_back({st.exp_avg[2 * i], st.exp_avg[2 * i + 1]});
        m2.push_back({st.exp_avg_sq[2 * i], st.exp_avg_sq[2 * i + 1]});
      }
      KAITO_ASSIGN_OR_RETURN(const lora_pair pw, lora_pack_blocks(s, t, w));
      gpu_trainer::lora_moments mo;
      KAITO_ASSIGN_OR_RETURN(mo.exp_avg, lora_pack_blocks(s, t, m1));
      KAITO_ASSIGN_OR_RETURN(mo.exp_avg_sq, lora_pack_blocks(s, t, m2));
      KAITO_TRY(gpu_model_set_lora(*cx_, m_->model, l, t, pw));
      KAITO_TRY(trainer_->upload_moments(l, t, mo));
    }
  trainer_->set_steps_done(st.step);
  step_ = st.step;
  micro_index_ = st.micro_index;
  return {};
}

}  // namespace kaito::gpu
