// model_bench: the GPU QLoRA training step at the Phi-3-mini shape (issue #6; never run by ctest).
//   Batch 4 x 1024 tokens, LoRA r=8 alpha=16 (dropout 0) on qkv, o, gate_up, down, AdamW, global
//   norm clip 0.3: one row with activation checkpointing off, one with it on. Each row: 2 warm-up
//   steps, then 5 timed steps between two CUDA events on the trainer's stream (every step
//   includes its host syncs: loss read-back and the clip norm); tok/s = B * T * steps / seconds.
// Model: gpu_model_random (NF4 double-quant base quantized on the device, bf16 embed/lm_head,
// LoRA B non-zero so every product runs). Tokens: random ids, targets = ids shifted by one.
// Peak memory (train_peak_mib, train_ckpt_peak_mib): the high water of device bytes OUR code
// holds during the row, weights included, as hf_model_bench.py's max_memory_allocated counts
// everything torch allocated: model.bytes() (NF4 base, norms, embed, lm_head, LoRA masters,
// bf16 copies and grads, rope tables) + trainer.bytes() (the one activation region + AdamW
// moments) + the cuda_context's arena capacity and cuBLASLt workspace. Nothing is allocated
// inside a step, so the sum of these allocations is the high water. The cudaMemGetInfo delta
// since before the context existed (includes the CUDA context and cuBLASLt internals) is printed
// on the human line for reference.
// Output: a human line per row and `METRIC,<key>,<value>` lines (bench/device/model_report.py):
//   train_tok_s, train_peak_mib, train_ckpt_tok_s, train_ckpt_peak_mib,
//   train_fused_head_tok_s, train_fused_head_peak_mib (checkpointing off, fused lm_head + CE)
//   train_nf4_mma_tok_s, train_nf4_mma_peak_mib (checkpointing off, the fused NF4 tensor-core
//     GEMM for every base product the kernel takes)
//   train_nf4_dequant_tok_s, train_nf4_dequant_peak_mib (checkpointing off, dequantize + cuBLASLt
//     for every base product)
//   The default rows (train, train_ckpt, train_fused_head, the profile) take the NF4 GEMM paths
//   engine/cuda/gemm_choice.h measures at B x T first, as gpu_tuner does, and report it:
//   nf4_gemm_{fwd,bwd}_{dequant,fused}_us (one layer's NF4 base products, each path).
//   train_bf16_base_tok_s, train_bf16_base_peak_mib (checkpointing off, a second model whose base
//     stays bf16: LoRA rather than QLoRA, the same work as the HF baseline's bf16 LoRA)
//   work_train_flop_per_tok: the model flops of one training token (engine/cuda/roofline.h),
//     for the report's roofline fraction of every training row
// A row whose trainer does not fit prints so (resource_exhausted) and no METRIC line.
// Then one more step of the default row, broken down by segment (engine/cuda/step_profile.h):
// `PROFILE,train,<segment>,<ms>,<count>` lines, largest first (model_report.py shows the top).
// Usage: model_bench [--layers N] [--steps N] [--simt-attention] [--tiny]  (fewer layers: a smoke
// run; METRIC lines only for the full 32-layer model; --simt-attention:
// train_options::attention_mma off, for bench/device/run.sh's fallback run; --tiny: every row and
// the profile on gpu_model_shape::tiny() at 2 x 64 tokens, the smoke run CI makes on the emulated
// runtime). Exit 77 without a CUDA device, 1 when a row fails otherwise.
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "engine/cuda/gemm_choice.h"
#include "engine/cuda/gpu_model.h"
#include "engine/cuda/roofline.h"
#include "engine/cuda/step_profile.h"
#include "engine/cuda/train_step.h"
#include "kernels/cuda/cuda_context.h"

namespace {

using namespace kaito;
using namespace kaito::gpu;

constexpr double kMiB = 1024.0 * 1024.0;

size_t device_used() {
  size_t free_b = 0, total_b = 0;
  if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) return 0;
  return total_b - free_b;
}

