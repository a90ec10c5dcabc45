// Loading HF model folders into model_weights (tensor names of transformers' Phi3/Llama/Mistral/
// Qwen2 ForCausalLM state dicts).
#include "engine/model_weights.h"

#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/nf4_checkpoint.h"
#include "engine/safetensors.h"

namespace kaito::engine {

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// The folder's tensors, possibly spread over shards.
class tensor_source {
 public:
  status open(const std::string& dir) {
    namespace fs = std::filesystem;
    const std::string index = dir + "/model.safetensors.index.json";
    if (fs::exists(index)) {
      std::ifstream f(index);
      std::stringstream ss;
      ss << f.rdbuf();
      auto j = nlohmann::json::parse(ss.str(), nullptr, false);
      if (j.is_discarded() || !j.is_object() || !j.contains("weight_map") ||
          !j["weight_map"].is_object())
        return invalid_argument("not a JSON object with a weight_map", index);
      for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
        if (!it->is_string())
          return invalid_argument("weight_map values must be file names", index + ": " + it.key());
        const std::string shard = it->get<std::string>();
        if (shard.find('/') != std::string::npos || shard.find("..") != std::string::npos)
          return invalid_argument("shard name must be a plain file name", index + ": " + it.key());
        if (!files_.count(shard)) {
          KAITO_ASSIGN_OR_RETURN(auto sf, (safetensors_file::open(dir + "/" + shard)));
          files_.emplace(shard, std::move(sf));
        }
        where_[it.key()] = shard;
      }
      return {};
    }
    KAITO_ASSIGN_OR_RETURN(auto sf, (safetensors_file::open(dir + "/model.safetensors")));
    for (const auto& t : sf.tensors()) where_[t.name] = "model.safetensors";
    files_.emplace("model.safetensors", std::move(sf));
    return {};
  }

  bool has(const std::string& name) const { return where_.count(name) != 0; }

  st_lookup lookup() const {
    return [this](const std::string& name) -> result<st_view> {
      auto w = where_.find(name);
      if (w == where_.end()) return not_found("missing tensor", name);
      const safetensors_file& f = files_.at(w->second);
      const st_tensor_info* t = f.find(name);
      if (!t) return not_found("tensor listed in the index is absent from " + w->second, name);
      return st_view{t, f.data(*t)};
    };
  }

  result<std::vector<float>> get(const std::string& name, const std::vector<int64_t>& shape) const {
    auto w = where_.find(name);
    if (w == where_.end()) return not_found("missing tensor", name);
    const safetensors_file& f = files_.at(w->second);
    const st_tensor_info* t = f.find(name);
    if (!t) return not_found("tensor listed in the index is absent from " + w->second, name);
    if (t->shape != shape)
      return invalid_argument("shape " + shape_str(t->shape) + ", expected " + shape_str(shape),
                              name);
    auto v = st_to_f32(*t, f.data(*t));
    if (!v.ok()) return v.error().with_context(name);
    return v;
  }

 private:
  std::map<std::string, safetensors_file> files_;
  std::map<std::string, std::string> where_;
};

// Concatenates the rows of several (rows_i, in) HF modules into one linear_weight; modules stored
// in the bitsandbytes 4-bit layout become NF4 parts (all parts of one linear must agree).
result<linear_weight> load_concat(const tensor_source& src, const std::string& prefix,
                                  const std::vector<std::pair<std::string, int64_t>> parts,
                                  int64_t in, bool bias) {
  linear_weight lw;
  lw.in = in;
  const st_lookup get = src.lookup();
  for (const auto& [name, rows] : parts) {
    const std::string module = prefix + name;
    const bool q = has_bnb_nf4(get, module);
    if (lw.out > 0 && q != lw.quantized())
      return invalid_argument("fused parts mix 4-bit and full-precision storage", module);
    if (q) {
      KAITO_ASSIGN_OR_RETURN(nf4_quant_state qs, read_bnb_nf4(get, module, rows, in));
      lw.nf4.push_back({lw.out, std::make_shared<const nf4_quant_state>(std::move(qs))});
    } else {
      KAITO_ASSIGN_OR_RETURN(auto w, (src.get(module + ".weight", {rows, in})));
      lw.w.insert(lw.w.end(), w.begin(), w.end());
    }
    if (bias) {
      KAITO_ASSIGN_OR_RETURN(auto b, (src.get(module + ".bias", {rows})));
      lw.bias.insert(lw.bias.end(), b.begin(), b.end());
    }
    lw.parts.push_back(module);
    lw.part_rows.push_back(rows);
    lw.out += rows;
  }
  return lw;
}

}  // namespace

