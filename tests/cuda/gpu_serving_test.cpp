// gpu_serving_test: chats answered on the GPU (engine/cuda_hf/gpu_sequence_decoder.h under
// engine/batch_generator.h and engine/chat_service.h) on the tiny Phi-3 chat folder
// (tests/engine/tiny_chat_model.h), against the CPU engine on the same folder:
//   - a prompt's first logits within bf16 reach of the CPU's (bf16 weights and activations);
//   - greedy answers equal the CPU's token for token while no near-tie is passed;
//   - concurrent answers on the GPU equal the same answers one at a time (each on its own slot at
//     its own length, the others joining and leaving), and go on when a small KV pool makes the
//     batcher preempt and re-prefill them; a repeated prompt's whole blocks come from the
//     prefix cache;
//   - chat_service on the GPU: a chat's text and usage, the served context, the paged KV pool;
//   - the NF4 base (--quantize nf4) against the CPU engine's NF4 quantization of the folder;
//   - two adapters at their strengths (one LoRA at run time, engine/lora_combine.h) against the
//     CPU engine's merge of both; a bad strength refused by name; the KV pool sized from free
//     memory.
// Runs on the emulated CUDA runtime in CI (gpu_serving_emu_test) and on a GPU (exit 77 without
// one).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "engine/batch_generator.h"
#include "engine/chat_service.h"
#include "engine/cuda_hf/gpu_sequence_decoder.h"
#include "engine/lora_adapter.h"
#include "engine/lora_merge.h"
#include "engine/model_config.h"
#include "engine/model_weights.h"
#include "engine/peft_adapter.h"
#include "engine/sequence_decoder.h"
#include "tests/cuda/gtest_device.h"
#include "tests/engine/forwarding_decoder.h"
#include "tests/engine/tiny_chat_model.h"

