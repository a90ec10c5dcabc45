// The LoRA trainer (see trainer.h).
#include "engine/trainer.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>

#include "engine/peft_adapter.h"
#include "engine/safetensors.h"
#include "engine/transformer.h"
#include "kernels/grad_clip.h"
#include "kernels/rng.h"

namespace kaito::engine {

namespace {

constexpr uint64_t k_tag_order = 1, k_tag_dropout = 2;

// Right-padded batch of the given examples.
batch make_batch(const std::vector<train_example>& data, const std::vector<int64_t>& which) {
  batch b;
  b.B = static_cast<int64_t>(which.size());
  for (int64_t i : which) b.T = std::max<int64_t>(b.T, static_cast<int64_t>(data[i].ids.size()));
  b.ids.assign(static_cast<size_t>(b.B * b.T), 0);
  b.labels.assign(static_cast<size_t>(b.B * b.T), -100);
  for (int64_t r = 0; r < b.B; ++r) {
    const train_example& e = data[static_cast<size_t>(which[r])];
    std::copy(e.ids.begin(), e.ids.end(), b.ids.begin() + r * b.T);
    std::copy(e.labels.begin(), e.labels.end(), b.labels.begin() + r * b.T);
  }
  return b;
}

// Supervised tokens after HF's shift: labels[b, t] for t >= 1.
int64_t supervised(const batch& b) {
  int64_t n = 0;
  for (int64_t r = 0; r < b.B; ++r)
    for (int64_t t = 1; t < b.T; ++t) n += b.labels[r * b.T + t] != -100;
  return n;
}

std::string moment_name(const lora_module& m, bool is_b, const char* kind) {
  return std::string(kind) + "." + peft_tensor_name(m, is_b);
}

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
  if (data.empty()) return invalid_argument("the dataset is empty", "data");
  for (size_t i = 0; i < data.size(); ++i) {
    if (data[i].ids.empty() || data[i].ids.size() != data[i].labels.size())
      return invalid_argument("ids and labels must be non-empty and equally long",
                              "data[" + std::to_string(i) + "]");
    for (int32_t id : data[i].ids)
      if (id < 0 || id >= m->config.vocab_size)
        return invalid_argument("token id out of range", "data[" + std::to_string(i) + "].ids");
  }
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

std::vector<int64_t> trainer::epoch_order(int64_t epoch) const {
  const int64_t n = static_cast<int64_t>(data_.size());
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  const uint64_t s = rng_derive(rng_derive(cfg_.seed, k_tag_order), static_cast<uint64_t>(epoch));
  for (int64_t i = n - 1; i > 0; --i)  // Fisher-Yates
    std::swap(order[i],
              order[rng_bits(s, static_cast<uint64_t>(i)) % static_cast<uint64_t>(i + 1)]);
  return order;
}

trainer::micro trainer::micro_batch(int64_t index) const {
  const int64_t n = static_cast<int64_t>(data_.size());
  micro mb;
  int64_t cached_epoch = -1;
  std::vector<int64_t> order;
  for (int64_t j = 0; j < cfg_.micro_batch_size; ++j) {
    const int64_t p = index * cfg_.micro_batch_size + j;
    if (p / n != cached_epoch) {
      cached_epoch = p / n;
      order = epoch_order(cached_epoch);
    }
    mb.examples.push_back(order[static_cast<size_t>(p % n)]);
  }
  return mb;
}

result<step_info> trainer::step() {
  const int64_t world = reducer_ ? reducer_->world_size() : 1;
  const int64_t rank = reducer_ ? reducer_->rank() : 0;
  auto global_micro = [&](int64_t k) { return micro_index_ + k * world + rank; };
  std::vector<batch> batches;
  int64_t total = 0;
  for (int64_t k = 0; k < cfg_.grad_accum; ++k) {
    batches.push_back(make_batch(data_, micro_batch(global_micro(k)).examples));
    total += supervised(batches.back());
  }
  if (world > 1) {
    // Token counts as two exact float halves (each sum stays below 2^24 for world < 256).
    float t[2] = {static_cast<float>(total >> 16), static_cast<float>(total & 0xffff)};
    KAITO_TRY(reducer_->all_reduce_sum(t, 2));
    total = (static_cast<int64_t>(t[0]) << 16) + static_cast<int64_t>(t[1]);
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
    batch b = make_batch(data_, {static_cast<int64_t>(i)});
    KAITO_TRY(model_forward(*model_, &adapter_, b, {}, &st));
    sum += st.loss * static_cast<double>(st.count);
    count += st.count;
  }
  return count > 0 ? sum / static_cast<double>(count) : 0.0;
}

status trainer::save_checkpoint(const std::string& dir) const {
  KAITO_TRY(save_peft_adapter(dir, adapter_));
  std::vector<st_write_entry> entries;
  size_t k = 0;
  for (const auto& mod : adapter_.modules) {
    for (bool is_b : {false, true}) {
      const std::vector<int64_t> shape =
          is_b ? std::vector<int64_t>{mod.out, mod.r} : std::vector<int64_t>{mod.r, mod.in};
      entries.push_back(st_f32_entry(moment_name(mod, is_b, "exp_avg"), shape, m_[k]));
      entries.push_back(st_f32_entry(moment_name(mod, is_b, "exp_avg_sq"), shape, v_[k]));
      ++k;
    }
  }
  return write_safetensors(dir + "/trainer_state.safetensors", entries,
                           {{"step", std::to_string(step_)},
                            {"micro_index", std::to_string(micro_index_)},
                            {"seed", std::to_string(cfg_.seed)}});
}

status trainer::load_checkpoint(const std::string& dir) {
  KAITO_ASSIGN_OR_RETURN(lora_adapter a, load_peft_adapter(dir, model_->config));
  if (a.modules.size() != adapter_.modules.size())
    return status(status_code::failed_precondition, "checkpoint adapter has other modules", dir);
  for (size_t i = 0; i < a.modules.size(); ++i)
    if (a.modules[i].path != adapter_.modules[i].path || a.modules[i].r != adapter_.modules[i].r)
      return status(status_code::failed_precondition, "checkpoint adapter has other modules",
                    a.modules[i].path);
  const std::string path = dir + "/trainer_state.safetensors";
  KAITO_ASSIGN_OR_RETURN(safetensors_file f, safetensors_file::open(path));
  std::vector<std::vector<float>> m, v;
  for (const auto& mod : a.modules) {
    for (bool is_b : {false, true}) {
      for (const char* kind : {"exp_avg", "exp_avg_sq"}) {
        const std::string name = moment_name(mod, is_b, kind);
        const st_tensor_info* t = f.find(name);
        if (!t) return not_found("missing optimizer state", path + ": " + name);
        KAITO_ASSIGN_OR_RETURN(std::vector<float> x, st_to_f32(*t, f.data(*t)));
        if (x.size() != (is_b ? mod.B.size() : mod.A.size()))
          return invalid_argument("optimizer state has the wrong size", path + ": " + name);
        (std::string(kind) == "exp_avg" ? m : v).push_back(std::move(x));
      }
    }
  }
  auto number = [&](const char* key, uint64_t* out) -> status {
    auto it = f.metadata().find(key);
    if (it == f.metadata().end()) return not_found("missing metadata", path + ": " + key);
    char* end = nullptr;
    errno = 0;
    const unsigned long long x = std::strtoull(it->second.c_str(), &end, 10);
    if (end == it->second.c_str() || *end != '\0' || errno != 0 || it->second[0] == '-')
      return invalid_argument("not a non-negative integer", path + ": " + key);
    *out = x;
    return {};
  };
  uint64_t step = 0, micro_index = 0, seed = 0;
  KAITO_TRY(number("step", &step));
  KAITO_TRY(number("micro_index", &micro_index));
  KAITO_TRY(number("seed", &seed));
  if (seed != cfg_.seed)
    return status(status_code::failed_precondition, "checkpoint was made with another seed",
                  path + ": seed");
  a.config = adapter_.config;
  adapter_ = std::move(a);
  m_ = std::move(m);
  v_ = std::move(v);
  step_ = static_cast<int64_t>(step);
  micro_index_ = static_cast<int64_t>(micro_index);
  return {};
}

}  // namespace kaito::engine