const float* linear_weight::materialize(std::vector<float>& scratch) const {
  if (nf4.empty()) return w.data();
  scratch.resize(static_cast<size_t>(out * in));
  for (const nf4_part& p : nf4) {
    status s = nf4_dequantize_weight(*p.state, scratch.data() + p.row_offset * in);
    KAITO_CHECK(s.ok(), "NF4 state validated at load/quantization: ", s.to_string());
  }
  return scratch.data();
}

struct model_reader::source {
  tensor_source tensors;
};

result<model_reader> model_reader::open(const std::string& dir) {
  model_reader r;
  KAITO_ASSIGN_OR_RETURN(r.config_, (load_model_config(dir)));
  auto src = std::make_shared<source>();
  KAITO_TRY(src->tensors.open(dir));
  r.src_ = std::move(src);
  return r;
}

result<std::vector<float>> model_reader::embed() const {
  return src_->tensors.get("model.embed_tokens.weight", {config_.vocab_size, config_.hidden_size});
}

result<std::vector<float>> model_reader::final_norm() const {
  return src_->tensors.get("model.norm.weight", {config_.hidden_size});
}

result<std::vector<float>> model_reader::lm_head() const {
  if (config_.tie_word_embeddings) return std::vector<float>{};
  return src_->tensors.get("lm_head.weight", {config_.vocab_size, config_.hidden_size});
}

result<layer_weights> model_reader::layer(int64_t i) const {
  const model_config& c = config_;
  if (i < 0 || i >= c.num_layers)
    return invalid_argument("layer " + std::to_string(i) + " of " + std::to_string(c.num_layers),
                            "num_hidden_layers");
  const tensor_source& src = src_->tensors;
  const int64_t C = c.hidden_size, I = c.intermediate_size, HS = c.head_dim;
  const int64_t q_rows = c.num_heads * HS, kv_rows = c.num_kv_heads * HS;
  const std::string p = "model.layers." + std::to_string(i) + ".";
  layer_weights l;
  KAITO_ASSIGN_OR_RETURN(l.input_norm, (src.get(p + "input_layernorm.weight", {C})));
  KAITO_ASSIGN_OR_RETURN(l.post_norm, (src.get(p + "post_attention_layernorm.weight", {C})));
  if (c.fused_qkv) {
    KAITO_ASSIGN_OR_RETURN(
        l.qkv,
        (load_concat(src, p + "self_attn.", {{"qkv_proj", q_rows + 2 * kv_rows}}, C, c.qkv_bias)));
    KAITO_ASSIGN_OR_RETURN(l.gate_up,
                           (load_concat(src, p + "mlp.", {{"gate_up_proj", 2 * I}}, C, false)));
  } else {
    KAITO_ASSIGN_OR_RETURN(
        l.qkv, (load_concat(src, p + "self_attn.",
                            {{"q_proj", q_rows}, {"k_proj", kv_rows}, {"v_proj", kv_rows}}, C,
                            c.qkv_bias)));
    KAITO_ASSIGN_OR_RETURN(
        l.gate_up, (load_concat(src, p + "mlp.", {{"gate_proj", I}, {"up_proj", I}}, C, false)));
  }
  KAITO_ASSIGN_OR_RETURN(l.o,
                         (load_concat(src, p + "self_attn.", {{"o_proj", C}}, q_rows, c.o_bias)));
  KAITO_ASSIGN_OR_RETURN(l.down, (load_concat(src, p + "mlp.", {{"down_proj", C}}, I, false)));
  return l;
}

