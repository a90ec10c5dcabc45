// engine_bench: tokens/s of the CPU engine on a ~125M-parameter random Llama-shape model
// (hidden 768, 12 layers, intermediate 2048, 12 heads, 4 kv heads, vocab 32000), to be compared
// with PyTorch + PEFT on the same weights (bench/cpu/run.sh runs both and prints one table).
// Never run by ctest.
//   kaito_engine_bench write <dir>   HF folder (config.json + model.safetensors, fp32), a PEFT
//                                    adapter exported by engine/peft_adapter (r=8 on q/k/v/o/
//                                    gate/up/down, random B) and check.safetensors (ids + our
//                                    adapter logits, for the PEFT loadability check)
//   kaito_engine_bench run <dir> [B T gen_prompt gen_new]
//                                    times forward (base, B*T tokens), forward+backward (LoRA),
//                                    greedy generation (base, KV cache), 8 concurrent
//                                    generations one by one vs continuously batched, a chat's
//                                    second turn with and without the idle KV cache, and the
//                                    model's GEMM shapes against cblas_sgemm and OpenBLAS's
//                                    large-square peak;
//                                    writes <dir>/ours.json and prints a table. Peak RSS is the
//                                    process's (getrusage) after each phase, in MiB.
//   kaito_engine_bench profile <dir> forward|train|generate <reps> [B T]
//                                    only that phase, reps times (for perf record); prints
//                                    the mean and best seconds per rep
// Threads: the GEMM's (kernels/sgemm_threads.h: KAITO_NUM_THREADS, else OPENBLAS_NUM_THREADS...);
// elementwise kernels run on one thread.
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "engine/batch_generator.h"
#include "engine/generate.h"
#include "engine/lora_adapter.h"
#include "engine/model_weights.h"
#include "engine/peft_adapter.h"
#include "engine/safetensors.h"
#include "engine/sequence_decoder.h"
#include "engine/served_lora.h"
#include "engine/transformer.h"
#include "kernels/gemm.h"
#include "kernels/rng.h"
#include "kernels/sgemm_avx512.h"
#include "kernels/sgemm_threads.h"

#if KAITO_HAVE_BLAS
#include <cblas.h>
#endif

namespace {

using namespace kaito;
using namespace kaito::engine;
using clock_type = std::chrono::steady_clock;

const char* k_config = R"({"architectures":["LlamaForCausalLM"],"model_type":"llama",
  "vocab_size":32000,"hidden_size":768,"intermediate_size":2048,"num_hidden_layers":12,
  "num_attention_heads":12,"num_key_value_heads":4,"max_position_embeddings":2048,
  "rms_norm_eps":1e-5,"rope_theta":10000.0,"tie_word_embeddings":false,"hidden_act":"silu",
  "attention_bias":false,"mlp_bias":false,"torch_dtype":"float32","bos_token_id":1,
  "eos_token_id":2})";

double seconds(const std::function<void()>& fn, int reps) {
  fn();  // warm-up
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = clock_type::now();
    fn();
    best = std::min(best, std::chrono::duration<double>(clock_type::now() - t0).count());
  }
  return best;
}

double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // KiB on Linux
}

std::vector<float> uniform(int64_t n, uint64_t seed, float std_dev) {
  const float amp = std_dev * std::sqrt(3.0f);  // uniform(-a, a) has std a/sqrt(3)
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = amp * (2.0f * rng_uniform(seed, i) - 1.0f);
  return v;
}

std::vector<int32_t> token_ids(int64_t n, uint64_t seed, int64_t vocab) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[size_t(i)] = int32_t(3 + rng_bits(seed, i) % (vocab - 3));
  return ids;
}

