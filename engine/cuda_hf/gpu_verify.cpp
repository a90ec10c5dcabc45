// gpu_verify (contract: engine/cuda_hf/gpu_verify.h).
#include "engine/cuda_hf/gpu_verify.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <utility>
#include <vector>

#include "engine/cuda/infer.h"
#include "engine/cuda/train_step.h"
#include "engine/cuda_hf/gpu_model_from_hf.h"
#include "engine/golden_fixture.h"
#include "engine/lora_adapter.h"
#include "engine/model_weights.h"
#include "engine/peft_adapter.h"
#include "engine/transformer.h"
#include "kernels/dtype.h"

namespace kaito::gpu {

namespace {

constexpr double k_tol_logits = 3e-2;
constexpr double k_tol_loss = 5e-3;
constexpr double k_tol_grad = 5e-2;
constexpr double k_tol_adamw = 1e-6;
constexpr double k_tol_decode = 2e-2;

// The fp32 logits of every row of the trainer's last forward, (N, V).
result<std::vector<float>> all_logits(gpu_trainer& tr, int64_t N) {
  std::vector<float> out;
  const int64_t chunk = tr.plan().chunk_rows;
  for (int64_t r0 = 0; r0 < N; r0 += chunk) {
    KAITO_ASSIGN_OR_RETURN(std::vector<float> rows, tr.logits_rows(r0, std::min(chunk, N - r0)));
    out.insert(out.end(), rows.begin(), rows.end());
  }
  return out;
}

// The worst over the B sequences of max_rel_err(logits[b], ref[b, pos]): logits (B, V), ref
// (B, T, V).
double worst_row_err(const std::vector<float>& logits, const std::vector<float>& ref, int64_t B,
                     int64_t T, int64_t pos) {
  if (B <= 0 || ref.size() % size_t(B * T) != 0) return INFINITY;
  const size_t V = ref.size() / size_t(B * T);
  if (logits.size() != size_t(B) * V) return INFINITY;
  double worst = 0.0;
  for (int64_t b = 0; b < B; ++b)
    worst = std::max(worst, engine::max_rel_err(logits.data() + size_t(b) * V,
                                                ref.data() + size_t(b * T + pos) * V, V, V));
  return worst;
}

// Inference with the LoRA as loaded (gpu_generator: prefill, then the decode kernels): a prefill
// of every sequence's S tokens, its last row against HF's; a prefill of the first S - 1, its last
// row against HF's row S - 2; one greedy decode step from there against a prefill of the same S
// tokens (prompt + the picked token), which HF has no row for.
// Row names start with `tag` ("" or "nf4: ").
status check_inference(cuda_context& cx, const gpu_model& m, const engine::batch& b,
                       const std::vector<float>& ref, const std::string& tag,
                       engine::verify_report* r) {
  infer_options io;
  io.max_batch = b.B;
  io.max_seq = b.T + 1;
  KAITO_ASSIGN_OR_RETURN(std::unique_ptr<gpu_generator> gen, gpu_generator::create(cx, m, io));
  KAITO_TRY(gen->prefill(b.ids.data(), b.B, b.T));
  KAITO_ASSIGN_OR_RETURN(std::vector<float> full, gen->last_logits());
  r->add(tag + "prefill: last-row lora_logits", worst_row_err(full, ref, b.B, b.T, b.T - 1),
         k_tol_logits);
  if (b.T < 2) return {};
  const int64_t T1 = b.T - 1;
  std::vector<int32_t> head(size_t(b.B * T1));
  for (int64_t s = 0; s < b.B; ++s) std::copy_n(b.ids.begin() + s * b.T, T1, head.begin() + s * T1);
  KAITO_TRY(gen->prefill(head.data(), b.B, T1));
  KAITO_ASSIGN_OR_RETURN(std::vector<float> part, gen->last_logits());
  r->add(tag + "prefill of S-1: last-row lora_logits", worst_row_err(part, ref, b.B, b.T, T1 - 1),
         k_tol_logits);
  KAITO_TRY(gen->decode_step());
  KAITO_ASSIGN_OR_RETURN(std::vector<float> step, gen->last_logits());
  KAITO_ASSIGN_OR_RETURN(std::vector<int32_t> picked, gen->tokens());  // (B, 2)
  std::vector<int32_t> ext(size_t(b.B * b.T));
  for (int64_t s = 0; s < b.B; ++s) {
    std::copy_n(head.begin() + s * T1, T1, ext.begin() + s * b.T);
    ext[size_t(s * b.T + T1)] = picked[size_t(s * 2)];
  }
  KAITO_TRY(gen->prefill(ext.data(), b.B, b.T));
  KAITO_ASSIGN_OR_RETURN(std::vector<float> same, gen->last_logits());
  r->add(tag + "decode step vs prefill of the same tokens",
         engine::max_rel_err(step.data(), same.data(), step.size(), same.size()), k_tol_decode);
  return {};
}

// v rounded to bf16 values, kept in fp32.
void round_to_bf16(std::vector<float>& v) {
  std::vector<bf16> t(v.size());
  f32_to_bf16_cpu(t.data(), v.data(), int64_t(v.size()));
  bf16_to_f32_cpu(v.data(), t.data(), int64_t(v.size()));
}

// The CPU engine on the fixture's batch with an NF4 base (double quantization, as the GPU's):
// logits (N, V), loss, and the LoRA grads in `lora`'s modules. Every base weight is rounded to
// bf16 first, as gpu_model_from_hf holds it (and so quantizes it: NF4 codes of the rounded values,
// transformers' torch_dtype=bfloat16 + bitsandbytes), so the two differ by the GPU's bf16
// activations only.
struct cpu_reference {
  std::vector<float> logits;
  double loss = 0.0;
  engine::lora_adapter lora;
};

result<cpu_reference> cpu_nf4_reference(const std::string& dir, const engine::batch& b) {
  KAITO_ASSIGN_OR_RETURN(std::shared_ptr<engine::model> m, engine::load_model(dir + "/base"));
  engine::model_weights& w = m->weights;
  for (std::vector<float>* v : {&w.embed, &w.lm_head_own, &w.final_norm}) round_to_bf16(*v);
  for (engine::layer_weights& l : w.layers) {
    round_to_bf16(l.input_norm);
    round_to_bf16(l.post_norm);
    for (engine::linear_weight* lin : {&l.qkv, &l.o, &l.gate_up, &l.down}) {
      round_to_bf16(lin->w);
      round_to_bf16(lin->bias);
    }
  }
  engine::nf4_quantize_linears(m.get(), /*double_quant=*/true);
  cpu_reference ref;
  KAITO_ASSIGN_OR_RETURN(ref.lora, engine::load_peft_adapter(dir + "/adapter", m->config));
  engine::forward_state st;
  KAITO_TRY(engine::model_forward(*m, &ref.lora, b, {}, &st));
  ref.lora.zero_grad();
  KAITO_TRY(engine::model_backward(*m, &ref.lora, b, st));
  ref.logits = std::move(st.logits);
  ref.loss = st.loss;
  return ref;
}

// QLoRA: the GPU's logits, loss, grads and inference against the CPU engine's with the same NF4
// base (gpu_verify.h).
status check_against_cpu_nf4(cuda_context& cx, const std::string& dir, const gpu_hf_model& m,
                             const engine::batch& b, const std::vector<float>& logits, double loss,
                             engine::verify_report* r) {
  KAITO_ASSIGN_OR_RETURN(cpu_reference ref, cpu_nf4_reference(dir, b));
  r->add("nf4: lora_logits (vs the CPU engine's NF4)",
         engine::max_rel_err(logits.data(), ref.logits.data(), logits.size(), ref.logits.size()),
         k_tol_logits);
  const float lossf = static_cast<float>(loss), ref_loss = static_cast<float>(ref.loss);
  r->add("nf4: loss", engine::max_rel_err(&lossf, &ref_loss, 1, 1), k_tol_loss);
  KAITO_ASSIGN_OR_RETURN(engine::lora_adapter got, gpu_model_adapter(cx, m, /*with_grads=*/true));
  for (const engine::lora_module& mod : got.modules) {
    const engine::lora_module* want = nullptr;
    for (const engine::lora_module& c : ref.lora.modules)
      if (c.path == mod.path) want = &c;
    if (want == nullptr) return not_found("no such module in the CPU engine's adapter", mod.path);
    for (bool is_b : {false, true}) {
      const std::vector<float>& g = is_b ? mod.dB : mod.dA;
      const std::vector<float>& w = is_b ? want->dB : want->dA;
      r->add("nf4: grad." + engine::golden_param_name(mod, is_b),
             engine::max_rel_err(g.data(), w.data(), g.size(), w.size()), k_tol_grad);
    }
  }
  return check_inference(cx, m.model, b, ref.logits, "nf4: ", r);
}

}  // namespace

result<engine::verify_report> gpu_verify_fixture(cuda_context& cx, const std::string& dir,
                                                 const gpu_verify_options& opts) {
  KAITO_ASSIGN_OR_RETURN(engine::golden_fixture exp, engine::golden_fixture::open(dir));
  const engine::batch& b = exp.inputs();
  gpu_hf_options ho;
  ho.max_T = b.T + 1;  // the decode step's row
  ho.quantized_base = opts.nf4;
  ho.adapter_dir = dir + "/adapter";
  KAITO_ASSIGN_OR_RETURN(gpu_hf_model m, gpu_model_from_hf(cx, dir + "/base", ho));
  const gpu_model_shape& s = m.model.shape;

  engine::verify_report r;
  const char* rope = s.rope.kind == rope_kind::longrope ? "longrope"
                     : s.rope.kind == rope_kind::llama3 ? "llama3"
                                                        : "default";
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "gpu: arch=%s layers=%lld B=%lld T=%lld heads=%lld/%lld head_dim=%lld rope=%s "
                "lora_r=%lld base=%s",
                engine::model_arch_name(m.config.arch), static_cast<long long>(s.L),
                static_cast<long long>(b.B), static_cast<long long>(b.T),
                static_cast<long long>(s.NH), static_cast<long long>(s.NKV),
                static_cast<long long>(s.HS), rope, static_cast<long long>(s.lora_r),
                opts.nf4 ? "nf4+dq" : "bf16");
  r.summary = buf;