namespace kaito {
namespace {

class GpuServing : public testing::cuda_fixture {
 protected:
  void SetUp() override {
    testing::cuda_fixture::SetUp();
    if (IsSkipped()) return;
    dir_ = testing::tiny_chat_model_folder("gpu-serving");
    auto c = engine::load_model_config(dir_);
    ASSERT_TRUE(c.ok()) << c.error().to_string();
    config_ = *c;
  }
  std::unique_ptr<engine::sequence_decoder> gpu_decoder(int64_t max_batch) {
    gpu::gpu_serving_options o;
    o.model_dir = dir_;
    o.max_batch = max_batch;
    o.prefill_chunk = 16;  // prompts go in several chunks
    auto d = gpu::make_gpu_sequence_decoder(o, config_);
    EXPECT_TRUE(d.ok()) << d.error().to_string();
    return d.ok() ? std::move(*d) : nullptr;
  }
  std::string dir_;
  engine::model_config config_;
};

std::vector<int32_t> prompt_of(int64_t n, int32_t seed, int64_t V) {
  std::vector<int32_t> p;
  for (int64_t i = 0; i < n; ++i) p.push_back(int32_t((seed * 131 + i * 17) % (V - 4) + 3));
  return p;
}

// Answer b (tokens, the V logits each was drawn from) follows answer a: the same length, each
// step's logits within 3e-2 of max |a's logit|, the same tokens up to a near tie (a token that
// differs must be within that of a's pick in a's logits; the rest is then not compared, as the
// answers part there). Returns the tokens equal before any difference.
int64_t expect_follows(const std::vector<int32_t>& a, const std::vector<float>& la_all,
                       const std::vector<int32_t>& b, const std::vector<float>& lb_all, int64_t V,
                       const std::string& what) {
  EXPECT_EQ(b.size(), a.size()) << what;
  int64_t same = 0;
  for (size_t k = 0; k < std::min(a.size(), b.size()); ++k) {
    const float* la = la_all.data() + k * size_t(V);
    const float* lb = lb_all.data() + k * size_t(V);
    double ref = 0.0, err = 0.0;
    for (int64_t v = 0; v < V; ++v) {
      ref = std::max(ref, std::fabs(double(la[v])));
      err = std::max(err, std::fabs(double(la[v]) - double(lb[v])));
    }
    EXPECT_LT(err, 3e-2 * ref) << what << " token " << k;
    if (a[k] != b[k]) {  // only a near tie may tip
      EXPECT_LT(std::fabs(la[a[k]] - la[b[k]]), 3e-2 * ref) << what << " token " << k;
      break;
    }
    ++same;
  }
  return same;
}

TEST_F(GpuServing, FirstLogitsAndGreedyTokensFollowTheCpuEngine) {
  auto cpu_model = engine::load_model(dir_);
  ASSERT_TRUE(cpu_model.ok()) << cpu_model.error().to_string();
  auto cpu = engine::make_cpu_decoder(**cpu_model, 1);
  auto gpu = gpu_decoder(1);
  ASSERT_NE(gpu, nullptr);
  EXPECT_EQ(gpu->max_len(), config_.max_position_embeddings);  // 256 positions fit easily
  EXPECT_EQ(gpu->max_prefill(), 16);
  EXPECT_TRUE(gpu->kv_preallocated());
  EXPECT_EQ(gpu->kv_bytes_per_token(), config_.num_layers * 2 * config_.hidden_size * 2);
  const int64_t V = config_.vocab_size;
  const std::vector<int32_t> prompt = prompt_of(37, 5, V);
  std::vector<float> lc, lg;
  // the prompt in chunks of 16 on the GPU, at once on the CPU
  cpu->reset(0);
  ASSERT_TRUE(cpu->prefill(0, prompt.data(), 37, 37, &lc).ok());
  gpu->reset(0);
  for (int64_t at = 0; at < 37; at += 16)
    ASSERT_TRUE(gpu->prefill(0, prompt.data() + at, std::min<int64_t>(16, 37 - at), 37, &lg).ok());
  int64_t same = 0;
  for (int step = 0; step < 12; ++step) {
    ASSERT_EQ(lc.size(), size_t(V));
    ASSERT_EQ(lg.size(), size_t(V));
    double ref = 0.0, err = 0.0;
    for (int64_t v = 0; v < V; ++v) {
      ref = std::max(ref, std::fabs(double(lc[size_t(v)])));
      err = std::max(err, std::fabs(double(lc[size_t(v)]) - double(lg[size_t(v)])));
    }
    EXPECT_LT(err, 3e-2 * ref) << "step " << step;
    const auto c_best = int32_t(std::max_element(lc.begin(), lc.end()) - lc.begin());
    const auto g_best = int32_t(std::max_element(lg.begin(), lg.end()) - lg.begin());
    if (c_best != g_best) {  // only a near-tie may flip
      EXPECT_LT(std::fabs(lc[size_t(c_best)] - lc[size_t(g_best)]), 3e-2 * ref) << "step " << step;
      break;
    }
    ++same;
    ASSERT_TRUE(cpu->decode({0}, {c_best}, &lc).ok());
    ASSERT_TRUE(gpu->decode({0}, {g_best}, &lg).ok());
  }
  EXPECT_GE(same, 4);
}

TEST_F(GpuServing, ConcurrentAnswersEqualTheSameAnswersAlone) {
  auto gpu = gpu_decoder(3);
  ASSERT_NE(gpu, nullptr);
  engine::batch_generator g(config_, std::move(gpu), {.max_batch = 3, .prefill_chunk = 8});
  const int64_t V = config_.vocab_size;
  std::vector<std::vector<int32_t>> prompts;
  std::vector<engine::generate_options> opts(5);
  for (int i = 0; i < 5; ++i) {
    prompts.push_back(prompt_of(5 + 9 * i, i + 1, V));
    opts[size_t(i)].max_new_tokens = 6 + 2 * i;
    if (i % 2 == 1) {  // seeded sampling on some
      opts[size_t(i)].sampling.temperature = 0.8;
      opts[size_t(i)].sampling.seed = uint64_t(40 + i);
    }
  }
  std::vector<std::vector<int32_t>> alone(5), together(5);
  for (int i = 0; i < 5; ++i) {
    auto r = g.generate(prompts[size_t(i)], opts[size_t(i)]);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    alone[size_t(i)] = *r;
    EXPECT_EQ(int64_t(r->size()), opts[size_t(i)].max_new_tokens);
  }
  std::vector<std::thread> threads;
  for (int i = 0; i < 5; ++i)
    threads.emplace_back([&, i] {
      auto r = g.generate(prompts[size_t(i)], opts[size_t(i)]);
      if (r.ok()) together[size_t(i)] = *r;
    });
  for (auto& t : threads) t.join();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(together[size_t(i)], alone[size_t(i)]) << "answer " << i;
  EXPECT_GE(g.load().peak_running, 2);
}

// A pool of 5 blocks (80 positions) for 3 answers of 50 tokens (4 blocks each): two cannot grow
// together, so the batcher preempts the newest and prefills it again later (its prompt and
// answer so far). The first decode step waits until all three are queued (forwarding_decoder's
// hold), so the schedule, and the preemption, happen on every run. Each greedy answer follows
// its alone run: the same tokens, each step's logits within bf16 reach, up to a near tie the
// re-prefill's other summation order may tip (then the rest is not compared).
TEST_F(GpuServing, APagedPoolPreemptsAndAnswersGoOn) {
  gpu::gpu_serving_options so;
  so.model_dir = dir_;
  so.max_batch = 3;
  so.prefill_chunk = 16;
  so.kv_blocks = 5;
  so.min_len = 64;
  auto made = gpu::make_gpu_sequence_decoder(so, config_);
  ASSERT_TRUE(made.ok()) << made.error().to_string();
  EXPECT_EQ((*made)->kv_blocks(), 5);
  EXPECT_EQ((*made)->max_len(), 80);
  auto held = std::make_unique<testing::forwarding_decoder>(std::move(*made));
  testing::forwarding_decoder* hold = held.get();
  engine::batch_generator g(config_, std::move(held), {.max_batch = 3, .prefill_chunk = 16});
  const int64_t V = config_.vocab_size;
  std::vector<std::vector<int32_t>> prompts;
  std::vector<engine::generate_options> opts(3);
  for (int i = 0; i < 3; ++i) {
    prompts.push_back(prompt_of(20 + 5 * i, 7 + i, V));
    opts[size_t(i)].max_new_tokens = 30 - 5 * i;  // 50 tokens each
  }
  std::vector<std::vector<int32_t>> alone(3), together(3);
  std::vector<std::vector<float>> alone_logits(3), together_logits(3);
  for (int i = 0; i < 3; ++i) {
    engine::generate_options o = opts[size_t(i)];
    o.step_logits = &alone_logits[size_t(i)];
    auto r = g.generate(prompts[size_t(i)], o);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    alone[size_t(i)] = *r;
  }
  EXPECT_EQ(g.load().preemptions, 0);  // one at a time fits
  hold->hold_first_decode([&] { return g.load().waiting + g.load().running == 3; });
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i)
    threads.emplace_back([&, i] {
      engine::generate_options o = opts[size_t(i)];
      o.step_logits = &together_logits[size_t(i)];
      auto r = g.generate(prompts[size_t(i)], o);
      if (r.ok()) together[size_t(i)] = *r;
      if (!r.ok()) ADD_FAILURE() << "answer " << i << ": " << r.error().to_string();
    });
  for (auto& t : threads) t.join();
  EXPECT_GT(g.load().preemptions, 0);
  EXPECT_TRUE(g.failure().ok()) << g.failure().to_string();
  int64_t same = 0;
  for (int i = 0; i < 3; ++i)
    same += expect_follows(alone[size_t(i)], alone_logits[size_t(i)], together[size_t(i)],
                           together_logits[size_t(i)], V, "answer " + std::to_string(i));
  std::printf("%lld preemptions; %lld of 75 tokens as alone before any near tie\n",
              static_cast<long long>(g.load().preemptions), static_cast<long long>(same));
}

// Prefix caching: the same 40-token prompt twice; the second time its first 32 tokens (two
// whole blocks of 16, fewer than 40) come from the cache and 8 are computed. The answer follows
// the first one (each step's logits within bf16 reach, tokens equal up to a near tie), and
// the generator counts 80 tokens looked up, 32 found. Off: nothing found.
TEST_F(GpuServing, ARepeatedPromptReusesItsCachedBlocks) {
  for (const bool caching : {true, false}) {
    gpu::gpu_serving_options so;
    so.model_dir = dir_;
    so.max_batch = 2;
    so.prefill_chunk = 16;
    so.prefix_caching = caching;
    auto made = gpu::make_gpu_sequence_decoder(so, config_);
    ASSERT_TRUE(made.ok()) << made.error().to_string();
    engine::batch_generator g(config_, std::move(*made), {.max_batch = 2, .prefill_chunk = 16});
    const int64_t V = config_.vocab_size;
    const std::vector<int32_t> prompt = prompt_of(40, 11, V);
    std::vector<int32_t> answer[2];
    std::vector<float> logits[2];
    for (int i = 0; i < 2; ++i) {
      engine::generate_options o;
      o.max_new_tokens = 8;
      o.step_logits = &logits[i];
      auto r = g.generate(prompt, o);
      ASSERT_TRUE(r.ok()) << r.error().to_string();
      answer[i] = *r;
    }
    EXPECT_EQ(g.load().prefix_queries, 80);
    EXPECT_EQ(g.load().prefix_hits, caching ? 32 : 0);
    expect_follows(answer[0], logits[0], answer[1], logits[1], V,
                   caching ? "cached prefix" : "no cache");
  }
}

TEST_F(GpuServing, ChatServiceAnswersOnTheGpu) {
  engine::chat_service_config cfg;
  cfg.model_dir = dir_;
  cfg.max_batch = 2;
  cfg.max_model_len = 200;
  cfg.merged_names = {{"merged", dir_}};  // (the model's other name, as for one merged adapter)
  cfg.make_decoder = [](const engine::chat_service_config& c, const engine::model_config& mc) {
    gpu::gpu_serving_options o;
    o.model_dir = c.model_dir;
    o.adapter_dirs = c.adapter_dirs;
    o.max_batch = c.max_batch;
    o.context = c.max_model_len;
    return gpu::make_gpu_sequence_decoder(o, mc);
  };
  auto s = engine::chat_service::load(cfg);
  ASSERT_TRUE(s.ok()) << s.error().to_string();
  EXPECT_EQ((*s)->context_length(), 200);
  EXPECT_EQ((*s)->kv_bytes_per_token(), config_.num_layers * 2 * config_.hidden_size * 2);
  // allocated up front, no budget: a pool of blocks of 16 for 2 answers of 200 (208 each)
  EXPECT_EQ((*s)->limit_kv_cache(1000), 2 * 208);
  nlohmann::ordered_json messages = nlohmann::ordered_json::array(
      {{{"role", "user"}, {"content", "What is the capital of France?"}}});
  engine::chat_options o;
  o.max_tokens = 10;
  std::string streamed;
  auto a = (*s)->chat(messages, o, [&](const std::string& piece) {
    streamed += piece;
    return true;
  });
  ASSERT_TRUE(a.ok()) << a.error().to_string();
  EXPECT_GT(a->prompt_tokens, 5);
  EXPECT_GE(a->completion_tokens, 1);
  EXPECT_EQ(streamed, a->text);
  auto again = (*s)->chat(messages, o);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->text, a->text);  // greedy: the same answer
  // The GPU engine merges adapters: no LoRA modules to load; the model's other name answers.
  EXPECT_EQ((*s)->load_lora({"x", dir_}).code(), status_code::unimplemented);
  engine::chat_options named = o;
  named.lora = "merged";
  auto as_named = (*s)->chat(messages, named);
  ASSERT_TRUE(as_named.ok()) << as_named.error().to_string();
  EXPECT_EQ(as_named->text, a->text);
  named.lora = "x";
  EXPECT_EQ((*s)->chat(messages, named).error().code(), status_code::not_found);
  // a longer chat twice: the second time the prompt's whole blocks of 16 (fewer than all its
  // tokens) come from the prefix cache, reported as OpenAI's cached_tokens
  messages[0]["content"] = "Kubernetes runs containers on machines. What runs the machines?";
  auto one = (*s)->chat(messages, o);
  auto two = (*s)->chat(messages, o);
  ASSERT_TRUE(one.ok() && two.ok());
  ASSERT_GT(one->prompt_tokens, 16);
  EXPECT_EQ(one->cached_tokens, 0);
  EXPECT_EQ(two->cached_tokens, (one->prompt_tokens - 1) / 16 * 16);
  EXPECT_EQ(two->text, one->text);
}