// One row; returns false on a failure other than "does not fit".
bool train_row(cuda_context& cx, gpu_model& m, const char* key, bool ckpt, bool fused_head,
               gpu_model::nf4_gemm_paths nf4, int64_t B, int64_t T, int steps, int warmup,
               bool full, size_t used0, const std::vector<int32_t>& ids,
               const std::vector<int32_t>& targets, bool attention_mma) {
  m.fused_nf4_gemm = nf4;
  train_options o;
  o.attention_mma = attention_mma;
  o.B = B;
  o.T = T;
  o.checkpoint = ckpt;
  o.fused_head_vocab_chunk = fused_head ? 4096 : 0;
  o.lora_dropout = 0.0f;
  o.max_grad_norm = 0.3;
  o.adamw.lr = 2e-4;
  o.adamw.weight_decay = 0.0;
  o.seed = 1;
  auto tr = gpu_trainer::create(cx, m, o);
  if (!tr.ok()) {
    if (tr.error().code() == status_code::resource_exhausted) {
      std::printf("model_bench: %s %lldx%lld does not fit in device memory (%s): no METRIC\n", key,
                  (long long)B, (long long)T, tr.error().to_string().c_str());
      return true;
    }
    std::fprintf(stderr, "model_bench: %s: %s\n", key, tr.error().to_string().c_str());
    return false;
  }
  gpu_trainer& t = **tr;
  double first_loss = NAN, last_loss = NAN;
  for (int i = 0; i < warmup; ++i) {
    auto r = t.step(ids.data(), targets.data());
    if (!r.ok()) {
      std::fprintf(stderr, "model_bench: %s warm-up: %s\n", key, r.error().to_string().c_str());
      return false;
    }
    if (i == 0) first_loss = r->loss;
  }
  cudaEvent_t e0, e1;
  if (cudaEventCreate(&e0) != cudaSuccess || cudaEventCreate(&e1) != cudaSuccess) {
    std::fprintf(stderr, "model_bench: cudaEventCreate failed\n");
    return false;
  }
  bool ok = cudaEventRecord(e0, cx.stream()) == cudaSuccess;
  for (int i = 0; i < steps && ok; ++i) {
    auto r = t.step(ids.data(), targets.data());
    if (!r.ok()) {
      std::fprintf(stderr, "model_bench: %s step: %s\n", key, r.error().to_string().c_str());
      ok = false;
      break;
    }
    last_loss = r->loss;
    if (!r->updated) std::printf("model_bench: %s: non-finite grad norm, update skipped\n", key);
  }
  float ms = 0.0f;
  ok = ok && cudaEventRecord(e1, cx.stream()) == cudaSuccess &&
       cudaEventSynchronize(e1) == cudaSuccess && cudaEventElapsedTime(&ms, e0, e1) == cudaSuccess;
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  if (!ok) return false;
  const double tok_s = double(B * T) * steps / (double(ms) / 1e3);
  const double peak_mib =
      double(m.bytes() + t.bytes() + cx.arena().capacity() + cx.cublas_workspace_bytes()) / kMiB;
  const double used_mib = double(device_used() - used0) / kMiB;
  std::printf(
      "model_bench: %-10s %lldx%lld, %d layers: %d steps in %.1f ms = %.0f tok/s (%.1f ms/step); "
      "held %.0f MiB (model %.0f, trainer %.0f, arena+workspace %.0f), cudaMemGetInfo delta %.0f "
      "MiB; loss %.4f -> %.4f\n",
      key, (long long)B, (long long)T, int(m.layers.size()), steps, double(ms), tok_s,
      double(ms) / steps, peak_mib, double(m.bytes()) / kMiB, double(t.bytes()) / kMiB,
      double(cx.arena().capacity() + cx.cublas_workspace_bytes()) / kMiB, used_mib, first_loss,
      last_loss);
  if (full) {
    std::printf("METRIC,%s_tok_s,%.3f\n", key, tok_s);
    std::printf("METRIC,%s_peak_mib,%.3f\n", key, peak_mib);
  }
  return std::isfinite(last_loss);
}