  train_options o;
  o.B = b.B;
  o.T = b.T;
  o.max_grad_norm = 0.0;  // the fixture's AdamW step is unclipped
  o.adamw = exp.adamw();
  KAITO_ASSIGN_OR_RETURN(std::unique_ptr<gpu_trainer> tr, gpu_trainer::create(cx, m.model, o));
  const std::vector<int32_t> targets = exp.shifted_targets();
  const int64_t N = b.B * b.T;

  KAITO_ASSIGN_OR_RETURN(double loss, tr->forward_backward(b.ids.data(), targets.data()));
  KAITO_ASSIGN_OR_RETURN(std::vector<float> logits, all_logits(*tr, N));
  if (opts.nf4) {
    KAITO_TRY(check_against_cpu_nf4(cx, dir, m, b, logits, loss, &r));
    return r;
  }
  KAITO_ASSIGN_OR_RETURN(std::vector<float> ref_lora, exp.f32("lora_logits"));
  r.add("lora_logits",
        engine::max_rel_err(logits.data(), ref_lora.data(), logits.size(), ref_lora.size()),
        k_tol_logits);
  KAITO_ASSIGN_OR_RETURN(std::vector<float> ref_loss, exp.f32("loss"));
  const float lossf = static_cast<float>(loss);
  r.add("loss", engine::max_rel_err(&lossf, ref_loss.data(), 1, ref_loss.size()), k_tol_loss);