int write_folder(const std::string& dir) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/config.json") << k_config;
  const model_config c = parse_model_config(k_config).value();
  const int64_t C = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const int64_t q = c.num_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim;
  std::vector<std::pair<std::string, std::pair<std::vector<int64_t>, std::vector<float>>>> sd;
  uint64_t tag = 0;
  auto add = [&](std::string name, std::vector<int64_t> shape, float std_dev, float center) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    auto v = uniform(n, rng_derive(1234, ++tag), std_dev);
    for (float& x : v) x += center;
    sd.push_back({std::move(name), {std::move(shape), std::move(v)}});
  };
  add("model.embed_tokens.weight", {V, C}, 0.02f, 0.0f);
  add("model.norm.weight", {C}, 0.05f, 1.0f);
  add("lm_head.weight", {V, C}, 0.02f, 0.0f);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {C}, 0.05f, 1.0f);
    add(p + "post_attention_layernorm.weight", {C}, 0.05f, 1.0f);
    add(p + "self_attn.q_proj.weight", {q, C}, 0.02f, 0.0f);
    add(p + "self_attn.k_proj.weight", {kv, C}, 0.02f, 0.0f);
    add(p + "self_attn.v_proj.weight", {kv, C}, 0.02f, 0.0f);
    add(p + "self_attn.o_proj.weight", {C, q}, 0.02f, 0.0f);
    add(p + "mlp.gate_proj.weight", {I, C}, 0.02f, 0.0f);
    add(p + "mlp.up_proj.weight", {I, C}, 0.02f, 0.0f);
    add(p + "mlp.down_proj.weight", {C, I}, 0.02f, 0.0f);
  }
  std::vector<st_write_entry> entries;
  int64_t params = 0;
  for (const auto& [name, t] : sd) {
    entries.push_back(st_f32_entry(name, t.first, t.second));
    params += static_cast<int64_t>(t.second.size());
  }
  if (auto s = write_safetensors(dir + "/model.safetensors", entries, {{"format", "pt"}}); !s.ok())
    return std::fprintf(stderr, "%s\n", s.to_string().c_str()), 1;
  sd.clear();
  // The adapter, exported by our engine.
  auto m = load_model(dir).value();
  lora_config lc;
  lc.r = 8;
  lc.alpha = 16;
  lc.target_modules = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  lora_adapter a = lora_create(m->config, lc, 7).value();
  for (size_t i = 0; i < a.modules.size(); ++i)
    a.modules[i].B = uniform(int64_t(a.modules[i].B.size()), rng_derive(99, i), 0.02f);
  if (auto s = save_peft_adapter(dir + "/adapter", a, dir); !s.ok())
    return std::fprintf(stderr, "%s\n", s.to_string().c_str()), 1;
  // Our adapter logits on fixed ids, for hf_peer.py's PeftModel check.
  batch b;
  b.B = 1;
  b.T = 32;
  b.ids = token_ids(b.T, 5, V);
  forward_state st;
  if (auto s = model_forward(*m, &a, b, {}, &st); !s.ok())
    return std::fprintf(stderr, "%s\n", s.to_string().c_str()), 1;
  std::vector<int64_t> ids64(b.ids.begin(), b.ids.end());
  std::vector<st_write_entry> check = {
      {"input_ids",
       st_dtype::i64,
       {1, b.T},
       std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(ids64.data()), ids64.size() * 8)},
      st_f32_entry("lora_logits", {1, b.T, V}, st.logits)};
  if (auto s = write_safetensors(dir + "/check.safetensors", check); !s.ok())
    return std::fprintf(stderr, "%s\n", s.to_string().c_str()), 1;
  std::printf("wrote %s: %.1fM parameters, adapter %lld parameters\n", dir.c_str(), params / 1e6,
              static_cast<long long>(a.num_params()));
  return 0;
}

// GEMM rows: gemm_forward_cpu against a direct cblas_sgemm on the model's shapes (N tokens).
std::string gemm_table(int64_t N, const model_config& c) {
  std::string out;
#if KAITO_HAVE_BLAS
  auto gflops = [](double flop, double s) { return flop / s / 1e9; };
  const int64_t S = 1024;
  std::vector<float> a = uniform(S * S, 1, 1.0f), b = uniform(S * S, 2, 1.0f), cc(size_t(S * S));
  const double peak =
      gflops(2.0 * S * S * S, seconds(
                                  [&] {
                                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(S),
                                                int(S), int(S), 1.0f, a.data(), int(S), b.data(),
                                                int(S), 0.0f, cc.data(), int(S));
                                  },
                                  3));
  char line[256];
  std::snprintf(line, sizeof line, "  \"gemm_peak_gflops\": %.2f,\n  \"gemm\": [\n", peak);
  out += line;
  const int64_t C = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const int64_t QKV = (c.num_heads + 2 * c.num_kv_heads) * c.head_dim;
  const int64_t shapes[][2] = {{C, QKV}, {C, C}, {C, 2 * I}, {I, C}, {C, V}};
  const char* names[] = {"qkv", "o", "gate_up", "down", "lm_head"};
  for (int k = 0; k < 5; ++k) {
    const int64_t K = shapes[k][0], M = shapes[k][1];
    auto x = uniform(N * K, 3, 1.0f), w = uniform(M * K, 4, 0.02f);
    std::vector<float> y(size_t(N * M));
    const double flop = 2.0 * N * K * M;
    const double ours =
        seconds([&] { gemm_forward_cpu(y.data(), x.data(), w.data(), nullptr, N, K, M); }, 3);
    const double blas = seconds(
        [&] {
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(N), int(M), int(K), 1.0f,
                      x.data(), int(K), w.data(), int(K), 0.0f, y.data(), int(M));
        },
        3);
    std::snprintf(line, sizeof line,
                  "    {\"op\": \"%s\", \"shape\": \"%lldx%lldx%lld\", \"ours_gflops\": %.2f, "
                  "\"blas_gflops\": %.2f}%s\n",
                  names[k], (long long)N, (long long)K, (long long)M, gflops(flop, ours),
                  gflops(flop, blas), k < 4 ? "," : "");
    out += line;
  }
  out += "  ],\n";
