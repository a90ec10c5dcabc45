// model_parity_test: the GPU QLoRA training step (engine/cuda/train_step.h) against a CPU
// composition of the CPU twins (tests/cuda/model_parity_cpu.h) on a tiny random model:
// C=128, L=2, NH=2, NKV=1 (GQA), HS=64, I=256, V=512, B=2, T=64, LoRA r=8 alpha=16. HS=64 takes
// the tensor-core attention forward (attention_forward_mma_cuda), as Phi-3's HS=96 does.
// `--shape phi3_heads`: C=384, NH=4, NKV=2, HS=96 (Phi-3's), I=512, V=600, window 48 < T.
// `--shape qwen2`: C=256, NH=2, NKV=1, HS=128 (Qwen2's and Llama's), I=384, rope theta 1e6, q/k/v
// biases, and PEFT's separate q/k/v and gate/up LoRA modules (split_lora: block-diagonal LoRAs,
// r=4 each).
// Base linears: the SAME NF4 double-quantized state on both sides (gpu_model_from_host
// quantizes with the CPU twin; the CPU side dequantizes it and rounds to bf16 as the GPU does).
// LoRA B is random (not PEFT's zero) so every LoRA gradient is non-zero.
// Checks (max |got - ref| / max |ref| unless said):
//   1. host only, run everywhere: train_plan invariants (aligned, disjoint, inside the region);
//      the CPU reference's own LoRA grads against central differences of its loss (fp32; tiny
//      shape only).
//   2. loss (relative, < 2e-3), logits of rows {0, 1, 77, 127} and every LoRA dA/dB (< 4e-2, and
//      < 3e-2 in 2-norm: kMaxRelTol, kNormRelTol say why),
//      without checkpointing and with it; loss and grads also with the fused lm_head +
//      cross-entropy head (train_options::fused_head_vocab_chunk) and with the fused tensor-core
//      NF4 GEMM for the base products (gpu_model::fused_nf4_gemm; the tiny shape meets its
//      divisibility preconditions, so every product takes it).
//      First of all, loss and grads with the SIMT attention kernels (attention_mma off).
//   3. checkpointing gives the same grads as no checkpointing: <= 1e-6 (bitwise expected),
//      also with lora_dropout 0.1 (the recompute must replay the dropout masks).
//   4. one clip + AdamW step: the fp32 masters equal adamw_update_cpu applied to the GPU's own
//      grads clipped on the CPU (<= 1e-5: only the fp32 vs fp64 norm differs), and the bf16
//      working copies equal the rounded masters exactly; the grad norm within 1e-4.
//   5. bad ids / targets come back as invalid_argument.
//   6. gpu_model_random's device quantization and LoRA init equal the CPU twins' (exact).
//   7. 8 full steps (checkpointing on) lower the loss of a fixed batch; an all -100 batch gives
//      loss 0 and grad norm 0.
// Exit 0 all pass, 1 any failure, 77 (CTest SKIP_RETURN_CODE) without a CUDA device.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "engine/cuda/gpu_model.h"
#include "engine/cuda/train_plan.h"
#include "engine/cuda/train_step.h"
#include "kernels/adamw.h"
#include "kernels/cross_entropy.h"
#include "kernels/cuda/cuda_context.h"
#include "kernels/grad_clip.h"
#include "kernels/lora.h"
#include "kernels/nf4.h"
#include "kernels/rng.h"
#include "tests/cuda/device_readback.h"
#include "tests/cuda/model_parity_cpu.h"

namespace {

using namespace kaito;
using kaito::gpu::gpu_model_shape;

int g_failures = 0;

void report(const char* what, double value, double tol, bool hard_fail = false) {
  const bool ok = !hard_fail && std::isfinite(value) && value <= tol;
  if (!ok) ++g_failures;
  std::printf("%-44s %11.3e  (tol %.0e)  %s\n", what, value, tol, ok ? "ok" : "FAIL");
}

void expect(bool cond, const std::string& what) {
  if (!cond) ++g_failures;
  std::printf("%-44s %s\n", what.c_str(), cond ? "ok" : "FAIL");
}

// max |got - ref| / max |ref|; +inf on NaN or a size mismatch.
double max_rel(const std::vector<float>& ref, const std::vector<float>& got) {
  if (ref.size() != got.size()) return INFINITY;
  double mr = 0.0, me = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(got[i]) || !std::isfinite(ref[i])) return INFINITY;
    mr = std::max(mr, std::fabs(double(ref[i])));
    me = std::max(me, std::fabs(double(ref[i]) - double(got[i])));
  }
  return mr > 0.0 ? me / mr : me;
}

