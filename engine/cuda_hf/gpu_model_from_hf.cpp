// gpu_model_from_hf (contract: engine/cuda_hf/gpu_model_from_hf.h).
#include "engine/cuda_hf/gpu_model_from_hf.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "engine/cuda_hf/gpu_shape_from_hf.h"
#include "engine/model_weights.h"
#include "engine/peft_adapter.h"
#include "kernels/dtype.h"

namespace kaito::gpu {

namespace {

// What transformers holds after loading with torch_dtype=bfloat16.
void round_to_bf16(std::vector<float>& v) {
  for (float& x : v) x = bf16_to_f32(f32_to_bf16(x));
}

// A linear's fp32 values (an NF4 checkpoint's dequantized), bf16-rounded.
std::vector<float> linear_values(const engine::linear_weight& lw) {
  std::vector<float> scratch;
  const float* p = lw.materialize(scratch);
  std::vector<float> v(p, p + lw.out * lw.in);
  round_to_bf16(v);
  return v;
}

// Layer l's LoRA tensors in the model's (block) form.
status pack_layer_lora(const gpu_model_shape& s, const engine::lora_adapter& a, int64_t l,
                       host_layer_weights& h) {
  for (int t = 0; t < kLoraTargets; ++t) {
    std::vector<lora_pair> mods;
    for (size_t i : target_modules(a, l, t)) mods.push_back({a.modules[i].A, a.modules[i].B});
    auto packed = lora_pack_blocks(s, t, mods);
    if (!packed.ok()) return packed.error().with_context("adapter layer " + std::to_string(l));
    h.lora_A[t] = std::move(packed->A);
    h.lora_B[t] = std::move(packed->B);
  }
  return {};
}

// The model's host form of layer l: base values bf16-rounded, norms, qkv bias, LoRA packed.
result<host_layer_weights> host_layer(const engine::model_reader& r, const gpu_model_shape& s,
                                      const engine::lora_adapter& a, int64_t l) {
  KAITO_ASSIGN_OR_RETURN(engine::layer_weights lw, r.layer(l));
  host_layer_weights h;
  h.input_norm = std::move(lw.input_norm);
  h.post_norm = std::move(lw.post_norm);
  h.qkv = linear_values(lw.qkv);
  h.o = linear_values(lw.o);
  h.gate_up = linear_values(lw.gate_up);
  h.down = linear_values(lw.down);
  if (s.qkv_bias) h.qkv_bias = std::move(lw.qkv.bias);
  KAITO_TRY(pack_layer_lora(s, a, l, h));
  return h;
}

}  // namespace

std::vector<size_t> target_modules(const engine::lora_adapter& a, int64_t l, int t) {
  std::vector<size_t> out;
  for (size_t i = 0; i < a.modules.size(); ++i)
    if (a.modules[i].layer == l && int(a.modules[i].site) == t) out.push_back(i);
  std::sort(out.begin(), out.end(),
            [&](size_t x, size_t y) { return a.modules[x].row_offset < a.modules[y].row_offset; });
  return out;
}

result<gpu_hf_model> gpu_model_from_hf(cuda_context& cx, const std::string& model_dir,
                                       const gpu_hf_options& opts) {
  KAITO_ASSIGN_OR_RETURN(engine::model_reader r, engine::model_reader::open(model_dir));
  engine::lora_adapter own;  // loaded or fresh; an in-memory one is read where it is
  if (opts.adapter == nullptr && !opts.adapter_dir.empty()) {
    KAITO_ASSIGN_OR_RETURN(own, engine::load_peft_adapter(opts.adapter_dir, r.config()));
  } else if (opts.adapter == nullptr) {
    KAITO_ASSIGN_OR_RETURN(own, engine::lora_create(r.config(), opts.lora, opts.seed));
  }
  const engine::lora_adapter& adapter = opts.adapter != nullptr ? *opts.adapter : own;
  auto shape = gpu_shape_from_hf(r.config(), adapter.config, opts.quantized_base);
  if (!shape.ok())
    return shape.error().with_context(
        opts.adapter_dir.empty() ? model_dir : model_dir + " + " + opts.adapter_dir);
  gpu_hf_model out;
  out.config = r.config();
  out.lora = adapter.config;
  KAITO_ASSIGN_OR_RETURN(out.model, gpu_model_alloc(cx, *shape, opts.max_T));
  {
    KAITO_ASSIGN_OR_RETURN(std::vector<float> embed, r.embed());
    KAITO_ASSIGN_OR_RETURN(std::vector<float> lm_head, r.lm_head());
    KAITO_ASSIGN_OR_RETURN(std::vector<float> final_norm, r.final_norm());
    if (lm_head.empty()) lm_head = embed;  // tie_word_embeddings
    KAITO_TRY(gpu_model_upload_globals(cx, out.model, embed, final_norm, lm_head));
  }
  for (int64_t l = 0; l < shape->L; ++l) {
    KAITO_ASSIGN_OR_RETURN(host_layer_weights h, host_layer(r, *shape, adapter, l));
    KAITO_TRY(gpu_model_upload_layer(cx, out.model, l, h, opts.quantizer));
  }
  return out;
}

result<engine::lora_adapter> gpu_model_adapter_layout(const gpu_hf_model& m) {
  engine::lora_adapter a;
  a.config = m.lora;
  for (const engine::linear_slot& slot : engine::model_linear_slots(m.config)) {
    if (!engine::lora_targets(a.config, slot))
      return invalid_argument(slot.path + " is not targeted", "target_modules");
    a.modules.push_back(engine::lora_module_for(a.config, slot));
  }
  return a;
}

result<engine::lora_adapter> gpu_model_adapter(cuda_context& cx, const gpu_hf_model& m,
                                               bool with_grads) {
  const gpu_model_shape& s = m.model.shape;
  KAITO_ASSIGN_OR_RETURN(engine::lora_adapter a, gpu_model_adapter_layout(m));
  for (int64_t l = 0; l < s.L; ++l)
    for (int t = 0; t < kLoraTargets; ++t) {
      KAITO_ASSIGN_OR_RETURN(lora_pair packed, gpu_model_download_lora(cx, m.model, l, t));
      lora_pair grads;
      if (with_grads) {
        KAITO_ASSIGN_OR_RETURN(grads, gpu_model_download_lora_grads(cx, m.model, l, t));
      }
      const std::vector<size_t> mods = target_modules(a, l, t);
      for (size_t seg = 0; seg < mods.size(); ++seg) {
        engine::lora_module& mod = a.modules[mods[seg]];
        lora_pair p = lora_unpack_block(s, t, packed, int(seg));
        if (int64_t(p.A.size()) != mod.r * mod.in || int64_t(p.B.size()) != mod.out * mod.r)
          return invalid_argument("module sizes differ from the model's", mod.path);
        mod.A = std::move(p.A);
        mod.B = std::move(p.B);
        if (with_grads) {
          lora_pair g = lora_unpack_block(s, t, grads, int(seg));
          mod.dA = std::move(g.A);
          mod.dB = std::move(g.B);
        } else {
          mod.dA.assign(mod.A.size(), 0.0f);
          mod.dB.assign(mod.B.size(), 0.0f);
        }
      }
    }
  return a;
}

status gpu_model_save_adapter(cuda_context& cx, const gpu_hf_model& m, const std::string& dir,
                              const std::string& base_model_name_or_path) {
  KAITO_ASSIGN_OR_RETURN(engine::lora_adapter a, gpu_model_adapter(cx, m));
  return engine::save_peft_adapter(dir, a, base_model_name_or_path);
}

}  // namespace kaito::gpu