#else
  (void)N;
  (void)c;
#endif
  return out;
}

int run(const std::string& dir, int64_t B, int64_t T, int64_t gen_prompt, int64_t gen_new) {
  const auto t_load = clock_type::now();
  auto mr = load_model(dir);
  if (!mr.ok()) return std::fprintf(stderr, "%s\n", mr.error().to_string().c_str()), 1;
  const model& m = *mr.value();
  const double load_s = std::chrono::duration<double>(clock_type::now() - t_load).count();
  const double rss_load = peak_rss_mib();
  auto ar = load_peft_adapter(dir + "/adapter", m.config);
  if (!ar.ok()) return std::fprintf(stderr, "%s\n", ar.error().to_string().c_str()), 1;
  lora_adapter a = std::move(ar.value());
  const int64_t V = m.config.vocab_size;

  batch b;
  b.B = B;
  b.T = T;
  b.ids = token_ids(B * T, 11, V);
  forward_state st;
  const double fwd = seconds([&] { (void)model_forward(m, nullptr, b, {}, &st); }, 3);
  const double rss_fwd = peak_rss_mib();

  batch bl = b;
  bl.labels = bl.ids;
  const double fwd_bwd = seconds(
      [&] {
        a.zero_grad();
        (void)model_forward(m, &a, bl, {}, &st);
        (void)model_backward(m, &a, bl, st);
      },
      3);
  const double rss_train = peak_rss_mib();
  st = forward_state{};

  const std::vector<int32_t> prompt = token_ids(gen_prompt, 13, V);
  generate_options go;
  go.max_new_tokens = gen_new;
  size_t produced = 0;
  const double gen = seconds(
      [&] {
        auto r = generate_greedy(m, nullptr, prompt, go);
        produced = r.ok() ? r.value().size() : 0;
      },
      2);
  const double rss_gen = peak_rss_mib();

  // Serving: 8 clients at once, one after another through generate() vs decoded together by the
  // batch_generator (continuous batching), greedy, the same prompts; aggregate tokens/s.
  constexpr int kClients = 8;
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < kClients; ++i) prompts.push_back(token_ids(gen_prompt, 100 + i, V));
  size_t seq_tokens = 0, batched_tokens = 0;
  const double sequential = seconds(
      [&] {
        seq_tokens = 0;
        for (const auto& p : prompts)
          seq_tokens += generate_greedy(m, nullptr, p, go).value().size();
      },
      1);
  // The clients at once on one batch_generator (client i with lora_of(i)); the tokens they got.
  auto serve_clients = [&](batch_generator& g, const std::function<served_lora_ptr(int)>& lora_of) {
    std::vector<std::thread> clients;
    std::vector<size_t> got(kClients, 0);
    for (int i = 0; i < kClients; ++i)
      clients.emplace_back([&, i] {
        generate_options o = go;
        o.lora = lora_of(i);
        got[i] = g.generate(prompts[i], o).value().size();
      });
    for (auto& t : clients) t.join();
    size_t total = 0;
    for (size_t n : got) total += n;
    return total;
  };
  batch_generator batcher(m, {.max_batch = kClients});
  const double batched = seconds(
      [&] { batched_tokens = serve_clients(batcher, [](int) { return served_lora_ptr(); }); }, 1);

  // The same 8 clients, each with one of 4 LoRA modules (the bench adapter under 4 names), decoded
  // together unmerged (multi-LoRA serving): the adapters' cost over serve_batched.
  std::vector<served_lora_ptr> modules;
  for (int k = 0; k < 4; ++k) {
    auto l = std::make_shared<served_lora>();
    l->name = "lora" + std::to_string(k);
    l->id = uint64_t(k + 1);
    l->lora = a;
    modules.push_back(std::move(l));
  }
  size_t lora_tokens = 0;
  batch_generator lora_batcher(m, {.max_batch = kClients});
  const double lora_batched = seconds(
      [&] {
        lora_tokens = serve_clients(lora_batcher, [&](int i) { return modules[size_t(i % 4)]; });
      },
      1);

  // n choices: 4 eight-token answers to one 4 x gen_prompt-token prompt (one prefill, the other
  // three caches copied from the first answer while it runs: fork_prefix) vs to 4 different
  // prompts of that length (4 prefills).
  constexpr int kChoices = 4;
  generate_options one = go;
  one.max_new_tokens = 8;
  const std::vector<int32_t> shared = token_ids(4 * gen_prompt, 300, V);
  std::vector<std::vector<int32_t>> distinct;
  for (int i = 0; i < kChoices; ++i) distinct.push_back(token_ids(4 * gen_prompt, 400 + i, V));
  // (no idle cache: each repetition's prompts would find the one before's)
  batch_generator chooser(m.config, make_cpu_decoder(m, kChoices, 0),
                          {.max_batch = kChoices, .prefill_chunk = 0});
  auto choices = [&](bool same) {
    return seconds(
        [&] {
          std::vector<std::thread> clients;
          for (int i = 0; i < kChoices; ++i)
            clients.emplace_back(
                [&, i] { (void)chooser.generate(same ? shared : distinct[i], one); });
          for (auto& t : clients) t.join();
        },
        2);
  };
  const double n_distinct = choices(false), n_shared = choices(true);

  // A chat's second turn: the first turn's 4 x gen_prompt-token prompt and 8-token answer again,
  // then gen_prompt new tokens; its first token with the ended first turn's cache kept (the
  // idle cache: only the new tokens prefilled) vs without (the whole conversation prefilled).
  const std::vector<int32_t> turn1 = token_ids(4 * gen_prompt, 500, V);
  auto turn2_first_token = [&](int64_t idle_bytes) {
    double best = 1e30;
    for (int rep = 0; rep < 3; ++rep) {  // a fresh generator each time: turn 1, then turn 2
      batch_generator chat(m.config, make_cpu_decoder(m, 1, idle_bytes), {.max_batch = 1});
      std::vector<int32_t> turn2 = turn1;
      const std::vector<int32_t> answer = chat.generate(turn1, one).value();
      turn2.insert(turn2.end(), answer.begin(), answer.end());
      for (int32_t t : token_ids(gen_prompt, 600 + rep, V)) turn2.push_back(t);
      generate_options first = go;
      first.max_new_tokens = 1;
      const auto t0 = clock_type::now();
      auto r = chat.generate(turn2, first);
      const double s = std::chrono::duration<double>(clock_type::now() - t0).count();
      if (!r.ok()) std::fprintf(stderr, "turn 2: %s\n", r.error().to_string().c_str());
      best = std::min(best, s);
    }
    return best;
  };
  const double turn2_cached = turn2_first_token(kDefaultIdleKvBytes);
  const double turn2_uncached = turn2_first_token(0);

  const double tokens = static_cast<double>(B * T);
  std::string json = "{\n";
  char line[2048];
  std::snprintf(
      line, sizeof line,
      "  \"B\": %lld, \"T\": %lld, \"gen_prompt\": %lld, \"gen_new\": %zu,\n"
      "  \"load_s\": %.3f, \"rss_load_mib\": %.1f,\n"
      "  \"forward_tok_s\": %.2f, \"forward_rss_mib\": %.1f,\n"
      "  \"fwd_bwd_tok_s\": %.2f, \"fwd_bwd_rss_mib\": %.1f,\n"
      "  \"generate_tok_s\": %.2f, \"generate_rss_mib\": %.1f,\n"
      "  \"serve_clients\": %d, \"serve_sequential_tok_s\": %.2f,"
      " \"serve_batched_tok_s\": %.2f, \"serve_batched_4_loras_tok_s\": %.2f,\n"
      "  \"n4_prompt\": %lld, \"n4_distinct_prompts_s\": %.4f, \"n4_one_prompt_s\": %.4f,\n"
      "  \"turn2_prompt\": %lld, \"turn2_first_token_cached_s\": %.4f,"
      " \"turn2_first_token_uncached_s\": %.4f,\n",
      (long long)B, (long long)T, (long long)gen_prompt, produced, load_s, rss_load, tokens / fwd,
      rss_fwd, tokens / fwd_bwd, rss_train, static_cast<double>(produced) / gen, rss_gen, kClients,
      static_cast<double>(seq_tokens) / sequential, static_cast<double>(batched_tokens) / batched,
      static_cast<double>(lora_tokens) / lora_batched, (long long)(4 * gen_prompt), n_distinct,
      n_shared, (long long)(5 * gen_prompt + 8), turn2_cached, turn2_uncached);
  json += line;
  json += gemm_table(B * T, m.config);
