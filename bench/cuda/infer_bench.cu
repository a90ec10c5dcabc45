// infer_bench: GPU inference at the Phi-3-mini shape (issue #6; never run by ctest).
//   decode: greedy decode with the KV cache (engine/cuda/infer.h) at batch 1 and 16 after a
//           128-token prompt; the prompt's prefill is not timed; tok/s = B * steps / seconds.
//           Batch 16 runs twice: the default (the fused NF4 GEMV) and with gemv_max_batch = 8
//           (NF4 dequantize + cuBLASLt GEMM), printed as decode_b16_gemm_tok_s so the choice
//           can be checked against a measurement.
//           Decode steps replay a captured CUDA graph (infer.h) with programmatic dependent
//           launch; batch 1 also runs with plain launches (decode_b1_eager_tok_s: what the graph
//           saves) and as a graph without programmatic launch (decode_b1_nopdl_tok_s).
//   serve:  the serving path (engine/cuda/batch_decoder.h, what `kaito serve --device cuda`
//           runs under engine/batch_generator.h) at batch 1 and 16: every slot prefilled with the
//           prompt (not timed), then timed steps each feeding every slot its token at its own
//           position and copying the (B, V) logits to the host, picked there (argmax) as the
//           server's sampling does; printed as serve_decode_b{1,16}_tok_s beside the lockstep
//           generator's rows (their gap: the logits' trip to the host and the per-row slots).
//   serve prefill: a 4096-token prompt as the server prefills it (gpu_batch_decoder, chunks of
//           512, gpu_sequence_decoder's default; each later chunk attends over the paged cache),
//           median of 3 after a warm-up, with the tensor-core attention and without
//           (serve_prefill_4096{,_simt}_tok_s);
//   prefill: one sequence of 2048 tokens through every layer, filling the cache, up to the
//           greedy next token; median of 3 after a warm-up. Its NF4 base products take the
//           forward path the generator measures at 2048 rows (engine/cuda/gemm_choice.h;
//           printed).
// Timing: wall clock (std::chrono::steady_clock) around the enqueued steps and a final
// synchronize, so host launch overhead counts.
// Model: gpu_model_random (NF4 double-quant base, bf16 embed/lm_head, LoRA r=8 with non-zero B so
// every LoRA product runs); LoRA applied at run time.
// Output: a human line per row and `METRIC,<key>,<value>` lines (bench/device/model_report.py):
//   decode_b1_tok_s, decode_b16_tok_s, prefill_2048_tok_s (issue #6's rows) and
//   decode_b1_eager_tok_s, decode_b1_nopdl_tok_s, decode_b16_gemm_tok_s (the alternatives, for
//   the record), serve_decode_b{1,16}_tok_s, serve_prefill_4096{,_simt}_tok_s (the serving
//   path)
//   work_decode_b{1,16}_byte_per_tok, work_prefill_{2048,4096}_flop_per_tok: the least bytes a
//   generated token moves and the model flops of a prefill token (engine/cuda/roofline.h), for
//   the report's roofline fractions
// Then the profiles (engine/cuda/step_profile.h): a batch-1 decode step (plain launches behind a
// hold, averaged over 8 steps) and a 2048-token prefill by segment, as `PROFILE,<decode_b1 |
// prefill_2048>,<segment>,<ms>,<count>` lines.
// Usage: infer_bench [--layers N] [--steps N] [--gemv measure|scaled_lut|register_lut] [--no-pdl]
// [--no-fused-decode] [--simt-attention] [--tiny]   (fewer layers: a quick smoke run; the METRIC
// lines are printed only for the full 32-layer model; the other flags override infer_options'
// defaults, for bench/device/run.sh's fallback run; --tiny: every row and profile on
// gpu_model_shape::tiny() with a 16-token prompt, a 64-token prefill and a 128-token one in
// chunks of 32, the smoke run CI makes on
// the emulated runtime). Exit 77 without a CUDA device.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/cuda/batch_decoder.h"
#include "engine/cuda/gpu_model.h"
#include "engine/cuda/infer.h"
#include "engine/cuda/roofline.h"
#include "engine/cuda/step_profile.h"
#include "kernels/cuda/cuda_context.h"
#include "kernels/nf4.h"

