// infer_test: GPU greedy generation (engine/cuda/infer.h) against a CPU composition of the CPU
// twins (embedding, rmsnorm, gemm + lora, rope, attention_forward_cached_cpu with its own KV
// cache, swiglu) on a tiny random model, token for token. Plain main (GPU hosts may lack
// GoogleTest); exit 77 without a CUDA device, 1 on a failure.
//
// Both sides use the same weights: every value is bf16-exact (what gpu_model_from_host uploads),
// and the CPU's base linears are the bf16-rounded dequantization of the same NF4 double-quant
// state gpu_model_from_host builds (nf4_quantize_weight on the host), as the GPU dequantizes to
// bf16 before its products. The CPU keeps fp32 activations, the GPU bf16 ones, so logits differ
// by ~1e-2 of their scale. The CPU is teacher-forced with the GPU's tokens (a divergence never
// cascades) and each GPU token must be the CPU's argmax, or within kTieTol * max|logit| of it
// (a near-tie the bf16 rounding may flip); at least 90% must match exactly.
// Shape: C=128, 2 layers, 4 query heads / 2 kv heads of 32 (GQA), I=256, V=256, window 6 (so
// the window cuts in), LoRA r=4 with non-zero B; batch 10 (one GEMV call of 10 rows: two n8 tiles
// in register_lut, launches of 8 + 2 in scaled_lut),
// then with gemv_max_batch = 8 (dequant + GEMM for the decode products), both replaying the decode
// step as a CUDA graph (which must capture), then once more with plain launches; the decode GEMV
// kernel measured at create() (engine/cuda/gemv_choice.h) in those three, then each of the two
// kernels fixed by the options; all with programmatic dependent launch and the LoRA terms fused
// into the kernels after the base products (infer_options::fused_decode), then register_lut once
// without each (tokens and logits must be bit-identical to its run with both).
// The scaled_lut run goes first (a fault in a newer kernel ends the process).
// Then a second model without a window and 140-token prompts, so decode attention splits its keys:
// the split blocks' own merge (fused_decode) against the merge kernel, bit for bit. Then a third
// at Phi-3's head size (96; C=384), register_lut with everything on.
// Usage: infer_test [--first]   (--first: only the measured-choice graph run, the fused split-key
// run and the HS 96 run, for compute-sanitizer).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "engine/cuda/gpu_model.h"
#include "engine/cuda/infer.h"
#include "kernels/attention.h"
#include "kernels/cuda/cuda_context.h"
#include "kernels/embedding.h"
#include "kernels/gemm.h"
#include "kernels/lora.h"
#include "kernels/nf4.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "kernels/swiglu.h"

namespace {

using namespace kaito;
using namespace kaito::gpu;

// bf16 activations through 2 layers: logits agree to ~1e-2 of max |logit| (one bf16 rounding is
// 4e-3 relative; a handful of them in series). Twice that bounds what a near-tie may be.
constexpr double kTieTol = 2e-2;
constexpr double kLogitTol = 3e-2;  // max |gpu - cpu| / max |cpu| of the last step's logits

std::vector<float> bf16_values(std::mt19937& rng, size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = bf16_to_f32(f32_to_bf16(u(rng)));
  return v;
}

// The CPU decoder over the CPU twins, with a KV cache of its own.
struct cpu_decoder {
  gpu_model_shape s;
  int64_t B = 0, Tcap = 0;
  host_model_weights w;         // base linears = bf16(dequant(NF4 double quant of the upload))
  std::vector<float> cos, sin;  // (Tcap, HS)
  std::vector<std::vector<float>> kc, vc;  // per layer (B, Tcap, NKV, HS)

  void linear(float* y, const float* x, int64_t N, const host_layer_weights& ly, int t) const {
    const linear_dims d = target_dims(s, t);
    const std::vector<float>& W = t == 0 ? ly.qkv : t == 1 ? ly.o : t == 2 ? ly.gate_up : ly.down;
    gemm_forward_cpu(y, x, W.data(), nullptr, N, d.in, d.out);
    std::vector<float> xd(size_t(N * d.in)), z(size_t(N * s.lora_r));
    lora_forward_cpu(y, xd.data(), z.data(), x, ly.lora_A[t].data(), ly.lora_B[t].data(), N, d.in,
                     s.lora_r, d.out, s.lora_scale(), 0.0f, 0);
  }