result<std::shared_ptr<model>> load_model(const std::string& dir) {
  KAITO_ASSIGN_OR_RETURN(model_reader r, (model_reader::open(dir)));
  auto m = std::make_shared<model>();
  m->config = r.config();
  model_weights& w = m->weights;
  KAITO_ASSIGN_OR_RETURN(w.embed, (r.embed()));
  KAITO_ASSIGN_OR_RETURN(w.final_norm, (r.final_norm()));
  KAITO_ASSIGN_OR_RETURN(w.lm_head_own, (r.lm_head()));
  for (int64_t i = 0; i < m->config.num_layers; ++i) {
    KAITO_ASSIGN_OR_RETURN(layer_weights l, (r.layer(i)));
    w.layers.push_back(std::move(l));
  }
  return m;
}

void nf4_quantize_linears(model* m, bool double_quant) {
  for (auto& l : m->weights.layers) {
    for (linear_weight* lw : {&l.qkv, &l.o, &l.gate_up, &l.down}) {
      if (lw->quantized()) continue;
      int64_t row = 0;
      for (int64_t rows : lw->part_rows) {
        lw->nf4.push_back(
            {row, std::make_shared<const nf4_quant_state>(nf4_quantize_weight(
                      lw->w.data() + row * lw->in, {rows, lw->in}, dtype::f32, double_quant))});
        row += rows;
      }
      lw->w.clear();
      lw->w.shrink_to_fit();
    }
  }
}

status save_model_safetensors(const model& m, const std::string& path) {
  const model_config& c = m.config;
  const model_weights& w = m.weights;
  std::vector<st_write_entry> e;
  std::deque<std::vector<uint8_t>> storage;
  e.push_back(st_f32_entry("model.embed_tokens.weight", {c.vocab_size, c.hidden_size}, w.embed));
  e.push_back(st_f32_entry("model.norm.weight", {c.hidden_size}, w.final_norm));
  if (!w.lm_head_own.empty())
    e.push_back(st_f32_entry("lm_head.weight", {c.vocab_size, c.hidden_size}, w.lm_head_own));
  for (size_t i = 0; i < w.layers.size(); ++i) {
    const layer_weights& l = w.layers[i];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    e.push_back(st_f32_entry(p + "input_layernorm.weight", {c.hidden_size}, l.input_norm));
    e.push_back(st_f32_entry(p + "post_attention_layernorm.weight", {c.hidden_size}, l.post_norm));
    for (const linear_weight* lw : {&l.qkv, &l.o, &l.gate_up, &l.down}) {
      int64_t row = 0;
      for (size_t k = 0; k < lw->parts.size(); ++k) {
        const int64_t rows = lw->part_rows[k];
        if (lw->quantized()) {
          append_bnb_nf4(*lw->nf4[k].state, lw->parts[k], &e, &storage);
        } else {
          e.push_back(st_f32_entry(
              lw->parts[k] + ".weight", {rows, lw->in},
              std::span<const float>(lw->w).subspan(static_cast<size_t>(row * lw->in),
                                                    static_cast<size_t>(rows * lw->in))));
        }
        if (!lw->bias.empty())
          e.push_back(st_f32_entry(lw->parts[k] + ".bias", {rows},
                                   std::span<const float>(lw->bias).subspan(
                                       static_cast<size_t>(row), static_cast<size_t>(rows))));
        row += rows;
      }
    }
  }
  return write_safetensors(path, e, {{"format", "pt"}});
}

}  // namespace kaito::engine