namespace {

using namespace kaito;
using namespace kaito::gpu;
using clock_type = std::chrono::steady_clock;

void die(const char* what, const status& st) {
  std::fprintf(stderr, "infer_bench: %s: %s\n", what, st.to_string().c_str());
  std::exit(1);
}

std::vector<int32_t> random_ids(int64_t n, int64_t V, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> u(0, int32_t(V - 1));
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int32_t& t : ids) t = u(rng);
  return ids;
}

void check(const char* what, const status& st) {
  if (!st.ok()) die(what, st);
}

status run_decode(gpu_generator& g, int64_t n) {
  for (int64_t i = 0; i < n; ++i) KAITO_TRY(g.decode_step());
  return {};
}

// Decode steps before a timed run (and before the profiled ones), and the steps the batch-1
// profile averages over.
constexpr int64_t kWarmupSteps = 8, kProfileSteps = 8;

// Cache length (prompt + generated) of decode_tok_s's generator: the warm-up and the timed steps
// each follow their own prefill.
int64_t decode_seq(int64_t prompt, int64_t steps) {
  return prompt + std::max(steps, kWarmupSteps) + 1;
}

// Cache length of profile_inference's generator: a decode after warm-up, and one long prefill.
int64_t profile_seq(int64_t prompt, int64_t prefill_T) {
  return std::max(prompt + kWarmupSteps + kProfileSteps + 1, prefill_T);
}

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// Decode tok/s at batch B after a `prompt`-token prompt: a warm-up pass (prefill + kWarmupSteps),
// then a fresh prefill (not timed) and `steps` timed steps. The decode GEMV kernel is measured at
// create() (engine/cuda/gemv_choice.h); `choice` gets it.
double decode_tok_s(cuda_context& cx, const gpu_model& m, const infer_options& base, int64_t B,
                    int64_t prompt, int64_t steps, int64_t gemv_max_batch, bool graph,
                    bool pdl = true, gemv_choice* choice = nullptr) {
  infer_options opt = base;
  opt.programmatic_launch = base.programmatic_launch && pdl;
  opt.max_batch = B;
  opt.max_seq = decode_seq(prompt, steps);
  opt.gemv_max_batch = gemv_max_batch;
  opt.cuda_graph = graph;
  auto gen = gpu_generator::create(cx, m, opt);
  if (!gen.ok()) die("gpu_generator::create", gen.error());
  gpu_generator& g = **gen;
  const std::vector<int32_t> ids = random_ids(B * prompt, m.shape.V, 7);
  check("warm-up prefill", g.prefill(ids.data(), B, prompt));
  check("warm-up decode", run_decode(g, kWarmupSteps));
  check("warm-up", cx.synchronize());
  check("prefill", g.prefill(ids.data(), B, prompt));
  check("prefill", cx.synchronize());
  const auto t0 = clock_type::now();
  check("decode", run_decode(g, steps));
  check("decode", cx.synchronize());
  const double dt = seconds_since(t0);
  auto toks = g.tokens();
  if (!toks.ok()) die("tokens", toks.error());
  for (int32_t t : *toks)
    if (t < 0 || t >= m.shape.V) die("tokens", internal_error("generated id out of range"));
  std::printf(
      "decode  B=%-3lld prompt=%lld steps=%lld gemv<=%lld %s%s: %8.3f ms/step  %9.1f tok/s  "
      "(cache+activations %.0f MiB; first tokens %d %d %d)\n",
      (long long)B, (long long)prompt, (long long)steps, (long long)gemv_max_batch,
      g.graphed() ? "graph" : (graph ? "graph capture FAILED, plain launches" : "plain launches"),
      opt.programmatic_launch && cx.props().major >= 9 ? "+pdl" : "", 1e3 * dt / double(steps),
      double(B * steps) / dt, double(g.bytes()) / 1048576.0, (*toks)[0], (*toks)[1], (*toks)[2]);
  std::printf("        gemv: %s\n", g.gemv().note.c_str());
  if (choice != nullptr) *choice = g.gemv();
  return double(B * steps) / dt;
}