gpu_model_shape tiny_shape() {
  return gpu_model_shape::tiny();
}

// --shape phi3_heads: Phi-3's head size (96: the tensor-core attention's other tile), GQA 2:1, a
// sliding window shorter than T, a vocabulary that is not a multiple of the fused head's chunk.
gpu_model_shape phi3_heads_shape() {
  gpu_model_shape s = tiny_shape();
  s.C = 384;
  s.NH = 4;
  s.NKV = 2;
  s.HS = 96;
  s.I = 512;
  s.V = 600;
  s.window = 48;
  return s;
}

// --shape qwen2: the head size 128 (the tensor-core attention's third tile), q/k/v biases (added
// after the NF4 product), split q/k/v and gate/up LoRA modules (Llama's layout too).
gpu_model_shape qwen2_shape() {
  gpu_model_shape s = tiny_shape();
  s.C = 256;
  s.HS = 128;
  s.I = 384;
  s.rope.theta = 1000000.0;
  s.split_lora = true;
  s.qkv_bias = true;
  s.lora_r = 4;
  s.lora_alpha = 8.0;
  return s;
}

std::vector<float> uniform(std::mt19937& rng, int64_t n, float lo, float hi) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = u(rng);
  return v;
}

gpu::host_model_weights random_weights(const gpu_model_shape& s, std::mt19937& rng) {
  gpu::host_model_weights w;
  w.embed = uniform(rng, s.V * s.C, -1.0f, 1.0f);
  const float lm = std::sqrt(3.0f / float(s.C));
  w.lm_head = uniform(rng, s.V * s.C, -lm, lm);
  w.final_norm = uniform(rng, s.C, 0.8f, 1.2f);
  w.layers.resize(size_t(s.L));
  for (gpu::host_layer_weights& h : w.layers) {
    h.input_norm = uniform(rng, s.C, 0.8f, 1.2f);
    h.post_norm = uniform(rng, s.C, 0.8f, 1.2f);
    if (s.qkv_bias) h.qkv_bias = uniform(rng, s.qkv_dim(), -0.5f, 0.5f);
    std::vector<float>* base[4] = {&h.qkv, &h.o, &h.gate_up, &h.down};
    for (int t = 0; t < 4; ++t) {
      const gpu::linear_dims d = gpu::target_dims(s, t);
      const float a = std::sqrt(3.0f / float(d.in));  // unit-variance outputs
      *base[t] = uniform(rng, d.out * d.in, -a, a);
      const float ba = 1.0f / std::sqrt(float(d.in));
      const int64_t R = s.lora_rank(t);
      h.lora_A[t] = uniform(rng, R * d.in, -ba, ba);
      h.lora_B[t] = uniform(rng, d.out * R, -0.1f, 0.1f);
      lora_block_mask_cpu(h.lora_B[t].data(), d.out, R, gpu::lora_blocks_of(s, t));
    }
  }
  return w;
}

std::vector<float> download_bf16(const gpu::device_buffer& b) {
  std::vector<bf16> h(b.bytes() / sizeof(bf16));
  std::vector<float> f(h.size(), NAN);
  if (cudaMemcpy(h.data(), b.get(), b.bytes(), cudaMemcpyDeviceToHost) == cudaSuccess)
    for (size_t i = 0; i < h.size(); ++i) f[i] = bf16_to_f32(h[i]);
  return f;
}

// Every LoRA grad of a model, flattened in (layer, target, A then B) order.
std::vector<std::vector<float>> grads_of(const gpu::gpu_model& m) {
  std::vector<std::vector<float>> g;
  for (const gpu::gpu_layer& ly : m.layers)
    for (int t = 0; t < gpu::kLoraTargets; ++t) {
      g.push_back(testing::download_f32(ly.lora(t).dA));
      g.push_back(testing::download_f32(ly.lora(t).dB));
    }
  return g;
}