// The first logits of a prompt: the CPU decoder on `m`, the GPU's on the folder with adapters.
void first_logits(engine::sequence_decoder& d, const std::vector<int32_t>& prompt,
                  std::vector<float>* out) {
  d.reset(0);
  const int64_t P = int64_t(prompt.size());
  const int64_t step = d.max_prefill() > 0 ? d.max_prefill() : P;
  for (int64_t at = 0; at < P; at += step)
    ASSERT_TRUE(d.prefill(0, prompt.data() + at, std::min(step, P - at), P, out).ok());
}

double rel(const std::vector<float>& want, const std::vector<float>& got) {
  double ref = 0.0, err = want.size() == got.size() ? 0.0 : INFINITY;
  for (size_t i = 0; i < want.size() && i < got.size(); ++i) {
    ref = std::max(ref, std::fabs(double(want[i])));
    err = std::max(err, std::fabs(double(want[i]) - double(got[i])));
  }
  return ref > 0.0 ? err / ref : err;
}

TEST_F(GpuServing, Nf4BaseFollowsTheCpuEnginesNf4) {
  // --quantize nf4: the base linears NF4 with double quantization (QLoRA's base) instead of bf16,
  // against the CPU engine on the same quantization (nf4_quantize_linears; it quantizes the fp32
  // weights where the GPU quantizes their bf16 rounding, so a few codes may differ)
  auto cpu_model = engine::load_model(dir_);
  ASSERT_TRUE(cpu_model.ok());
  engine::model full = **cpu_model, quantized = **cpu_model;
  engine::nf4_quantize_linears(&quantized, /*double_quant=*/true);
  auto cpu_full = engine::make_cpu_decoder(full, 1);
  auto cpu_nf4 = engine::make_cpu_decoder(quantized, 1);
  const std::vector<int32_t> prompt = prompt_of(19, 4, config_.vocab_size);
  std::vector<float> want, want_full, got;
  first_logits(*cpu_nf4, prompt, &want);
  first_logits(*cpu_full, prompt, &want_full);
  gpu::gpu_serving_options o;
  o.model_dir = dir_;
  o.max_batch = 1;
  o.quantized_base = true;
  auto q = gpu::make_gpu_sequence_decoder(o, config_);
  ASSERT_TRUE(q.ok()) << q.error().to_string();
  first_logits(**q, prompt, &got);
  const double err = rel(want, got), from_full = rel(want_full, got);
  std::printf("NF4 base: GPU vs the CPU engine's NF4 %.3g, vs the unquantized CPU engine %.3g\n",
              err, from_full);
  // (measured 0.074 emulated: bf16 activations, and the bf16 rounding before quantization moves
  // a few of this 64-wide model's codes across a boundary)
  EXPECT_LT(err, 0.1);
  EXPECT_LT(2 * err, from_full);  // the NF4 quantization ran, and it is the CPU engine's
  std::vector<float> lg;
  for (int step = 0; step < 4; ++step) {  // and it decodes
    ASSERT_TRUE((*q)->decode({0}, {int32_t(3 + step)}, &lg).ok());
    ASSERT_EQ(lg.size(), size_t(config_.vocab_size));
  }
}