// The serving path's decode tok/s at batch B (see the header): kWarmupSteps untimed steps (the
// second captures the step's graph), then `steps` timed ones.
double serve_tok_s(cuda_context& cx, const gpu_model& m, const infer_options& base, int64_t B,
                   int64_t prompt, int64_t steps) {
  infer_options opt = base;
  opt.max_batch = B;
  opt.max_seq = decode_seq(prompt, steps) + kWarmupSteps;
  opt.prefill_rows = prompt;
  auto dec = gpu_batch_decoder::create(cx, m, opt);
  if (!dec.ok()) die("gpu_batch_decoder::create", dec.error());
  gpu_batch_decoder& d = **dec;
  const int64_t V = m.shape.V;
  std::vector<int64_t> slots;
  std::vector<int32_t> next(static_cast<size_t>(B));
  std::vector<float> logits;
  for (int64_t b = 0; b < B; ++b) {
    const std::vector<int32_t> ids = random_ids(prompt, V, uint32_t(23 + b));
    check("serve prefill", d.prefill(b, ids.data(), prompt, 0, &logits));
    next[size_t(b)] = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
    slots.push_back(b);
  }
  auto one_step = [&] {
    check("serve decode", d.decode(slots, next, &logits));
    for (int64_t b = 0; b < B; ++b) {
      const auto row = logits.begin() + b * V;
      next[size_t(b)] = int32_t(std::max_element(row, row + V) - row);
    }
  };
  for (int64_t i = 0; i < kWarmupSteps; ++i) one_step();
  const auto t0 = clock_type::now();
  for (int64_t i = 0; i < steps; ++i) one_step();  // (each step ends synchronized)
  const double dt = seconds_since(t0);
  std::printf(
      "serve   B=%-3lld prompt=%lld steps=%lld %s: %8.3f ms/step  %9.1f tok/s  (logits to the "
      "host each step; cache+activations %.0f MiB)\n",
      (long long)B, (long long)prompt, (long long)steps,
      d.graphs() > 0 ? "graph" : "plain launches", 1e3 * dt / double(steps), double(B * steps) / dt,
      double(d.bytes()) / 1048576.0);
  return double(B * steps) / dt;
}

// The serving path's prefill tok/s: one T-token prompt in chunks of `chunk` into slot 0 (logits of
// the last position to the host, as the server's), median of 3 after a warm-up; attention on the
// tensor cores or (mma false) the SIMT kernels. Prefix caching off: each run computes every
// chunk.
double serve_prefill_tok_s(cuda_context& cx, const gpu_model& m, const infer_options& base,
                           int64_t T, int64_t chunk, bool mma) {
  infer_options opt = base;
  opt.max_batch = 1;
  opt.max_seq = T;
  opt.prefill_rows = chunk;
  opt.prefix_caching = false;
  opt.attention_mma = mma;
  auto dec = gpu_batch_decoder::create(cx, m, opt);
  if (!dec.ok()) die("gpu_batch_decoder::create (prefill)", dec.error());
  gpu_batch_decoder& d = **dec;
  const std::vector<int32_t> ids = random_ids(T, m.shape.V, 19);
  std::vector<float> logits;
  auto once = [&] {
    d.reset(0);
    for (int64_t at = 0; at < T; at += chunk)
      check("serve prefill", d.prefill(0, ids.data() + at, std::min(chunk, T - at), T,
                                       at + chunk >= T ? &logits : nullptr));
    check("serve prefill", cx.synchronize());
  };
  once();
  std::vector<double> times;
  for (int r = 0; r < 3; ++r) {
    const auto t0 = clock_type::now();
    once();
    times.push_back(seconds_since(t0));
  }
  std::sort(times.begin(), times.end());
  const double dt = times[1];
  std::printf(
      "serve   prefill T=%lld in chunks of %lld, %s attention: %8.2f ms  %9.1f tok/s  "
      "(median of 3)\n",
      (long long)T, (long long)chunk, mma ? "tensor-core" : "SIMT", 1e3 * dt, double(T) / dt);
  return double(T) / dt;
}