// ||got - ref|| / ||ref|| (2-norms); +inf on NaN or a size mismatch.
double norm_rel(const std::vector<float>& ref, const std::vector<float>& got) {
  if (ref.size() != got.size()) return INFINITY;
  double e = 0.0, r = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double d = double(got[i]) - double(ref[i]);
    e += d * d;
    r += double(ref[i]) * double(ref[i]);
  }
  if (!std::isfinite(e)) return INFINITY;
  return r > 0.0 ? std::sqrt(e / r) : std::sqrt(e);
}

double max_rel_all(const std::vector<std::vector<float>>& ref,
                   const std::vector<std::vector<float>>& got) {
  if (ref.size() != got.size()) return INFINITY;
  double r = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) r = std::max(r, max_rel(ref[i], got[i]));
  return r;
}
double norm_rel_all(const std::vector<std::vector<float>>& ref,
                    const std::vector<std::vector<float>>& got) {
  if (ref.size() != got.size()) return INFINITY;
  double r = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) r = std::max(r, norm_rel(ref[i], got[i]));
  return r;
}

// The GPU step against the fp32 CPU composition. The GPU keeps activations and logits in bf16
// through 2 layers forward and back, the CPU in fp32, so elements differ by a few bf16 ulps,
// uncorrelated with the values (a bug shows as a scale, a sign or an O(1) error instead). Measured
// in the CPU emulation of the CUDA runtime (tests/cuda/emu, 2026-11-29): loss 4e-5; logits rows
// 1.2e-2 max, 1.2e-2 2-norm; LoRA grads 2.1e-2 max, 1.9e-2 2-norm. The first bound written here
// (1e-2 for all, before any run) was below that noise.
constexpr double kLossTol = 2e-3;
constexpr double kMaxRelTol = 4e-2;   // max |got - ref| / max |ref|
constexpr double kNormRelTol = 3e-2;  // ||got - ref|| / ||ref||

// Every LoRA gradient against the CPU's, in both measures; `what` names the run.
void report_grads(const std::string& what, const std::vector<std::vector<float>>& ref,
                  const std::vector<std::vector<float>>& got) {
  report(("all grads vs cpu (" + what + ")").c_str(), max_rel_all(ref, got), kMaxRelTol);
  report(("all grads vs cpu, 2-norm (" + what + ")").c_str(), norm_rel_all(ref, got), kNormRelTol);
}