#if KAITO_HAVE_BLAS
  json += std::string("  \"openblas_core\": \"") + openblas_get_corename() + "\",\n";
#endif
  std::snprintf(line, sizeof line, "  \"sgemm\": \"%s, %d threads\",\n",
                sgemm_avx512_available() ? "kaito AVX-512 sgemm" : "OpenBLAS / plain loops",
                sgemm_threads());
  json += line;
  json += "  \"engine\": \"kaito\"\n}\n";
  std::ofstream(dir + "/ours.json") << json;
  std::printf("%s", json.c_str());
  return 0;
}

// One phase (forward | train | generate) `reps` times and nothing else, for `perf record`.
int profile(const std::string& dir, const std::string& phase, int reps, int64_t B, int64_t T) {
  auto mr = load_model(dir);
  if (!mr.ok()) return std::fprintf(stderr, "%s\n", mr.error().to_string().c_str()), 1;
  const model& m = *mr.value();
  auto ar = load_peft_adapter(dir + "/adapter", m.config);
  if (!ar.ok()) return std::fprintf(stderr, "%s\n", ar.error().to_string().c_str()), 1;
  lora_adapter a = std::move(ar.value());
  batch b;
  b.B = B;
  b.T = T;
  b.ids = token_ids(B * T, 11, m.config.vocab_size);
  b.labels = b.ids;
  forward_state st;
  generate_options go;
  go.max_new_tokens = 64;
  const std::vector<int32_t> prompt = token_ids(32, 13, m.config.vocab_size);
  double total = 0.0, best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = clock_type::now();
    if (phase == "forward") {  // as run(): logits only, no labels (no loss)
      batch fb = b;
      fb.labels.clear();
      (void)model_forward(m, nullptr, fb, {}, &st);
    } else if (phase == "train") {
      a.zero_grad();
      (void)model_forward(m, &a, b, {}, &st);
      (void)model_backward(m, &a, b, st);
    } else if (phase == "generate") {
      (void)generate_greedy(m, nullptr, prompt, go);
    } else {
      return std::fprintf(stderr, "unknown phase %s\n", phase.c_str()), 2;
    }
    const double s = std::chrono::duration<double>(clock_type::now() - t0).count();
    total += s;
    best = std::min(best, s);
  }
  if (reps > 0)
    std::printf("%s: %.4f s per rep (mean of %d), best %.4f s\n", phase.c_str(), total / reps, reps,
                best);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::string(argv[1]) == "write") return write_folder(argv[2]);
  if (argc >= 3 && std::string(argv[1]) == "run") {
    auto arg = [&](int i, int64_t d) { return argc > i ? std::atoll(argv[i]) : d; };
    return run(argv[2], arg(3, 2), arg(4, 128), arg(5, 32), arg(6, 64));
  }
  if (argc >= 5 && std::string(argv[1]) == "profile") {
    auto arg = [&](int i, int64_t d) { return argc > i ? std::atoll(argv[i]) : d; };
    return profile(argv[2], argv[3], int(arg(4, 10)), arg(5, 2), arg(6, 128));
  }
  std::fprintf(stderr,
               "usage: kaito_engine_bench write <dir> | run <dir> [B T prompt new] | profile <dir> "
               "forward|train|generate <reps> [B T]\n");
  return 2;
}
