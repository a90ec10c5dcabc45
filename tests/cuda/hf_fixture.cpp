// Hugging Face fixture loader (contract: tests/cuda/hf_fixture.h).
#include "tests/cuda/hf_fixture.h"

#include <algorithm>
#include <cmath>

#include "tests/kernels/fixture_reader.h"

namespace kaito::testing {

namespace {

// HF module names of each lora_target's linear: Phi-3's fused ones, or Llama's (q, k, v) and
// (gate, up), in the row order of the fused linear.
const std::vector<std::string> kPhi3Modules[gpu::kLoraTargets] = {
    {"self_attn.qkv_proj"}, {"self_attn.o_proj"}, {"mlp.gate_up_proj"}, {"mlp.down_proj"}};
const std::vector<std::string> kLlamaModules[gpu::kLoraTargets] = {
    {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"},
    {"self_attn.o_proj"},
    {"mlp.gate_proj", "mlp.up_proj"},
    {"mlp.down_proj"}};

struct reader {
  std::string dir;
  status st;  // the first failure

  std::vector<float> floats(const std::string& file, const std::string& name, int64_t want) {
    if (!st.ok()) return {};
    std::vector<float> v = read_fixture_float(dir + "/" + file, name);
    if (int64_t(v.size()) != want)
      st = invalid_argument("expected " + std::to_string(want) + " F32/BF16 values, found " +
                                std::to_string(v.size()),
                            file + ": " + name);
    return v;
  }
  // want_min..want_max values (fixtures made before a field was added have fewer).
  std::vector<int64_t> ints(const std::string& file, const std::string& name, int64_t want_min,
                            int64_t want_max) {
    if (!st.ok()) return {};
    std::vector<int64_t> v = read_fixture_i64(dir + "/" + file, name);
    if (int64_t(v.size()) < want_min || int64_t(v.size()) > want_max)
      st = invalid_argument("expected " + std::to_string(want_min) + ".." +
                                std::to_string(want_max) + " I64 values, found " +
                                std::to_string(v.size()),
                            file + ": " + name);
    return v;
  }
};

}  // namespace

double norm_rel_error(const std::vector<float>& ref, const std::vector<float>& got) {
  if (ref.size() != got.size() || ref.empty()) return INFINITY;
  double diff = 0.0, scale = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(got[i]) || !std::isfinite(ref[i])) return INFINITY;
    diff = std::max(diff, std::fabs(double(got[i]) - double(ref[i])));
    scale = std::max(scale, std::fabs(double(ref[i])));
  }
  return scale > 0.0 ? diff / scale : diff;
}