// 1. train_plan: every buffer aligned, inside the region, pairwise disjoint.
void check_plan(const gpu_model_shape& s, bool ckpt, bool dropout) {
  auto p = gpu::make_train_plan(s, 2, 64, ckpt, dropout, 48);
  if (!p.ok()) {
    expect(false, "make_train_plan: " + p.error().to_string());
    return;
  }
  const int64_t N = p->N, C = s.C, Q = s.q_dim(), KV = s.kv_dim(), QKV = s.qkv_dim(), I = s.I,
                V = s.V, R = s.max_lora_rank(), Nc = p->chunk_rows;
  struct iv {
    size_t off, bytes;
  };
  std::vector<iv> all = {
      {p->ids, size_t(N) * 4},         {p->targets, size_t(N) * 4},
      {p->cos, size_t(N * s.HS) * 4},  {p->sin, size_t(N * s.HS) * 4},
      {p->hf, size_t(N * C) * 2},      {p->rstdf, size_t(N) * 4},
      {p->losses, size_t(N) * 4},      {p->ce_lse, size_t(N) * 4},
      {p->logits, size_t(Nc * V) * 2}, {p->logits32, size_t(Nc * V) * 4},
      {p->dhf, size_t(N * C) * 2},     {p->hn, size_t(N * C) * 2},
      {p->act, size_t(N * I) * 2},     {p->qkv, size_t(N * std::max(QKV, C)) * 2},
      {p->dres, size_t(N * C) * 2},    {p->dtmp, size_t(N * C) * 2},
      {p->dh, size_t(N * C) * 2},      {p->dgu, size_t(N * 2 * I) * 2},
      {p->dact, size_t(N * I) * 2},    {p->datt, size_t(N * Q) * 2},
      {p->dq, size_t(N * Q) * 2},      {p->dk, size_t(N * KV) * 2},
      {p->dv, size_t(N * KV) * 2},     {p->dqkv, size_t(N * QKV) * 2},
      {p->dz, size_t(N * R) * 2},      {p->sumsq, 4}};
  for (int64_t l = 0; l <= s.L; ++l)
    all.push_back({p->xin + size_t(l) * p->xin_stride, size_t(N * C) * 2});
  const gpu::layer_slots& sl = p->slot;
  for (int64_t k = 0; k < p->set_count; ++k) {
    const size_t b = p->sets + size_t(k) * p->set_stride;
    for (auto [off, n] : std::vector<iv>{{sl.rstd1, size_t(N) * 4},
                                         {sl.q, size_t(N * Q) * 2},
                                         {sl.k, size_t(N * KV) * 2},
                                         {sl.v, size_t(N * KV) * 2},
                                         {sl.att, size_t(N * Q) * 2},
                                         {sl.lse, size_t(p->B * s.NH * p->T) * 4},
                                         {sl.xmid, size_t(N * C) * 2},
                                         {sl.rstd2, size_t(N) * 4},
                                         {sl.gu, size_t(N * 2 * I) * 2}})
      all.push_back({b + off, n});
    for (int t = 0; t < 4; ++t) {
      all.push_back({b + sl.z[t], size_t(N * R) * 2});
      if (dropout) all.push_back({b + sl.xd[t], size_t(N * gpu::target_dims(s, t).in) * 2});
    }
  }
  bool ok = p->set_count == (ckpt ? 1 : s.L);
  for (const iv& a : all) ok = ok && a.off % 256 == 0 && a.off + a.bytes <= p->total;
  std::sort(all.begin(), all.end(), [](const iv& a, const iv& b) { return a.off < b.off; });
  for (size_t i = 1; i < all.size(); ++i)
    ok = ok && all[i - 1].off + all[i - 1].bytes <= all[i].off;
  expect(ok, std::string("train_plan aligned/disjoint ckpt=") + (ckpt ? "1" : "0") +
                 " dropout=" + (dropout ? "1" : "0"));
}

struct run {
  gpu::gpu_model model;
  std::unique_ptr<gpu::gpu_trainer> trainer;
  double loss = NAN;
};

// Builds a model from w and a trainer, runs forward_backward once.
bool run_fb(cuda_context& cx, const gpu_model_shape& s, const gpu::host_model_weights& w,
            gpu::train_options o, const std::vector<int32_t>& ids,
            const std::vector<int32_t>& targets, run& r, const char* name,
            bool fused_nf4_gemm = false) {
  auto m = gpu::gpu_model_from_host(cx, s, o.T, w);
  if (!m.ok()) {
    expect(false, std::string(name) + ": gpu_model_from_host: " + m.error().to_string());
    return false;
  }
  r.model = std::move(m).value();
  r.model.fused_nf4_gemm = {fused_nf4_gemm, fused_nf4_gemm};
  auto tr = gpu::gpu_trainer::create(cx, r.model, o);
  if (!tr.ok()) {
    expect(false, std::string(name) + ": gpu_trainer::create: " + tr.error().to_string());
    return false;
  }
  r.trainer = std::move(tr).value();
  auto loss = r.trainer->forward_backward(ids.data(), targets.data());
  if (!loss.ok()) {
    expect(false, std::string(name) + ": forward_backward: " + loss.error().to_string());
    return false;
  }
  r.loss = *loss;
  return true;
}

