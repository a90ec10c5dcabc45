// The LoRA trainer (see trainer.h).
#include "engine/trainer.h"

#include <algorithm>

#include "engine/train_checkpoint.h"
#include "engine/transformer.h"
#include "kernels/grad_clip.h"
#include "kernels/rng.h"

namespace kaito::engine {

namespace {

constexpr uint64_t k_tag_dropout = 2;  // (1 is train_batches.h's order stream)

// Sums every LoRA gradient and the loss over the ranks: one flat bucket, one collective.
status all_reduce_grads(all_reducer& r, lora_adapter* a, double* loss_sum) {
  size_t n = 1;
  for (const auto& m : a->modules) n += m.dA.size() + m.dB.size();
  std::vector<float> flat;
  flat.reserve(n);
  for (const auto& m : a->modules) {
    flat.insert(flat.end(), m.dA.begin(), m.dA.end());
    flat.insert(flat.end(), m.dB.begin(), m.dB.end());
  }
  flat.push_back(static_cast<float>(*loss_sum));
  KAITO_TRY(r.all_reduce_sum(flat.data(), flat.size()));
  size_t off = 0;
  for (auto& m : a->modules) {
    std::copy(flat.begin() + off, flat.begin() + off + m.dA.size(), m.dA.begin());
    off += m.dA.size();
    std::copy(flat.begin() + off, flat.begin() + off + m.dB.size(), m.dB.begin());
    off += m.dB.size();
  }
  *loss_sum = flat[off];
  return {};
}

}  // namespace

result<trainer> trainer::create(std::shared_ptr<const model> m, lora_adapter adapter,
                                std::vector<train_example> data, train_config cfg) {
  KAITO_TRY(validate_train_data(data, m->config.vocab_size));
  if (cfg.micro_batch_size <= 0) return invalid_argument("must be positive", "micro_batch_size");
  if (cfg.grad_accum <= 0) return invalid_argument("must be positive", "grad_accum");
  trainer t;
  t.model_ = std::move(m);
  t.adapter_ = std::move(adapter);
  t.data_ = std::move(data);
  t.cfg_ = cfg;
  for (const auto& mod : t.adapter_.modules) {
    t.m_.emplace_back(mod.A.size(), 0.0f);
    t.m_.emplace_back(mod.B.size(), 0.0f);
    t.v_.emplace_back(mod.A.size(), 0.0f);
    t.v_.emplace_back(mod.B.size(), 0.0f);
  }
  return t;
}

result<step_info> trainer::step() {
  const int64_t world = reducer_ ? reducer_->world_size() : 1;
  const int64_t rank = reducer_ ? reducer_->rank() : 0;
  auto global_micro = [&](int64_t k) { return micro_index_ + k * world + rank; };
  std::vector<batch> batches;
  int64_t total = 0;
  for (int64_t k = 0; k < cfg_.grad_accum; ++k) {
    batches.push_back(make_train_batch(
        data_, micro_batch_examples(static_cast<int64_t>(data_.size()), cfg_.micro_batch_size,
                                    cfg_.seed, global_micro(k))));
    total += supervised_tokens(batches.back());
  }
  if (world > 1) {
    KAITO_ASSIGN_OR_RETURN(total, all_reduce_count(*reducer_, total));
  }
  adapter_.zero_grad();
  step_info info;
  info.tokens = total;
  double loss_sum = 0.0;
  forward_state st;
  for (int64_t k = 0; k < cfg_.grad_accum; ++k) {
    forward_options opt;
    opt.training = true;
    opt.dropout_seed =
        rng_derive(rng_derive(cfg_.seed, k_tag_dropout), static_cast<uint64_t>(global_micro(k)));
    KAITO_TRY(model_forward(*model_, &adapter_, batches[k], opt, &st));
    if (st.count == 0) continue;
    loss_sum += st.loss * static_cast<double>(st.count);
    KAITO_TRY(model_backward(*model_, &adapter_, batches[k], st,
                             static_cast<double>(st.count) / static_cast<double>(total)));
  }
  if (world > 1) KAITO_TRY(all_reduce_grads(*reducer_, &adapter_, &loss_sum));
  info.loss = total > 0 ? loss_sum / static_cast<double>(total) : 0.0;
  double sq = 0.0;
  for (const auto& mod : adapter_.modules)
    sq += grad_sum_squares_cpu(mod.dA.data(), static_cast<int64_t>(mod.dA.size())) +
          grad_sum_squares_cpu(mod.dB.data(), static_cast<int64_t>(mod.dB.size()));
  info.grad_norm = grad_total_norm(sq);
  if (cfg_.max_grad_norm > 0.0) {
    const float coef = grad_clip_coef(info.grad_norm, cfg_.max_grad_norm);
    for (auto& mod : adapter_.modules) {
      grad_scale_cpu(mod.dA.data(), static_cast<int64_t>(mod.dA.size()), coef);
      grad_scale_cpu(mod.dB.data(), static_cast<int64_t>(mod.dB.size()), coef);
    }
  }
  info.lr = lr_at(cfg_.schedule, step_);
  adamw_params ap = cfg_.adamw;
  ap.lr = info.lr;
  size_t k = 0;
  for (auto& mod : adapter_.modules) {
    adamw_update_cpu(mod.A.data(), m_[k].data(), v_[k].data(), mod.dA.data(),
                     static_cast<int64_t>(mod.A.size()), ap, step_ + 1);
    ++k;
    adamw_update_cpu(mod.B.data(), m_[k].data(), v_[k].data(), mod.dB.data(),
                     static_cast<int64_t>(mod.B.size()), ap, step_ + 1);
    ++k;
  }
  ++step_;
  micro_index_ += cfg_.grad_accum * world;
  info.step = step_;
  return info;
}

result<double> trainer::evaluate() const {
  double sum = 0.0;
  int64_t count = 0;
  forward_state st;
  for (size_t i = 0; i < data_.size(); ++i) {
    batch b = make_train_batch(data_, {static_cast<int64_t>(i)});
    KAITO_TRY(model_forward(*model_, &adapter_, b, {}, &st));
    sum += st.loss * static_cast<double>(st.count);
    count += st.count;
  }
  return count > 0 ? sum / static_cast<double>(count) : 0.0;
}

status trainer::save_checkpoint(const std::string& dir) const {
  train_state s;
  s.adapter = adapter_;
  s.exp_avg = m_;
  s.exp_avg_sq = v_;
  s.step = step_;
  s.micro_index = micro_index_;
  s.seed = cfg_.seed;
  return save_train_checkpoint(dir, s);
}

status trainer::load_checkpoint(const std::string& dir) {
  KAITO_ASSIGN_OR_RETURN(train_state s,
                         load_train_checkpoint(dir, model_->config, adapter_, cfg_.seed));
  adapter_ = std::move(s.adapter);
  m_ = std::move(s.exp_avg);
  v_ = std::move(s.exp_avg_sq);
  step_ = s.step;
  micro_index_ = s.micro_index;
  return {};
}

}  // namespace kaito::engine