result<hf_fixture> load_hf_fixture(const std::string& dir) {
  reader r{dir, {}};
  hf_fixture f;
  const std::vector<int64_t> ints = r.ints("meta.safetensors", "ints", 15, 17);
  const std::vector<float> fl = r.floats("meta.safetensors", "floats", 4);
  KAITO_TRY(r.st);
  if (ints[14] < 0 || ints[14] > 2)
    return invalid_argument("arch must be 0 (phi3), 1 (llama) or 2 (qwen2)",
                            "meta.safetensors: ints[14]");
  if (ints[11] < 0 || ints[11] > 2)
    return invalid_argument("rope kind must be 0 (default), 1 (longrope) or 2 (llama3)",
                            "meta.safetensors: ints[11]");
  f.arch = ints[14] == 2 ? "qwen2" : ints[14] == 1 ? "llama" : "phi3";
  gpu::gpu_model_shape& s = f.shape;
  s.C = ints[0], s.L = ints[1], s.NH = ints[2], s.NKV = ints[3], s.HS = ints[4], s.I = ints[5];
  s.V = ints[6], s.window = ints[7], s.lora_r = ints[8];
  f.B = ints[12], f.T = ints[13];
  s.rms_eps = fl[1];
  s.lora_alpha = fl[2];
  s.quantized_base = false;
  s.split_lora = f.arch != "phi3";  // Llama and Qwen2: PEFT's separate q/k/v, gate/up modules
  s.qkv_bias = f.arch == "qwen2";
  s.rope.theta = fl[0];
  // ints[15]: the rotary dims (partial rotary); absent in fixtures made before it: all of HS
  s.rotary = ints.size() > 15 && ints[15] != ints[4] ? ints[15] : 0;
  s.rope.head_dim = s.rotary_dim();
  if (ints[11] == 2) {
    const std::vector<float> l3 = r.floats("meta.safetensors", "llama3", 3);
    KAITO_TRY(r.st);
    s.rope.kind = rope_kind::llama3;
    s.rope.original_max_position_embeddings = ints[9];
    s.rope.max_position_embeddings = ints[10];
    s.rope.factor = l3[0];
    s.rope.low_freq_factor = l3[1];
    s.rope.high_freq_factor = l3[2];
  } else if (ints[11] == 1) {
    s.rope.kind = rope_kind::longrope;
    s.rope.original_max_position_embeddings = ints[9];
    s.rope.max_position_embeddings = ints[10];
    s.rope.attention_factor = fl[3];
    s.rope.short_factor = r.floats("meta.safetensors", "short_factor", s.rotary_dim() / 2);
    s.rope.long_factor = r.floats("meta.safetensors", "long_factor", s.rotary_dim() / 2);
  }
  KAITO_TRY(r.st);
  if (s.C <= 0 || s.L <= 0 || s.HS <= 0 || s.NH * s.HS != s.C || s.lora_r <= 0 || f.B <= 0 ||
      f.T <= 0)
    return invalid_argument("inconsistent sizes in meta.safetensors", dir + "/meta.safetensors");

  const std::string base = "base/model.safetensors", ad = "adapter/adapter_model.safetensors";
  gpu::host_model_weights& w = f.weights;
  w.embed = r.floats(base, "model.embed_tokens.weight", s.V * s.C);
  // ints[16]: tie_word_embeddings (absent before it existed: untied): no lm_head.weight stored
  const bool tied = ints.size() > 16 && ints[16] != 0;
  w.lm_head = tied ? w.embed : r.floats(base, "lm_head.weight", s.V * s.C);
  w.final_norm = r.floats(base, "model.norm.weight", s.C);
  w.layers.resize(size_t(s.L));
  for (int64_t l = 0; l < s.L; ++l) {
    gpu::host_layer_weights& h = w.layers[size_t(l)];
    const std::string pre = "model.layers." + std::to_string(l) + ".";
    h.input_norm = r.floats(base, pre + "input_layernorm.weight", s.C);
    h.post_norm = r.floats(base, pre + "post_attention_layernorm.weight", s.C);
    if (s.qkv_bias)  // q, k, v biases concatenated as the fused qkv's rows
      for (const char* m : {"q", "k", "v"}) {
        const std::vector<float> b = r.floats(base, pre + "self_attn." + m + "_proj.bias",
                                              m[0] == 'q' ? s.q_dim() : s.kv_dim());
        h.qkv_bias.insert(h.qkv_bias.end(), b.begin(), b.end());
      }
    std::vector<float>* lin[gpu::kLoraTargets] = {&h.qkv, &h.o, &h.gate_up, &h.down};
    for (int t = 0; t < gpu::kLoraTargets; ++t) {
      const gpu::linear_dims d = gpu::target_dims(s, t);
      const lora_blocks blocks = gpu::lora_blocks_of(s, t);
      const std::vector<std::string>& mods = (s.split_lora ? kLlamaModules : kPhi3Modules)[t];
      // per module: the base rows, then adapter, grads and AdamW results (PEFT names), packed
      // into the fused linear's (block-diagonal) form
      std::vector<gpu::lora_pair> lora(mods.size()), grad(mods.size()), after(mods.size());
      for (size_t m = 0; m < mods.size(); ++m) {
        const int64_t rows = blocks.seg_end[m] - (m == 0 ? 0 : blocks.seg_end[m - 1]);
        const std::vector<float> w = r.floats(base, pre + mods[m] + ".weight", rows * d.in);
        lin[t]->insert(lin[t]->end(), w.begin(), w.end());
        const std::string peft = "base_model.model." + pre + mods[m];
        lora[m].A = r.floats(ad, peft + ".lora_A.weight", s.lora_r * d.in);
        lora[m].B = r.floats(ad, peft + ".lora_B.weight", rows * s.lora_r);
        for (int which = 0; which < 2; ++which) {
          const std::string name = peft + (which == 0 ? ".lora_A" : ".lora_B") + ".default.weight";
          const int64_t n = which == 0 ? s.lora_r * d.in : rows * s.lora_r;
          (which == 0 ? grad[m].A : grad[m].B) =
              r.floats("expected.safetensors", "grad." + name, n);
          (which == 0 ? after[m].A : after[m].B) =
              r.floats("expected.safetensors", "after_adamw." + name, n);
        }
      }
      KAITO_TRY(r.st);
      KAITO_ASSIGN_OR_RETURN(gpu::lora_pair pl, gpu::lora_pack_blocks(s, t, lora));
      KAITO_ASSIGN_OR_RETURN(gpu::lora_pair pg, gpu::lora_pack_blocks(s, t, grad));
      KAITO_ASSIGN_OR_RETURN(gpu::lora_pair pa, gpu::lora_pack_blocks(s, t, after));
      h.lora_A[t] = std::move(pl.A);
      h.lora_B[t] = std::move(pl.B);
      f.grad_A.push_back(std::move(pg.A));
      f.grad_B.push_back(std::move(pg.B));
      f.after_A.push_back(std::move(pa.A));
      f.after_B.push_back(std::move(pa.B));
    }
  }
  const int64_t N = f.B * f.T;
  const std::vector<int64_t> ids = r.ints("expected.safetensors", "input_ids", N, N);
  const std::vector<int64_t> labels = r.ints("expected.safetensors", "labels", N, N);
  f.base_logits = r.floats("expected.safetensors", "base_logits", N * s.V);
  f.lora_logits = r.floats("expected.safetensors", "lora_logits", N * s.V);
  const std::vector<float> loss = r.floats("expected.safetensors", "loss", 1);
  KAITO_TRY(r.st);
  f.loss = loss[0];
  f.ids.resize(size_t(N));
  f.targets.resize(size_t(N));
  for (int64_t n = 0; n < N; ++n) {
    if (ids[size_t(n)] < 0 || ids[size_t(n)] >= s.V)
      return invalid_argument("token id out of range", "expected.safetensors: input_ids");
    f.ids[size_t(n)] = int32_t(ids[size_t(n)]);
    const int64_t t = n % f.T;
    f.targets[size_t(n)] = t + 1 < f.T ? int32_t(labels[size_t(n + 1)]) : -100;
  }
  return f;
}

}  // namespace kaito::testing