// 1b. The CPU reference itself: its LoRA grads (fp32, no bf16 rounding) against central
// differences of its loss, at the largest-|grad| element of a few tensors.
void check_reference_gradients(const gpu_model_shape& s, const gpu::host_model_weights& w,
                               const std::vector<int32_t>& ids, const std::vector<int32_t>& targets,
                               int64_t B, int64_t T) {
  const parity::cpu_step base = parity::cpu_train_step(s, w, ids, targets, B, T, false);
  double worst = 0.0;
  for (int64_t l : {int64_t(0), s.L - 1})
    for (int t = 0; t < 4; ++t)
      for (int which = 0; which < 2; ++which) {
        const std::vector<float>& g =
            which == 0 ? base.dA[size_t(l * 4 + t)] : base.dB[size_t(l * 4 + t)];
        size_t e = 0;
        for (size_t i = 0; i < g.size(); ++i)
          if (std::fabs(g[i]) > std::fabs(g[e])) e = i;
        gpu::host_model_weights wp = w, wm = w;
        const float h = 1e-2f;
        auto& tp = which == 0 ? wp.layers[size_t(l)].lora_A[t] : wp.layers[size_t(l)].lora_B[t];
        auto& tm = which == 0 ? wm.layers[size_t(l)].lora_A[t] : wm.layers[size_t(l)].lora_B[t];
        tp[e] += h;
        tm[e] -= h;
        const double lp = parity::cpu_train_step(s, wp, ids, targets, B, T, false).loss;
        const double lm = parity::cpu_train_step(s, wm, ids, targets, B, T, false).loss;
        const double fd = (lp - lm) / (2.0 * double(h));
        worst = std::max(worst, std::fabs(fd - double(g[e])) / std::max(std::fabs(fd), 1e-12));
      }
  report("cpu reference grads vs central differences", worst, 2e-2);
}

// 6. gpu_model_random: the device-made double-quant state of every linear of the last layer is
// the one nf4_quantize_weight makes from the same fp32 values (regenerated here), byte for byte;
// LoRA A is lora_init_cpu's, B zero.
void check_random_model(cuda_context& cx, const gpu_model_shape& s) {
  const uint64_t seed = 99;
  auto m = gpu::gpu_model_random(cx, s, 64, seed, true);
  if (!m.ok()) {
    expect(false, "gpu_model_random: " + m.error().to_string());
    return;
  }
  auto bytes = [](const gpu::device_buffer& b) {
    std::vector<uint8_t> h(b.bytes());
    if (cudaMemcpy(h.data(), b.get(), b.bytes(), cudaMemcpyDeviceToHost) != cudaSuccess) h.clear();
    return h;
  };
  const int64_t l = s.L - 1;
  bool same = true, lora_same = true;
  for (int t = 0; t < gpu::kLoraTargets; ++t) {
    const gpu::gpu_base_linear& lin = m->layers[size_t(l)].base(t);
    const uint64_t ws = rng_derive(seed, gpu::random_weight_tag(l, t));
    const float a = gpu::kRandomWeightBound, width = 2 * a;
    std::vector<float> w(static_cast<size_t>(lin.numel()));
    for (size_t i = 0; i < w.size(); ++i) w[i] = -a + width * rng_uniform(ws, i);
    const nf4_quant_state qs = nf4_quantize_weight(w.data(), {lin.OC, lin.C}, dtype::bf16, true);
    same = same && bytes(lin.packed) == qs.packed && bytes(lin.qabsmax) == qs.qabsmax &&
           testing::download_f32(lin.nested_absmax) == qs.nested_absmax &&
           lin.offset == qs.nested_offset;
    const gpu::gpu_lora_linear& lo = m->layers[size_t(l)].lora(t);
    std::vector<float> A(size_t(lo.r * lo.in)), B(size_t(lo.out * lo.r));
    lora_init_cpu(A.data(), B.data(), lo.r, lo.in, lo.out,
                  rng_derive(seed, gpu::random_weight_tag(l, t) + 1));
    lora_same = lora_same && testing::download_f32(lo.A_master) == A &&
                testing::download_f32(lo.B_master) == B;
  }
  expect(same, "gpu_model_random NF4 double quant == nf4_quantize_weight");
  expect(lora_same, "gpu_model_random LoRA init == lora_init_cpu");
}

}  // namespace