double prefill_tok_s(cuda_context& cx, const gpu_model& m, const infer_options& base, int64_t T) {
  infer_options opt = base;
  opt.max_batch = 1;
  opt.max_seq = T;
  auto gen = gpu_generator::create(cx, m, opt);
  if (!gen.ok()) die("gpu_generator::create", gen.error());
  gpu_generator& g = **gen;
  const std::vector<int32_t> ids = random_ids(T, m.shape.V, 11);
  check("prefill warm-up", g.prefill(ids.data(), 1, T));
  check("prefill warm-up", cx.synchronize());
  std::vector<double> times;
  for (int r = 0; r < 3; ++r) {
    const auto t0 = clock_type::now();
    check("prefill", g.prefill(ids.data(), 1, T));
    check("prefill", cx.synchronize());
    times.push_back(seconds_since(t0));
  }
  std::sort(times.begin(), times.end());
  const double dt = times[1];
  std::printf("prefill T=%lld: %8.2f ms  %9.1f tok/s  (median of 3)\n", (long long)T, 1e3 * dt,
              double(T) / dt);
  std::printf("        nf4 gemm at %lld rows: %s\n", (long long)T, g.prefill_gemm().note.c_str());
  return double(T) / dt;
}

void print_profile(const char* key, const std::vector<segment_total>& totals, double per,
                   const char* what) {
  double sum = 0.0;
  for (const segment_total& t : totals) sum += t.ms;
  std::printf("profile %s: %.3f ms per %s\n", key, sum / per, what);
  for (const segment_total& t : totals) {
    std::printf("  %-36s %9.4f ms  %5.1f%%  (%lld segments)\n", t.name.c_str(), t.ms / per,
                sum > 0 ? 100.0 * t.ms / sum : 0.0, (long long)t.count);
    std::printf("PROFILE,%s,%s,%.5f,%lld\n", key, t.name.c_str(), t.ms / per, (long long)t.count);
  }
}

// Where a batch-1 decode step and a 2048-token prefill spend their time
// (engine/cuda/step_profile.h). Decode runs as plain launches (a graph replay cannot be split),
// each step enqueued behind a hold so its kernels run back to back as in the graph; the
// per-step figures are averages over kProfileSteps steps.
void profile_inference(cuda_context& cx, const gpu_model& m, const infer_options& base,
                       int64_t prompt, int64_t prefill_T) {
  const int64_t steps = kProfileSteps;
  infer_options opt = base;
  opt.max_batch = 1;
  opt.max_seq = profile_seq(prompt, prefill_T);
  opt.cuda_graph = false;
  auto gen = gpu_generator::create(cx, m, opt);
  if (!gen.ok()) die("gpu_generator::create (profile)", gen.error());
  gpu_generator& g = **gen;
  const std::vector<int32_t> ids = random_ids(prompt, m.shape.V, 13);
  check("profile prefill", g.prefill(ids.data(), 1, prompt));
  check("profile warm-up", run_decode(g, kWarmupSteps));
  step_profile prof;
  check("profile start", prof.start(cx.stream()));
  g.set_profile(&prof);
  bool expired = false;
  for (int64_t i = 0; i < steps; ++i) {
    check("profile hold", prof.hold());
    const status st = g.decode_step();
    prof.release();
    check("profile decode", st);
    check("profile decode", cx.synchronize());
    expired = expired || prof.held_expired();
  }
  auto dec = prof.stop();
  if (!dec.ok()) die("profile decode", dec.error());
  print_profile("decode_b1", *dec, double(steps), "step");
  if (expired) std::printf("  (a hold expired: the figures include host launch gaps)\n");
  const std::vector<int32_t> pids = random_ids(prefill_T, m.shape.V, 17);
  check("profile start", prof.start(cx.stream()));
  check("profile prefill", g.prefill(pids.data(), 1, prefill_T));
  auto pre = prof.stop();
  g.set_profile(nullptr);
  if (!pre.ok()) die("profile prefill", pre.error());
  print_profile(("prefill_" + std::to_string(prefill_T)).c_str(), *pre, 1.0, "prefill");
}

}  // namespace