  // Tq tokens per sequence at positions [pos0, pos0 + Tq); returns the last row's logits (B, V).
  std::vector<float> forward(const std::vector<int32_t>& ids, int64_t Tq, int64_t pos0) {
    const int64_t N = B * Tq, C = s.C, HS = s.HS, qd = s.q_dim(), kvd = s.kv_dim();
    const int64_t qkvd = s.qkv_dim(), I = s.I;
    std::vector<float> x(size_t(N * C)), h(x.size()), tmp(x.size()), rstd(static_cast<size_t>(N));
    std::vector<float> qkv(size_t(N * qkvd)), q(size_t(N * qd)), k(size_t(N * kvd)),
        v(size_t(N * kvd)), att(size_t(N * qd)), gu(size_t(N * 2 * I)), act(size_t(N * I));
    std::vector<float> cn(size_t(N * HS)), sn(size_t(N * HS));  // rope rows per token
    for (int64_t r = 0; r < N; ++r) {
      const int64_t pos = pos0 + r % Tq;
      std::copy_n(cos.begin() + pos * HS, HS, cn.begin() + r * HS);
      std::copy_n(sin.begin() + pos * HS, HS, sn.begin() + r * HS);
    }
    embedding_forward_cpu(x.data(), ids.data(), w.embed.data(), N, s.V, C);
    for (int64_t l = 0; l < s.L; ++l) {
      const host_layer_weights& ly = w.layers[size_t(l)];
      rmsnorm_forward_cpu(h.data(), rstd.data(), x.data(), ly.input_norm.data(), N, C, s.rms_eps);
      linear(qkv.data(), h.data(), N, ly, lora_qkv);
      for (int64_t r = 0; r < N; ++r) {  // qkv row r = [q | k | v]
        std::copy_n(qkv.begin() + r * qkvd, qd, q.begin() + r * qd);
        std::copy_n(qkv.begin() + r * qkvd + qd, kvd, k.begin() + r * kvd);
        std::copy_n(qkv.begin() + r * qkvd + qd + kvd, kvd, v.begin() + r * kvd);
      }
      rope_forward_cpu(q.data(), q.data(), cn.data(), sn.data(), N, s.NH, HS, HS);
      rope_forward_cpu(k.data(), k.data(), cn.data(), sn.data(), N, s.NKV, HS, HS);
      for (int64_t b = 0; b < B; ++b)
        for (int64_t i = 0; i < Tq; ++i) {  // cache[b, pos0 + i] <- k, v of row (b, i)
          const size_t dst = size_t((b * Tcap + pos0 + i) * kvd), src = size_t((b * Tq + i) * kvd);
          std::copy_n(k.begin() + src, kvd, kc[size_t(l)].begin() + dst);
          std::copy_n(v.begin() + src, kvd, vc[size_t(l)].begin() + dst);
        }
      attention_forward_cached_cpu(att.data(), nullptr, q.data(), kc[size_t(l)].data(),
                                   vc[size_t(l)].data(), B, Tq, pos0 + Tq, Tcap, s.NH, s.NKV, HS,
                                   1.0f / std::sqrt(float(HS)), s.window);
      linear(tmp.data(), att.data(), N, ly, lora_o);
      for (size_t e = 0; e < x.size(); ++e) x[e] += tmp[e];
      rmsnorm_forward_cpu(h.data(), rstd.data(), x.data(), ly.post_norm.data(), N, C, s.rms_eps);
      linear(gu.data(), h.data(), N, ly, lora_gate_up);
      swiglu_forward_cpu(act.data(), gu.data(), gu.data() + I, N, I, 2 * I);
      linear(tmp.data(), act.data(), N, ly, lora_down);
      for (size_t e = 0; e < x.size(); ++e) x[e] += tmp[e];
    }
    std::vector<float> last(size_t(B * C)), hl(last.size()), logits(size_t(B * s.V));
    for (int64_t b = 0; b < B; ++b)
      std::copy_n(x.begin() + (b * Tq + Tq - 1) * C, C, last.begin() + b * C);
    rmsnorm_forward_cpu(hl.data(), rstd.data(), last.data(), w.final_norm.data(), B, C, s.rms_eps);
    gemm_forward_cpu(logits.data(), hl.data(), w.lm_head.data(), nullptr, B, C, s.V);
    return logits;
  }
};

// Checks GPU tokens (B, 1) of one step against CPU logits (B, V); counts exact matches.
bool check_step(const std::vector<float>& logits, const std::vector<int32_t>& toks, int64_t ngen,
                int64_t step, int64_t B, int64_t V, int& exact, int& ties) {
  bool ok = true;
  for (int64_t b = 0; b < B; ++b) {
    const float* row = logits.data() + b * V;
    const int64_t best = std::max_element(row, row + V) - row;
    float scale = 0.0f;
    for (int64_t j = 0; j < V; ++j) scale = std::max(scale, std::fabs(row[j]));
    const int32_t got = toks[size_t(b * ngen + step)];
    if (got == best) {
      ++exact;
    } else if (got >= 0 && got < V && row[best] - row[got] <= kTieTol * scale) {
      ++ties;
    } else {
      std::printf("FAIL: step %lld seq %lld: GPU picked %d, CPU argmax %lld (logits %g vs %g)\n",
                  (long long)step, (long long)b, got, (long long)best,
                  got >= 0 && got < V ? row[got] : NAN, row[best]);
      ok = false;
    }
  }
  return ok;
}

status generate(gpu_generator& g, const std::vector<int32_t>& prompt, int64_t B, int64_t T,
                int64_t steps) {
  KAITO_TRY(g.prefill(prompt.data(), B, T));
  for (int64_t i = 0; i < steps; ++i) KAITO_TRY(g.decode_step());
  return {};
}

// A random model of shape s: w for the GPU upload; cpu gets the same values, its base linears the
// bf16-rounded dequantization of the NF4 double-quant state gpu_model_from_host builds, and rope
// tables for max_T positions.
status make_model(const gpu_model_shape& s, int64_t max_T, std::mt19937& rng, host_model_weights& w,
                  cpu_decoder& cpu) {
  w.embed = bf16_values(rng, size_t(s.V * s.C), -1.0f, 1.0f);
  w.final_norm = bf16_values(rng, size_t(s.C), 0.5f, 1.5f);
  w.lm_head = bf16_values(rng, size_t(s.V * s.C), -0.3f, 0.3f);
  cpu.s = s;
  cpu.w.embed = w.embed, cpu.w.final_norm = w.final_norm, cpu.w.lm_head = w.lm_head;
  for (int64_t l = 0; l < s.L; ++l) {
    host_layer_weights ly, cl;
    ly.input_norm = bf16_values(rng, size_t(s.C), 0.5f, 1.5f);
    ly.post_norm = bf16_values(rng, size_t(s.C), 0.5f, 1.5f);
    for (int t = 0; t < kLoraTargets; ++t) {
      const linear_dims d = target_dims(s, t);
      const float a = 1.0f / std::sqrt(float(d.in));
      std::vector<float> W = bf16_values(rng, size_t(d.out * d.in), -a, a);
      // what the GPU multiplies by: NF4 double quant of W, dequantized, rounded to bf16
      const nf4_quant_state qs = nf4_quantize_weight(W.data(), {d.out, d.in}, dtype::bf16, true);
      std::vector<float> Wq(W.size());
      KAITO_TRY(nf4_dequantize_weight(qs, Wq.data()));
      for (float& e : Wq) e = bf16_to_f32(f32_to_bf16(e));
      (t == 0 ? ly.qkv : t == 1 ? ly.o : t == 2 ? ly.gate_up : ly.down) = W;
      (t == 0 ? cl.qkv : t == 1 ? cl.o : t == 2 ? cl.gate_up : cl.down) = Wq;
      ly.lora_A[t] = cl.lora_A[t] = bf16_values(rng, size_t(s.lora_r * d.in), -a, a);
      ly.lora_B[t] = cl.lora_B[t] = bf16_values(rng, size_t(d.out * s.lora_r), -0.05f, 0.05f);
    }
    cl.input_norm = ly.input_norm, cl.post_norm = ly.post_norm;
    w.layers.push_back(std::move(ly));
    cpu.w.layers.push_back(std::move(cl));
  }
  rope_params rp;
  rp.theta = s.rope.theta;
  rp.head_dim = s.HS;
  const std::vector<float> inv = rope_inv_freq(rp, max_T);
  std::vector<int32_t> pos(static_cast<size_t>(max_T));
  for (int64_t i = 0; i < max_T; ++i) pos[size_t(i)] = int32_t(i);
  cpu.cos.resize(size_t(max_T * s.HS));
  cpu.sin.resize(cpu.cos.size());
  rope_cos_sin_cpu(cpu.cos.data(), cpu.sin.data(), pos.data(), inv.data(), 1.0f, max_T, s.HS);
  return {};
}

// make_model, the GPU model from the same weights, and B x T random prompt tokens.
result<gpu_model> build_case(cuda_context& cx, const gpu_model_shape& s, int64_t max_T,
                             std::mt19937& rng, cpu_decoder& cpu, int64_t B, int64_t T,
                             std::vector<int32_t>& prompt) {
  host_model_weights w;
  KAITO_TRY(make_model(s, max_T, rng, w, cpu));
  KAITO_ASSIGN_OR_RETURN(gpu_model m, gpu_model_from_host(cx, s, max_T, w));
  prompt.resize(size_t(B * T));
  for (int32_t& t : prompt) t = int32_t(rng() % uint32_t(s.V));
  return result<gpu_model>(std::move(m));  // (nvcc wants the move spelled out)
}

// One generation (a prompt of B x T, then `steps` decode steps) with `opt`, every token checked
// against the CPU decoder (teacher-forced with the GPU's tokens) and the last logits within
// kLogitTol; prints one line starting with `label`. The tokens and logits come back for
// bit-for-bit comparisons between runs.
bool run_case(cuda_context& cx, const gpu_model& model, cpu_decoder& cpu,
              const std::vector<int32_t>& prompt, int64_t B, int64_t T, int64_t steps,
              const infer_options& opt, const std::string& label, std::vector<int32_t>& tokens,
              std::vector<float>& logits_out) {
  const gpu_model_shape& s = cpu.s;
  auto gen = gpu_generator::create(cx, model, opt);
  const status st = gen.ok() ? generate(**gen, prompt, B, T, steps) : gen.error();
  auto toks = st.ok() ? (*gen)->tokens() : result<std::vector<int32_t>>(st);
  auto glog = toks.ok() ? (*gen)->last_logits() : result<std::vector<float>>(toks.error());
  if (!glog.ok()) {
    std::printf("FAIL %s: %s\n", label.c_str(), glog.error().to_string().c_str());
    return false;
  }
  const int64_t ngen = steps + 1;
  cpu.B = B;
  cpu.Tcap = opt.max_seq;
  cpu.kc.assign(size_t(s.L), std::vector<float>(size_t(B * cpu.Tcap * s.kv_dim()), 0.0f));
  cpu.vc = cpu.kc;
  int exact = 0, ties = 0;
  bool ok = true;
  std::vector<float> logits = cpu.forward(prompt, T, 0);
  ok &= check_step(logits, *toks, ngen, 0, B, s.V, exact, ties);
  for (int64_t step = 1; step < ngen; ++step) {
    // teacher forcing: feed the GPU's previous tokens
    std::vector<int32_t> ids(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) ids[size_t(b)] = (*toks)[size_t(b * ngen + step - 1)];
    logits = cpu.forward(ids, 1, T + step - 1);
    ok &= check_step(logits, *toks, ngen, step, B, s.V, exact, ties);
  }
  double max_ref = 0.0, max_err = 0.0;
  for (size_t i = 0; i < logits.size(); ++i) {
    max_ref = std::max(max_ref, std::fabs(double(logits[i])));
    const double e = std::fabs(double(logits[i]) - double((*glog)[i]));
    max_err = std::isfinite(e) ? std::max(max_err, e) : INFINITY;  // (std::max drops a NaN)
  }
  const double rel = logits.size() != glog->size() ? INFINITY
                     : max_ref > 0.0               ? max_err / max_ref
                                                   : max_err;
  const int total = int(B * ngen);
  if (rel > kLogitTol) ok = false;
  if (exact * 10 < total * 9) ok = false;
  if (opt.cuda_graph && !(*gen)->graphed()) {
    std::printf("FAIL %s: CUDA graph capture failed (plain launches ran)\n", label.c_str());
    ok = false;
  }
  // the prefill's NF4 path: measured by default (the model's NF4 linears all take the fused
  // kernel at these shapes), else the model's flag
  const nf4_gemm_direction& pg = (*gen)->prefill_gemm();
  if (opt.prefill_gemm_measure ? !pg.measured : pg.fused != model.fused_nf4_gemm.forward) {
    std::printf("FAIL %s: prefill NF4 path not %s: %s\n", label.c_str(),
                opt.prefill_gemm_measure ? "measured" : "the model's", pg.note.c_str());
    ok = false;
  }
  std::printf(
      "%s %s: %d of %d tokens equal the CPU argmax, %d near-ties; last logits max_rel %.3e "
      "(tol %.0e); gemv %s; prefill %s\n",
      ok ? "ok  " : "FAIL", label.c_str(), exact, total, ties, rel, kLogitTol,
      (*gen)->gemv().note.c_str(), pg.note.c_str());
  tokens = *toks;
  logits_out = *glog;
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  const bool first_only = argc > 1 && std::string(argv[1]) == "--first";
  if (argc > 2 || (argc == 2 && !first_only)) {
    std::fprintf(stderr, "usage: infer_test [--first]\n");
    return 2;
  }
  if (cuda_device_count() == 0) {
    std::printf("no CUDA device: skipped\n");
    return 77;
  }
  auto cx = cuda_context::create();
  if (!cx.ok()) {
    std::printf("FAIL: %s\n", cx.error().to_string().c_str());
    return 1;
  }
  gpu_model_shape s;
  s.C = 128, s.L = 2, s.NH = 4, s.NKV = 2, s.HS = 32, s.I = 256, s.V = 256;
  s.rope.theta = 10000.0, s.rms_eps = 1e-5f, s.window = 6, s.lora_r = 4, s.lora_alpha = 8.0;
  const int64_t B = 10, T = 5, steps = 7, max_T = 16;
  std::mt19937 rng(1234);
  host_model_weights w;
  cpu_decoder cpu;
  if (const status st = make_model(s, max_T, rng, w, cpu); !st.ok()) {
    std::printf("FAIL: %s\n", st.to_string().c_str());
    return 1;
  }
  auto model = gpu_model_from_host(**cx, s, max_T, w);
  if (!model.ok()) {
    std::printf("FAIL: gpu_model_from_host: %s\n", model.error().to_string().c_str());
    return 1;
  }
  std::vector<int32_t> prompt(size_t(B * T));
  for (int32_t& t : prompt) t = int32_t(rng() % uint32_t(s.V));

  int failures = 0;
  struct variant {
    int64_t gemv_max;
    bool graph;
    int gemv;   // -1: measured at create(); else the nf4_gemv_kernel fixed by the options
    bool pdl;   // infer_options::programmatic_launch
    bool fuse;  // infer_options::fused_decode
  };
  const int kScaled = int(nf4_gemv_kernel::scaled_lut), kReg = int(nf4_gemv_kernel::register_lut);
  // The register_lut runs differ only in how the same math is launched (programmatic launch,
  // the fused decode kernels): their tokens and logits must equal the first's.
  std::vector<int32_t> reg_tokens;
  std::vector<float> reg_logits;
  // scaled_lut (the kernel measured on an H200) first: a fault in a newer kernel ends the
  // process, and the lines printed before it still tell what works.
  const std::vector<variant> variants = {
      variant{16, true, kScaled, true, true}, variant{16, true, -1, true, true},
      variant{8, true, -1, true, true},       variant{16, false, -1, true, true},
      variant{16, true, kReg, true, true},    variant{16, true, kReg, false, true},
      variant{16, true, kReg, true, false}};
  for (size_t vi = 0; vi < variants.size(); ++vi) {
    // --first: the measured choice alone (both GEMV kernels run in it), for the sanitizer
    if (first_only && vi != 1) continue;
    const variant var = variants[vi];
    infer_options opt;
    opt.max_batch = B;
    opt.max_seq = T + steps;
    opt.gemv_max_batch = var.gemv_max;
    opt.cuda_graph = var.graph;
    opt.programmatic_launch = var.pdl;
    opt.fused_decode = var.fuse;
    opt.gemv_measure = var.gemv < 0;
    if (var.gemv >= 0) opt.gemv_kernel = nf4_gemv_kernel(var.gemv);
    const std::string label = "gemv_max_batch=" + std::to_string(var.gemv_max) + " " +
                              (var.graph ? "graph" : "plain") + (var.pdl ? "+pdl" : "") +
                              (var.fuse ? "+fused" : "");
    std::vector<int32_t> toks;
    std::vector<float> glog;
    bool ok = run_case(**cx, *model, cpu, prompt, B, T, steps, opt, label, toks, glog);
    if (ok && var.gemv == kReg && reg_tokens.empty()) {
      reg_tokens = toks;
      reg_logits = glog;
    } else if (ok && var.gemv == kReg && (toks != reg_tokens || glog != reg_logits)) {
      std::printf("FAIL: %s changed the tokens or logits\n",
                  var.pdl ? "the unfused decode kernels" : "plain (not programmatic) launch");
      ok = false;
    }
    failures += ok ? 0 : 1;
  }

  // Split keys: a second model without a window and prompts of 140 tokens, so a decode step's
  // attention splits its keys (2 splits of 152 planned) and the split blocks merge the partials
  // themselves (fused_decode) or the merge kernel does: the same tokens and logits bit for bit.
  // scaled_lut for both runs (a measured choice could differ between them).
  {
    gpu_model_shape s2 = s;
    s2.window = 0;
    const int64_t B2 = 4, T2 = 140, steps2 = 12, max_T2 = 160;
    cpu_decoder cpu2;
    std::vector<int32_t> prompt2;
    auto model2 = build_case(**cx, s2, max_T2, rng, cpu2, B2, T2, prompt2);
    if (!model2.ok()) {
      std::printf("FAIL: split-key model: %s\n", model2.error().to_string().c_str());
      return 1;
    }
    std::vector<int32_t> toks[2];
    std::vector<float> glog[2];
    bool ok[2] = {false, false};
    for (int fused = 1; fused >= 0; --fused) {
      if (first_only && !fused) continue;
      infer_options opt;
      opt.max_batch = B2;
      opt.max_seq = T2 + steps2;
      opt.gemv_measure = false;
      opt.gemv_kernel = nf4_gemv_kernel::scaled_lut;
      opt.prefill_gemm_measure = false;  // the model's path (dequantize + cuBLASLt)
      opt.fused_decode = fused == 1;
      ok[fused] = run_case(**cx, *model2, cpu2, prompt2, B2, T2, steps2, opt,
                           std::string("split keys, B=4 T=140 graph+pdl") +
                               (fused ? "+fused (split blocks merge)" : " (merge kernel)"),
                           toks[fused], glog[fused]);
      failures += ok[fused] ? 0 : 1;
    }
    if (!first_only && ok[0] && ok[1] && (toks[0] != toks[1] || glog[0] != glog[1])) {
      std::printf("FAIL: the split blocks' merge changed the tokens or logits\n");
      ++failures;
    }
  }
  // Phi-3's head size: HS 96 in the prefill's tensor-core attention and the decode attention
  // (its other head-size instance), GQA 2:1, C = 384; register_lut with everything on.
  {
    gpu_model_shape s3 = s;
    s3.C = 384, s3.HS = 96, s3.window = 0;
    const int64_t B3 = 3, T3 = 20, steps3 = 6, max_T3 = 32;
    cpu_decoder cpu3;
    std::vector<int32_t> prompt3;
    auto model3 = build_case(**cx, s3, max_T3, rng, cpu3, B3, T3, prompt3);
    if (!model3.ok()) {
      std::printf("FAIL: HS 96 model: %s\n", model3.error().to_string().c_str());
      return 1;
    }
    infer_options opt;
    opt.max_batch = B3;
    opt.max_seq = T3 + steps3;
    opt.gemv_measure = false;
    opt.gemv_kernel = nf4_gemv_kernel::register_lut;
    std::vector<int32_t> toks;
    std::vector<float> glog;
    failures += run_case(**cx, *model3, cpu3, prompt3, B3, T3, steps3, opt,
                         "HS 96 (C=384, GQA 2:1), B=3 T=20 graph+pdl+fused", toks, glog)
                    ? 0
                    : 1;
  }
  std::printf("%d failed\n", failures);
  return failures == 0 ? 0 : 1;
}