TEST_F(GpuServing, AdaptersAtTheirStrengthsFollowTheCpuMerge) {
  // the fixture's adapter (this folder's weights are the fixture's) and a second one on two
  // targets with another rank, saved as a PEFT folder
  const std::string first = std::string(KAITO_SHARED_DIR) + "/fixtures/tiny-phi3/adapter";
  engine::lora_config lc;
  lc.r = 3;
  lc.alpha = 6.0;
  lc.target_modules = {"o_proj", "down_proj"};
  auto second = engine::lora_create(config_, lc, 3);
  ASSERT_TRUE(second.ok()) << second.error().to_string();
  for (engine::lora_module& mod : second->modules)
    for (size_t i = 0; i < mod.B.size(); ++i) mod.B[i] = 0.04f * float(int(i % 7) - 3);
  const std::string second_dir = dir_ + "/second-adapter";
  ASSERT_TRUE(engine::save_peft_adapter(second_dir, *second).ok());
  const std::vector<float> w = {0.7f, 0.4f};

  auto base = engine::load_model(dir_);
  ASSERT_TRUE(base.ok());
  engine::model merged = **base;
  for (size_t i = 0; i < 2; ++i) {
    auto a = engine::load_peft_adapter(i == 0 ? first : second_dir, config_);
    ASSERT_TRUE(a.ok()) << a.error().to_string();
    for (engine::lora_module& mod : a->modules) mod.scale *= w[i];
    ASSERT_TRUE(engine::lora_merge(&merged, *a).ok());
  }
  const std::vector<int32_t> prompt = prompt_of(21, 2, config_.vocab_size);
  std::vector<float> want, plain, got;
  auto cpu = engine::make_cpu_decoder(merged, 1);
  first_logits(*cpu, prompt, &want);
  auto cpu_base = engine::make_cpu_decoder(**base, 1);
  first_logits(*cpu_base, prompt, &plain);

  gpu::gpu_serving_options o;
  o.model_dir = dir_;
  o.adapter_dirs = {first, second_dir};
  o.adapter_strengths = w;
  o.max_batch = 1;
  auto gpu = gpu::make_gpu_sequence_decoder(o, config_);
  ASSERT_TRUE(gpu.ok()) << gpu.error().to_string();
  first_logits(**gpu, prompt, &got);
  const double err = rel(want, got), effect = rel(want, plain);
  std::printf("two adapters at 0.7, 0.4: GPU vs CPU merge %.3g (the adapters move logits %.3g)\n",
              err, effect);
  EXPECT_LT(err, 3e-2);
  EXPECT_GT(effect, 0.1);  // the adapters matter well past the tolerance

  o.adapter_strengths = {0.7f, 1.5f};
  auto bad = gpu::make_gpu_sequence_decoder(o, config_);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().where(), "adapter_strengths");
}

TEST(GpuServingMemory, KvPoolSizedFromMemory) {
  engine::model_config c;
  c.num_layers = 32, c.num_kv_heads = 32, c.head_dim = 96;  // Phi-3-mini: 393,216 bytes a token
  EXPECT_EQ(gpu::gpu_kv_bytes_per_token(c), 393216);
  const uint64_t GiB = uint64_t{1} << 30;
  // 100 GiB with 10 in use: 0.9 of it less those 10 and 1 GiB of buffers = 79 GiB, 13,482
  // blocks of 16 positions (6 MiB each): 215,712 positions, a 128k answer and more besides
  EXPECT_EQ(gpu::gpu_serving_kv_blocks(c, 16, 90 * GiB, 100 * GiB, 0.9, GiB), 13482);
  EXPECT_EQ(gpu::gpu_serving_kv_blocks(c, 32, 90 * GiB, 100 * GiB, 0.9, GiB), 6741);
  EXPECT_EQ(gpu::gpu_serving_kv_blocks(c, 16, 90 * GiB, 100 * GiB, 0.1, GiB), 0);  // none
}

}  // namespace
}  // namespace kaito