int main(int argc, char** argv) {
  int64_t layers = 32, steps = 128;
  bool tiny = false;
  infer_options base;  // the engine's defaults unless a flag below says otherwise
  const char* usage =
      "usage: infer_bench [--layers N] [--steps N] [--gemv measure|scaled_lut|register_lut]\n"
      "                   [--no-pdl] [--no-fused-decode] [--simt-attention] [--tiny]\n";
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--layers") == 0 && i + 1 < argc) {
      layers = std::atoll(argv[++i]);
    } else if (std::strcmp(argv[i], "--steps") == 0 && i + 1 < argc) {
      steps = std::atoll(argv[++i]);
    } else if (std::strcmp(argv[i], "--gemv") == 0 && i + 1 < argc) {
      const std::string k = argv[++i];
      base.gemv_measure = k == "measure";
      if (k == "scaled_lut" || k == "register_lut") {
        base.gemv_kernel =
            k == "scaled_lut" ? nf4_gemv_kernel::scaled_lut : nf4_gemv_kernel::register_lut;
      } else if (k != "measure") {
        std::fprintf(stderr, "infer_bench: --gemv %s: not measure, scaled_lut or register_lut\n%s",
                     k.c_str(), usage);
        return 2;
      }
    } else if (std::strcmp(argv[i], "--no-pdl") == 0) {
      base.programmatic_launch = false;
    } else if (std::strcmp(argv[i], "--no-fused-decode") == 0) {
      base.fused_decode = false;
    } else if (std::strcmp(argv[i], "--simt-attention") == 0) {
      base.attention_mma = false;
    } else if (std::strcmp(argv[i], "--tiny") == 0) {
      tiny = true;
    } else {
      std::fprintf(stderr, "%s", usage);
      return 2;
    }
  }
  if (layers < 1 || layers > 32 || steps < 3) {
    std::fprintf(stderr, "infer_bench: --layers must be 1..32 and --steps >= 3\n");
    return 2;
  }
  if (cuda_device_count() == 0) {
    std::printf("no CUDA device: skipped\n");
    return 77;
  }
  cuda_context_options copt;
  copt.arena_bytes = size_t(512) << 20;  // gate_up's bf16 copy (96 MiB) + attention scratch
  auto cx = cuda_context::create(copt);
  if (!cx.ok()) die("cuda_context", cx.error());
  gpu_model_shape shape = gpu_model_shape::phi3_mini();
  shape.L = layers;
  if (tiny) {
    shape = gpu_model_shape::tiny();
    layers = shape.L;
  }
  const int64_t prompt = tiny ? 16 : 128, prefill_T = tiny ? 64 : 2048;
  const int64_t long_T = tiny ? 128 : 4096, chunk = tiny ? 32 : 512;
  const auto t0 = clock_type::now();
  auto model = gpu_model_random(
      **cx, shape,
      std::max({decode_seq(prompt, steps) + kWarmupSteps, profile_seq(prompt, prefill_T), long_T}),
      1,
      /*lora_b_zero=*/false);
  if (!model.ok()) die("gpu_model_random", model.error());
  check("gpu_model_random", (*cx)->synchronize());
  std::printf(
      "device %s, %d SMs; %s shape with %lld layers: %.0f MiB on the device, "
      "built in %.1f s\n",
      (*cx)->device_name().c_str(), (*cx)->sm_count(), tiny ? "tiny" : "Phi-3-mini",
      (long long)layers, double(model->bytes()) / 1048576.0, seconds_since(t0));
  gemv_choice b1_gemv;
  std::printf(
      "options: gemv %s, programmatic launch %s, fused decode kernels %s, prefill attention %s\n",
      base.gemv_measure ? "measured" : nf4_gemv_kernel_name(base.gemv_kernel),
      base.programmatic_launch ? "on" : "off", base.fused_decode ? "on" : "off",
      base.attention_mma ? "tensor cores" : "SIMT");
  const double b1 = decode_tok_s(**cx, *model, base, 1, prompt, steps, 16, true, true, &b1_gemv);
  const double b1_eager = decode_tok_s(**cx, *model, base, 1, prompt, steps, 16, false);
  const double b1_nopdl = decode_tok_s(**cx, *model, base, 1, prompt, steps, 16, true, false);
  const double b16 = decode_tok_s(**cx, *model, base, 16, prompt, steps, 16, true);
  const double b16_gemm = decode_tok_s(**cx, *model, base, 16, prompt, steps, 8, true);
  const double serve_b1 = serve_tok_s(**cx, *model, base, 1, prompt, steps);
  const double serve_b16 = serve_tok_s(**cx, *model, base, 16, prompt, steps);
  const double serve_pf = serve_prefill_tok_s(**cx, *model, base, long_T, chunk, true);
  const double serve_pf_simt = serve_prefill_tok_s(**cx, *model, base, long_T, chunk, false);
  // Prefill's NF4 base products take the forward path the generator measures at its rows
  // (infer_options::prefill_gemm_measure, engine/cuda/gemm_choice.h; printed by prefill_tok_s).
  const double pf = prefill_tok_s(**cx, *model, base, prefill_T);
  profile_inference(**cx, *model, base, prompt, prefill_T);
  if (tiny || layers != 32) {
    std::printf("(%lld layers: no METRIC lines)\n", (long long)layers);
    return 0;
  }
  std::printf("METRIC,decode_b1_tok_s,%.3f\n", b1);
  std::printf("METRIC,decode_b1_eager_tok_s,%.3f\n", b1_eager);
  std::printf("METRIC,decode_b1_nopdl_tok_s,%.3f\n", b1_nopdl);
  std::printf("METRIC,decode_b16_tok_s,%.3f\n", b16);
  std::printf("METRIC,decode_b16_gemm_tok_s,%.3f\n", b16_gemm);
  std::printf("METRIC,serve_decode_b1_tok_s,%.3f\n", serve_b1);
  std::printf("METRIC,serve_decode_b16_tok_s,%.3f\n", serve_b16);
  std::printf("METRIC,serve_prefill_4096_tok_s,%.3f\n", serve_pf);
  std::printf("METRIC,serve_prefill_4096_simt_tok_s,%.3f\n", serve_pf_simt);
  std::printf("METRIC,prefill_2048_tok_s,%.3f\n", pf);
  // The work behind each row (engine/cuda/roofline.h).
  for (int64_t B : {int64_t(1), int64_t(16)})
    std::printf("METRIC,work_decode_b%lld_byte_per_tok,%.1f\n", (long long)B,
                decode_bytes_per_token(shape, B, prompt, steps));
  std::printf("METRIC,work_prefill_2048_flop_per_tok,%.1f\n",
              prefill_flops_per_token(shape, prefill_T));
  std::printf("METRIC,work_prefill_4096_flop_per_tok,%.1f\n",
              prefill_flops_per_token(shape, long_T));
  if (b1_gemv.measured) {  // one pass of batch-1 GEMVs over all 128 quantized linears, per kernel
    std::printf("METRIC,gemv_pass_b1_scaled_lut_us,%.3f\n", b1_gemv.us[0]);
    std::printf("METRIC,gemv_pass_b1_register_lut_us,%.3f\n", b1_gemv.us[1]);
  }
  return 0;
}