  KAITO_ASSIGN_OR_RETURN(engine::lora_adapter got, gpu_model_adapter(cx, m, /*with_grads=*/true));
  std::vector<std::vector<float>> ref_grads;  // [2 i]: module i's A, [2 i + 1]: its B
  for (const engine::lora_module& mod : got.modules)
    for (bool is_b : {false, true}) {
      const std::string name = engine::golden_param_name(mod, is_b);
      KAITO_ASSIGN_OR_RETURN(std::vector<float> ref, exp.f32("grad." + name));
      const std::vector<float>& g = is_b ? mod.dB : mod.dA;
      r.add("grad." + name, engine::max_rel_err(g.data(), ref.data(), g.size(), ref.size()),
            k_tol_grad);
      ref_grads.push_back(std::move(ref));
    }

  KAITO_TRY(check_inference(cx, m.model, b, ref_lora, "", &r));

  // The GPU's AdamW step on the fixture's own gradients (as the CPU verify checks its optimizer):
  // fed the GPU's bf16-level gradients instead, a first step is ill-conditioned wherever |g| is
  // small (engine/verify.cpp's note), and those gradients have their own rows above.
  for (int64_t l = 0; l < s.L; ++l)
    for (int t = 0; t < kLoraTargets; ++t) {
      std::vector<lora_pair> mods;
      for (size_t i : target_modules(got, l, t))
        mods.push_back({ref_grads[2 * i], ref_grads[2 * i + 1]});
      KAITO_ASSIGN_OR_RETURN(const lora_pair packed, lora_pack_blocks(s, t, mods));
      KAITO_TRY(gpu_model_set_lora_grads(cx, m.model, l, t, packed));
    }
  KAITO_ASSIGN_OR_RETURN(step_result st, tr->clip_and_update());
  if (!st.updated) return internal_error("the AdamW step was skipped (non-finite grad norm)");
  KAITO_ASSIGN_OR_RETURN(engine::lora_adapter after, gpu_model_adapter(cx, m));
  for (const engine::lora_module& mod : after.modules)
    for (bool is_b : {false, true}) {
      const std::string name = engine::golden_param_name(mod, is_b);
      KAITO_ASSIGN_OR_RETURN(std::vector<float> ref, exp.f32("after_adamw." + name));
      const std::vector<float>& p = is_b ? mod.B : mod.A;
      r.add("after_adamw." + name, engine::max_rel_err(p.data(), ref.data(), p.size(), ref.size()),
            k_tol_adamw);
    }

  // The base alone: every LoRA B zero (the masters, bf16 copies and grads reset).
  for (int64_t l = 0; l < s.L; ++l)
    for (int t = 0; t < kLoraTargets; ++t) {
      KAITO_ASSIGN_OR_RETURN(lora_pair p, gpu_model_download_lora(cx, m.model, l, t));
      std::fill(p.B.begin(), p.B.end(), 0.0f);
      KAITO_TRY(gpu_model_set_lora(cx, m.model, l, t, p));
    }
  KAITO_TRY(tr->forward_backward(b.ids.data(), targets.data()));
  KAITO_ASSIGN_OR_RETURN(std::vector<float> base, all_logits(*tr, N));
  KAITO_ASSIGN_OR_RETURN(std::vector<float> ref_base, exp.f32("base_logits"));
  r.add("base_logits",
        engine::max_rel_err(base.data(), ref_base.data(), base.size(), ref_base.size()),
        k_tol_logits);
  return r;
}

}  // namespace kaito::gpu