// One training step of the default configuration broken down by segment: `PROFILE,train,<segment>,
// <ms>,<count>` lines, largest first. Returns false when the step or the profile fails.
bool profile_step(cuda_context& cx, gpu_model& m, int64_t B, int64_t T,
                  const std::vector<int32_t>& ids, const std::vector<int32_t>& targets,
                  bool attention_mma) {
  train_options o;
  o.attention_mma = attention_mma;
  o.B = B;
  o.T = T;
  o.max_grad_norm = 0.3;
  o.adamw.lr = 2e-4;
  auto tr = gpu_trainer::create(cx, m, o);
  if (!tr.ok()) {
    std::printf("model_bench: profile: %s\n", tr.error().to_string().c_str());
    return tr.error().code() == status_code::resource_exhausted;
  }
  if (auto w = (*tr)->step(ids.data(), targets.data()); !w.ok()) {
    std::fprintf(stderr, "model_bench: profile warm-up: %s\n", w.error().to_string().c_str());
    return false;
  }
  step_profile prof;
  if (status st = prof.start(cx.stream()); !st.ok()) {
    std::fprintf(stderr, "model_bench: profile: %s\n", st.to_string().c_str());
    return false;
  }
  (*tr)->set_profile(&prof);
  auto r = (*tr)->step(ids.data(), targets.data());
  (*tr)->set_profile(nullptr);
  auto totals = prof.stop();
  if (!r.ok() || !totals.ok()) {
    std::fprintf(stderr, "model_bench: profiled step: %s\n",
                 (!r.ok() ? r.error() : totals.error()).to_string().c_str());
    return false;
  }
  double sum = 0.0;
  for (const segment_total& t : *totals) sum += t.ms;
  std::printf("model_bench: profile of one step (train, %lldx%lld): %.1f ms in %zu segments\n",
              (long long)B, (long long)T, sum, totals->size());
  for (const segment_total& t : *totals) {
    std::printf("  %-36s %9.3f ms  %5.1f%%  (%lld segments)\n", t.name.c_str(), t.ms,
                sum > 0 ? 100.0 * t.ms / sum : 0.0, (long long)t.count);
    std::printf("PROFILE,train,%s,%.4f,%lld\n", t.name.c_str(), t.ms, (long long)t.count);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  gpu_model_shape shape = gpu_model_shape::phi3_mini();
  int steps = 5;
  const int warmup = 2;
  bool attention_mma = true, tiny = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--layers") == 0 && i + 1 < argc) {
      shape.L = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--steps") == 0 && i + 1 < argc) {
      steps = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--simt-attention") == 0) {
      attention_mma = false;
    } else if (std::strcmp(argv[i], "--tiny") == 0) {
      tiny = true;
    } else {
      std::fprintf(stderr,
                   "usage: model_bench [--layers N] [--steps N] [--simt-attention] [--tiny]\n");
      return 2;
    }
  }
  if (tiny) shape = gpu_model_shape::tiny();
  if (shape.L < 1 || steps < 1) {
    std::fprintf(stderr, "model_bench: --layers and --steps must be >= 1\n");
    return 2;
  }
  const bool full = !tiny && shape.L == gpu_model_shape::phi3_mini().L;
  if (cuda_device_count() == 0) {
    std::printf("no CUDA device: skipped\n");
    return 77;
  }
  const size_t used0 = device_used();
  auto cxr = cuda_context::create();
  if (!cxr.ok()) {
    std::fprintf(stderr, "model_bench: %s\n", cxr.error().to_string().c_str());
    return 1;
  }
  cuda_context& cx = **cxr;
  const int64_t B = tiny ? 2 : 4, T = tiny ? 64 : 1024;
  auto mr = gpu_model_random(cx, shape, T, 1234, /*lora_b_zero=*/false);
  if (!mr.ok()) {
    std::fprintf(stderr, "model_bench: gpu_model_random: %s\n", mr.error().to_string().c_str());
    return 1;
  }
  gpu_model& m = *mr;
  std::printf("model_bench: %s, %s shape with %lld layers, model %.0f MiB on the device\n",
              cx.device_name().c_str(), tiny ? "tiny" : "Phi-3-mini", (long long)shape.L,
              double(m.bytes()) / kMiB);
  // The model flops of a token (engine/cuda/roofline.h), the same with checkpointing on or off:
  // model_report.py divides tok/s x this by the GPU's bf16 peak.
  const double flop_per_tok = train_flops_per_token(shape, T);
  std::printf("model_bench: %.4g GFLOP of model flops per training token at T = %lld\n",
              flop_per_tok / 1e9, (long long)T);
  if (full) std::printf("METRIC,work_train_flop_per_tok,%.1f\n", flop_per_tok);
  std::mt19937 rng(42);
  std::uniform_int_distribution<int32_t> tok(0, int32_t(shape.V - 1));
  std::vector<int32_t> ids(size_t(B * T)), targets(size_t(B * T));
  for (int32_t& id : ids) id = tok(rng);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      targets[size_t(b * T + t)] = t + 1 < T ? ids[size_t(b * T + t + 1)] : -100;
  bool ok = true;
  // The NF4 GEMM paths, measured at this batch as gpu_tuner measures them.
  auto choice = choose_nf4_gemm(cx, m, B * T);
  if (!choice.ok()) {
    std::fprintf(stderr, "model_bench: nf4 gemm choice: %s\n", choice.error().to_string().c_str());
    return 1;
  }
  const gpu_model::nf4_gemm_paths chosen = choice->paths();
  std::printf(
      "model_bench: nf4 gemm at %lld rows: %s (fused vs dequantize: max rel diff %.3g "
      "forward, %.3g backward_inp)\n",
      (long long)(B * T), choice->note().c_str(), choice->forward.max_rel_diff,
      choice->backward_inp.max_rel_diff);
  for (const auto& [name, d] :
       {std::pair{"fwd", &choice->forward}, std::pair{"bwd", &choice->backward_inp}})
    if (full && d->measured) {
      std::printf("METRIC,nf4_gemm_%s_dequant_us,%.3f\n", name, d->us[0]);
      std::printf("METRIC,nf4_gemm_%s_fused_us,%.3f\n", name, d->us[1]);
    }
  auto row = [&](gpu_model& model, const char* key, bool ckpt, bool fused_head,
                 gpu_model::nf4_gemm_paths nf4) {
    ok = train_row(cx, model, key, ckpt, fused_head, nf4, B, T, steps, warmup, full, used0, ids,
                   targets, attention_mma) &&
         ok;
  };
  row(m, "train", false, false, chosen);
  row(m, "train_ckpt", true, false, chosen);
  // The alternatives, each against the default row above (checkpointing off): the fused
  // lm_head + cross-entropy head (vocabulary chunks of 4096), and each NF4 GEMM path for every
  // base product (what the measured choice above picks per direction).
  row(m, "train_fused_head", false, true, chosen);
  row(m, "train_nf4_mma", false, false, {true, true});
  row(m, "train_nf4_dequant", false, false, {false, false});
  m.fused_nf4_gemm = chosen;
  // Where the default row's step goes (engine/cuda/step_profile.h), for the report's "largest
  // remaining cost": one profiled step after a warm-up one, on a fresh trainer.
  ok = profile_step(cx, m, B, T, ids, targets, attention_mma) && ok;
  // LoRA on a bf16 base (Kaito's method: lora), the same work as the HF baseline's bf16 LoRA.
  {
    gpu_model_shape dense = shape;
    dense.quantized_base = false;
    auto dm = gpu_model_random(cx, dense, T, 1234, /*lora_b_zero=*/false);
    if (dm.ok()) {
      row(*dm, "train_bf16_base", false, false, {});
    } else {
      std::printf("model_bench: train_bf16_base: %s: no METRIC\n", dm.error().to_string().c_str());
    }
  }
  return ok ? 0 : 1;
}