int main(int argc, char** argv) {
  const std::string shape = argc == 3 && std::string(argv[1]) == "--shape" ? argv[2] : "tiny";
  if (argc != 1 && !(argc == 3 && (shape == "tiny" || shape == "phi3_heads" || shape == "qwen2"))) {
    std::fprintf(stderr, "usage: model_parity_test [--shape tiny|phi3_heads|qwen2]\n");
    return 2;
  }
  const gpu_model_shape s = shape == "tiny"         ? tiny_shape()
                            : shape == "phi3_heads" ? phi3_heads_shape()
                                                    : qwen2_shape();
  std::printf(
      "shape %s: C=%lld NH=%lld NKV=%lld HS=%lld I=%lld V=%lld window=%lld split_lora=%d "
      "qkv_bias=%d\n",
      shape.c_str(), (long long)s.C, (long long)s.NH, (long long)s.NKV, (long long)s.HS,
      (long long)s.I, (long long)s.V, (long long)s.window, int(s.split_lora), int(s.qkv_bias));
  for (bool ckpt : {false, true})
    for (bool dropout : {false, true}) check_plan(s, ckpt, dropout);

  const int64_t B = 2, T = 64, N = B * T;
  std::mt19937 rng(20261128);
  const gpu::host_model_weights w = random_weights(s, rng);
  std::vector<int32_t> ids(static_cast<size_t>(N)), targets(static_cast<size_t>(N));
  std::uniform_int_distribution<int32_t> tok(0, int32_t(s.V - 1));
  for (int32_t& id : ids) id = tok(rng);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      targets[size_t(b * T + t)] = t + 1 < T ? ids[size_t(b * T + t + 1)] : -100;
  for (int64_t n = 5; n < N; n += 17) targets[size_t(n)] = -100;  // some prompt tokens masked
  // (the reference's own check is shape-independent: at the tiny shape only, since its 32 CPU
  // steps cost a minute at phi3_heads on a GPU host without OpenBLAS)
  if (shape == "tiny") check_reference_gradients(s, w, ids, targets, B, T);

  const parity::cpu_step ref = parity::cpu_train_step(s, w, ids, targets, B, T);
  std::vector<std::vector<float>> ref_grads;
  for (int64_t l = 0; l < s.L; ++l)
    for (int t = 0; t < 4; ++t) {
      ref_grads.push_back(ref.dA[size_t(l * 4 + t)]);
      ref_grads.push_back(ref.dB[size_t(l * 4 + t)]);
    }
  std::printf("cpu loss %.6f\n", ref.loss);

  if (cuda_device_count() == 0) {
    std::printf("no CUDA device: skipped (%d host check failures)\n", g_failures);
    return g_failures == 0 ? 77 : 1;
  }
  auto cxr = cuda_context::create();
  if (!cxr.ok()) {
    std::fprintf(stderr, "model_parity_test: %s\n", cxr.error().to_string().c_str());
    return 1;
  }
  cuda_context& cx = **cxr;
  std::printf("device: %s\n", cx.device_name().c_str());
  check_random_model(cx, s);

  gpu::train_options o;
  o.B = B;
  o.T = T;
  o.loss_chunk_rows = 48;  // 3 chunks, the last partial
  o.max_grad_norm = 1e-3;  // small enough that clipping is active
  o.adamw.lr = 1e-3;
  o.adamw.weight_decay = 0.01;
  o.seed = 7;

  // 2d, first (a fault in a kernel below ends the process): the SIMT attention kernels
  // (train_options::attention_mma off) within the same bounds, so a tensor-core attention
  // failure below is told apart from one of the rest of the step.
  {
    run simt;
    gpu::train_options os = o;
    os.attention_mma = false;
    if (run_fb(cx, s, w, os, ids, targets, simt, "simt attention")) {
      report("loss rel (simt attention)", std::fabs(simt.loss - ref.loss) / std::fabs(ref.loss),
             kLossTol);
      report_grads("simt attention", ref_grads, grads_of(simt.model));
    }
  }

  run plain, ckpt;
  gpu::train_options oc = o;
  oc.checkpoint = true;
  if (!run_fb(cx, s, w, o, ids, targets, plain, "plain") ||
      !run_fb(cx, s, w, oc, ids, targets, ckpt, "ckpt")) {
    std::printf("%d failures\n", g_failures);
    return 1;
  }
  std::printf("gpu loss %.6f (ckpt %.6f)\n", plain.loss, ckpt.loss);
  report("loss rel (no ckpt)", std::fabs(plain.loss - ref.loss) / std::fabs(ref.loss), kLossTol);
  report("loss rel (ckpt)", std::fabs(ckpt.loss - ref.loss) / std::fabs(ref.loss), kLossTol);
  for (int64_t row : {0, 1, 77, 127}) {
    auto lg = plain.trainer->logits_rows(row, 1);
    std::vector<float> want(ref.logits.begin() + row * s.V, ref.logits.begin() + (row + 1) * s.V);
    report(("logits row " + std::to_string(row)).c_str(), lg.ok() ? max_rel(want, *lg) : INFINITY,
           kMaxRelTol, !lg.ok());
    report(("logits row " + std::to_string(row) + ", 2-norm").c_str(),
           lg.ok() ? norm_rel(want, *lg) : INFINITY, kNormRelTol, !lg.ok());
  }
  const auto g_plain = grads_of(plain.model), g_ckpt = grads_of(ckpt.model);
  for (int64_t l = 0; l < s.L; ++l)
    for (int t = 0; t < 4; ++t) {
      const size_t i = size_t(l * 4 + t) * 2;
      const std::string tag = "layers[" + std::to_string(l) + "]." +
                              std::string(t == 0   ? "qkv"
                                          : t == 1 ? "o"
                                          : t == 2 ? "gate_up"
                                                   : "down");
      report((tag + " dA").c_str(), max_rel(ref_grads[i], g_plain[i]), kMaxRelTol);
      report((tag + " dB").c_str(), max_rel(ref_grads[i + 1], g_plain[i + 1]), kMaxRelTol);
    }
  report_grads("no ckpt", ref_grads, g_plain);
  report_grads("ckpt", ref_grads, g_ckpt);
  report("grads ckpt vs no ckpt", max_rel_all(g_plain, g_ckpt), 1e-6);
  std::printf("grads ckpt vs no ckpt bitwise equal: %s (expected; 1e-6 is the requirement)\n",
              g_plain == g_ckpt ? "yes" : "no");
  report("loss ckpt vs no ckpt", std::fabs(plain.loss - ckpt.loss), 1e-6);

  // 2b. the fused lm_head + cross-entropy head (vocabulary chunks of 200: 3, the last short)
  // gives the same loss and grads as the CPU reference within the same bound.
  {
    run fused;
    gpu::train_options of = o;
    of.fused_head_vocab_chunk = 200;
    if (run_fb(cx, s, w, of, ids, targets, fused, "fused head")) {
      report("loss rel (fused head)", std::fabs(fused.loss - ref.loss) / std::fabs(ref.loss),
             kLossTol);
      report_grads("fused head", ref_grads, grads_of(fused.model));
    }
  }
  // 2c. the fused tensor-core NF4 GEMM for every base product (forward and dX): same bounds.
  {
    run mma;
    if (run_fb(cx, s, w, o, ids, targets, mma, "fused nf4 gemm", /*fused_nf4_gemm=*/true)) {
      report("loss rel (fused nf4 gemm)", std::fabs(mma.loss - ref.loss) / std::fabs(ref.loss),
             kLossTol);
      report_grads("fused nf4 gemm", ref_grads, grads_of(mma.model));
    }
  }

  // 3. dropout: checkpointing must replay the masks.
  {
    gpu::train_options od = o, odc = o;
    od.lora_dropout = odc.lora_dropout = 0.1f;
    odc.checkpoint = true;
    run dp, dpc;
    if (run_fb(cx, s, w, od, ids, targets, dp, "dropout") &&
        run_fb(cx, s, w, odc, ids, targets, dpc, "dropout ckpt")) {
      const auto a = grads_of(dp.model), b = grads_of(dpc.model);
      report("dropout grads ckpt vs no ckpt", max_rel_all(a, b), 1e-6);
      expect(max_rel_all(g_plain, a) > 1e-3, "dropout 0.1 changes the grads");
    }
  }

  // 4. clip + AdamW on the plain run's grads.
  {
    std::vector<std::vector<float>> masters_before, g = g_plain;
    for (const gpu::gpu_layer& ly : plain.model.layers)
      for (int t = 0; t < gpu::kLoraTargets; ++t) {
        masters_before.push_back(testing::download_f32(ly.lora(t).A_master));
        masters_before.push_back(testing::download_f32(ly.lora(t).B_master));
      }
    auto st = plain.trainer->clip_and_update();
    expect(st.ok() && st->updated, "clip_and_update");
    double ss = 0.0;
    for (const auto& v : g) ss += grad_sum_squares_cpu(v.data(), int64_t(v.size()));
    const double norm = grad_total_norm(ss);
    if (st.ok()) report("grad norm rel", std::fabs(st->grad_norm - norm) / norm, 1e-4);
    const float coef = grad_clip_coef(norm, o.max_grad_norm);
    std::printf("grad norm %.6e, clip coef %.6e\n", norm, double(coef));
    std::vector<std::vector<float>> want = masters_before;
    for (size_t i = 0; i < want.size(); ++i) {
      grad_scale_cpu(g[i].data(), int64_t(g[i].size()), coef);
      std::vector<float> m(want[i].size(), 0.0f), v(want[i].size(), 0.0f);
      adamw_update_cpu(want[i].data(), m.data(), v.data(), g[i].data(), int64_t(want[i].size()),
                       o.adamw, 1);
    }
    std::vector<std::vector<float>> got, copies, rounded;
    for (const gpu::gpu_layer& ly : plain.model.layers)
      for (int t = 0; t < gpu::kLoraTargets; ++t) {
        got.push_back(testing::download_f32(ly.lora(t).A_master));
        got.push_back(testing::download_f32(ly.lora(t).B_master));
        copies.push_back(download_bf16(ly.lora(t).A));
        copies.push_back(download_bf16(ly.lora(t).B));
      }
    for (const auto& v : got) {
      rounded.push_back(v);
      for (float& x : rounded.back()) x = bf16_to_f32(f32_to_bf16(x));
    }
    report("adamw masters vs cpu", max_rel_all(want, got), 1e-5);
    report("bf16 copies == rounded masters", max_rel_all(rounded, copies), 0.0);
    expect(max_rel_all(masters_before, got) > 1e-6, "adamw moved the masters");
  }

  // 5. input errors are statuses.
  {
    std::vector<int32_t> bad = ids;
    bad[3] = int32_t(s.V);
    auto r = plain.trainer->step(bad.data(), targets.data());
    expect(!r.ok() && r.error().code() == status_code::invalid_argument,
           "bad id -> invalid_argument");
    std::vector<int32_t> badt = targets;
    badt[4] = -7;
    auto r2 = plain.trainer->step(ids.data(), badt.data());
    expect(!r2.ok() && r2.error().code() == status_code::invalid_argument,
           "bad target -> invalid_argument");
  }

  // 7. end to end: full steps on one batch lower its loss; an all-ignored batch is a no-op step.
  {
    gpu::train_options ot = o;
    ot.max_grad_norm = 1.0;
    ot.adamw.lr = 5e-3;
    ot.checkpoint = true;
    run fit;
    if (run_fb(cx, s, w, ot, ids, targets, fit, "fit")) {
      double first = NAN, last = NAN;
      bool ok = true;
      for (int i = 0; i < 8 && ok; ++i) {
        auto r = fit.trainer->step(ids.data(), targets.data());
        ok = r.ok() && r->updated;
        if (ok) {
          if (i == 0) first = r->loss;
          last = r->loss;
        }
      }
      std::printf("8 steps on one batch: loss %.5f -> %.5f\n", first, last);
      expect(ok && last < first, "training lowers the loss of a fixed batch");
      std::vector<int32_t> none(targets.size(), -100);
      auto r = fit.trainer->step(ids.data(), none.data());
      expect(r.ok() && r->tokens == 0 && r->loss == 0.0 && r->grad_norm == 0.0,
             "all targets ignored: loss 0, grad norm 0");
    }
  }

  std::printf("%d failures\n", g_failures);
  return g_failures == 0 ? 0 : 1;
}
