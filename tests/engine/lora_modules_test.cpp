// Multi-LoRA serving on the CPU engine (vLLM's --lora-modules): one decode batch whose sequences
// each run with their own unmerged adapter, or none (kv_decode.h decode_batch with per-cache
// adapters, within 1e-4 of each decoded alone); the CPU decoder's per-slot adapters, whose cached
// prefixes never serve another adapter's prompt; batch_generator answering concurrent requests of
// different adapters each as generate() with its adapter alone, its load naming the modules of the
// running and the waiting ones; and chat_service's LoRA modules
// answering a chat that names one as the adapter merged, the others as the base, loaded and
// unloaded at run time.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "engine/batch_generator.h"
#include "engine/chat_service.h"
#include "engine/generate.h"
#include "engine/kv_decode.h"
#include "engine/lora_adapter.h"
#include "engine/sequence_decoder.h"
#include "engine/tune_job.h"
#include "tests/engine/forwarding_decoder.h"
#include "tests/engine/random_model.h"
#include "tests/engine/tiny_chat_model.h"

namespace kaito::engine {
namespace {

using testing::max_abs_diff;

// A random adapter on every linear whose B is not zero (so it changes the answers), served as
// "lora<seed>" with id `seed`.
served_lora_ptr random_adapter(const model& m, uint64_t seed) {
  lora_config lc;
  lc.r = 2;
  lc.alpha = 4;
  lc.target_modules = {"all-linear"};
  auto a = lora_create(m.config, lc, seed);
  EXPECT_TRUE(a.ok());
  for (auto& mod : a->modules)
    mod.B = testing::random_vec(int64_t(mod.B.size()), rng_derive(seed, 77), 0.5f);
  auto l = std::make_shared<served_lora>();
  l->name = "lora" + std::to_string(seed);
  l->id = seed;
  l->lora = std::move(*a);
  return l;
}

std::vector<int32_t> tokens(int n, uint64_t seed) {
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) out.push_back(int32_t(rng_bits(seed, uint64_t(i)) % 64));
  return out;
}

TEST(lora_modules, one_decode_batch_runs_each_sequence_with_its_own_adapter) {
  auto m = testing::load_random_model(testing::kDecodeLlamaConfig, "lm_batch", 41);
  ASSERT_TRUE(m);
  auto a = random_adapter(*m, 5), b = random_adapter(*m, 6);
  const std::vector<const lora_adapter*> loras = {nullptr, &a->lora, &b->lora, &a->lora};
  std::vector<kv_cache> batch(4), alone(4);
  std::vector<kv_cache*> ptrs;
  std::vector<int32_t> next;
  for (size_t i = 0; i < 4; ++i) {
    const auto p = tokens(5 + int(i), 100 + i);
    reset_cache(batch[i], m->config.num_layers);
    reset_cache(alone[i], m->config.num_layers);
    std::vector<float> l;
    ASSERT_TRUE(prefill(*m, loras[i], batch[i], p.data(), int64_t(p.size()), &l).ok());
    ASSERT_TRUE(prefill(*m, loras[i], alone[i], p.data(), int64_t(p.size()), &l).ok());
    ptrs.push_back(&batch[i]);
    next.push_back(int32_t(7 * i + 3));
  }
  std::vector<float> rows;
  ASSERT_TRUE(decode_batch(*m, loras, ptrs, next, &rows).ok());
  const size_t V = size_t(m->config.vocab_size);
  ASSERT_EQ(rows.size(), 4 * V);
  std::vector<float> base_of_a;  // sequence 1 without its adapter, to see the adapter matters
  for (size_t i = 0; i < 4; ++i) {
    std::vector<float> one;
    ASSERT_TRUE(decode_batch(*m, loras[i], {&alone[i]}, {next[i]}, &one).ok());
    const std::vector<float> row(rows.begin() + std::ptrdiff_t(i * V),
                                 rows.begin() + std::ptrdiff_t((i + 1) * V));
    EXPECT_LT(max_abs_diff(row, one), 1e-4f) << "sequence " << i;
    if (i == 1) base_of_a = row;
  }
  kv_cache plain;
  reset_cache(plain, m->config.num_layers);
  const auto p1 = tokens(6, 101);
  std::vector<float> l;
  ASSERT_TRUE(prefill(*m, nullptr, plain, p1.data(), 6, &l).ok());
  std::vector<float> without;
  ASSERT_TRUE(decode_batch(*m, nullptr, {&plain}, {next[1]}, &without).ok());
  EXPECT_GT(max_abs_diff(base_of_a, without), 1e-2f);
  // One adapter per cache.
  const std::vector<const lora_adapter*> one = {nullptr};
  EXPECT_EQ(decode_batch(*m, one, ptrs, next, &rows).where(), "loras");
}

TEST(lora_modules, a_cached_prefix_serves_only_prompts_of_the_same_adapter) {
  auto m = testing::load_random_model(testing::kDecodeLlamaConfig, "lm_prefix", 42);
  ASSERT_TRUE(m);
  auto d = make_cpu_decoder(*m, 2, kDefaultIdleKvBytes);
  EXPECT_TRUE(d->serves_loras());
  const served_lora_ptr lora = random_adapter(*m, 7);
  const auto first = tokens(12, 9);
  std::vector<float> l;
  d->reset(0);
  d->set_adapter(0, lora);
  ASSERT_TRUE(d->prefill(0, first.data(), 12, 12, &l).ok());
  // Another adapter's slot does not fork it.
  d->reset(1);
  EXPECT_FALSE(d->fork_prefix(0, 1, 12));
  d->reset(0);  // ended: kept for adapter 1
  auto next = first;
  next.push_back(3);
  d->reset(1);
  d->set_adapter(1, nullptr);
  EXPECT_EQ(d->reuse_prefix(1, next.data(), 13, 13), 0);  // the base: computed otherwise
  d->reset(1);
  d->set_adapter(1, random_adapter(*m, 8));  // another load: other weights, maybe
  EXPECT_EQ(d->reuse_prefix(1, next.data(), 13, 13), 0);
  d->reset(1);
  d->set_adapter(1, lora);
  EXPECT_EQ(d->reuse_prefix(1, next.data(), 13, 13), 12);
  // What it reused equals the adapter's own prefill of the prompt.
  std::vector<float> reused, fresh;
  ASSERT_TRUE(d->prefill(1, next.data() + 12, 1, 13, &reused).ok());
  auto lone = make_cpu_decoder(*m, 1, 0);
  lone->set_adapter(0, lora);
  ASSERT_TRUE(lone->prefill(0, next.data(), 13, 13, &fresh).ok());
  EXPECT_LT(max_abs_diff(reused, fresh), 1e-4f);
}

TEST(lora_modules, a_decode_step_of_mixed_adapters_answers_each_slot_as_alone) {
  auto m = testing::load_random_model(testing::kDecodeLlamaConfig, "lm_order", 45);
  ASSERT_TRUE(m);
  const served_lora_ptr a = random_adapter(*m, 21), b = random_adapter(*m, 22);
  const std::vector<served_lora_ptr> by_slot = {a, nullptr, b, a};
  auto d = make_cpu_decoder(*m, 4, 0);
  std::vector<int64_t> slots;
  std::vector<int32_t> next;
  for (int64_t s = 0; s < 4; ++s) {
    const auto p = tokens(4 + int(s), 70 + uint64_t(s));
    std::vector<float> l;
    d->reset(s);
    d->set_adapter(s, by_slot[size_t(s)]);
    ASSERT_TRUE(d->prefill(s, p.data(), int64_t(p.size()), int64_t(p.size()), &l).ok());
    slots.push_back(3 - s);  // (asked in another order than the slots)
    next.push_back(int32_t(5 * s + 1));
  }
  std::vector<float> rows;
  ASSERT_TRUE(d->decode(slots, next, &rows).ok());
  const size_t V = size_t(m->config.vocab_size);
  ASSERT_EQ(rows.size(), 4 * V);
  for (size_t i = 0; i < 4; ++i) {  // row i: slot slots[i], as that slot decoded alone
    const int64_t s = slots[i];
    const auto p = tokens(4 + int(s), 70 + uint64_t(s));
    auto lone = make_cpu_decoder(*m, 1, 0);
    lone->set_adapter(0, by_slot[size_t(s)]);
    std::vector<float> l, want;
    ASSERT_TRUE(lone->prefill(0, p.data(), int64_t(p.size()), int64_t(p.size()), &l).ok());
    ASSERT_TRUE(lone->decode({0}, {next[i]}, &want).ok());
    const std::vector<float> row(rows.begin() + std::ptrdiff_t(i * V),
                                 rows.begin() + std::ptrdiff_t((i + 1) * V));
    EXPECT_LT(max_abs_diff(row, want), 1e-4f) << "row " << i << " slot " << s;
  }
}

TEST(lora_modules, batched_requests_of_different_adapters_answer_as_each_alone) {
  auto m = testing::load_random_model(testing::kDecodePhi3Config, "lm_gen", 43);
  ASSERT_TRUE(m);
  auto a = random_adapter(*m, 11), b = random_adapter(*m, 12);
  batch_generator g(m->config, make_cpu_decoder(*m, 4, kDefaultIdleKvBytes),
                    batch_generator_options{.max_batch = 4});
  const std::vector<served_lora_ptr> by_number = {nullptr, a, b};
  // Each prompt twice: a later one may reuse its own adapter's cached prefix, never another's.
  std::vector<std::future<result<std::vector<int32_t>>>> answers;
  std::vector<std::pair<int64_t, std::vector<int32_t>>> asked;
  for (int round = 0; round < 2; ++round)
    for (int64_t k = 0; k < 3; ++k) {
      const auto prompt = tokens(10, 50);  // the same prompt for every adapter
      asked.emplace_back(k, prompt);
      answers.push_back(std::async(std::launch::async, [&g, &by_number, prompt, k] {
        generate_options o;
        o.max_new_tokens = 12;  // crosses original_max_position_embeddings 16: a re-prefill
        o.lora = by_number[size_t(k)];
        return g.generate(prompt, o);
      }));
    }
  std::vector<std::vector<int32_t>> got;
  for (auto& f : answers) {
    auto r = f.get();
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    got.push_back(*r);
  }
  for (size_t i = 0; i < asked.size(); ++i) {
    generate_options o;
    o.max_new_tokens = 12;
    const served_lora_ptr& l = by_number[size_t(asked[i].first)];
    auto want = generate_greedy(*m, l ? &l->lora : nullptr, asked[i].second, o);
    ASSERT_TRUE(want.ok());
    EXPECT_EQ(got[i], *want) << "request " << i << " adapter " << asked[i].first;
  }
  EXPECT_NE(got[0], got[1]);
  EXPECT_NE(got[1], got[2]);
  // A decoder that merges adapters (the GPU's) is refused one.
  struct merging : kaito::testing::forwarding_decoder {
    using forwarding_decoder::forwarding_decoder;
    bool serves_loras() const override { return false; }
  };
  batch_generator gm(m->config, std::make_unique<merging>(make_cpu_decoder(*m, 1)),
                     batch_generator_options{.max_batch = 1});
  generate_options bad;
  bad.lora = a;
  auto refused = gm.generate(tokens(4, 1), bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), status_code::unimplemented);
  EXPECT_EQ(refused.error().where(), "model");
}

TEST(lora_modules, the_load_names_the_modules_of_the_running_and_the_waiting_answers) {
  auto m = testing::load_random_model(testing::kDecodeLlamaConfig, "lm_load", 44);
  ASSERT_TRUE(m);
  auto held = std::make_unique<kaito::testing::forwarding_decoder>(make_cpu_decoder(*m, 1, 0));
  const served_lora_ptr one = random_adapter(*m, 1), two = random_adapter(*m, 2);
  std::atomic<bool> release{false};
  held->hold_first_decode([&] { return release.load(); });
  batch_generator g(m->config, std::move(held), batch_generator_options{.max_batch = 1});
  auto run = [&](served_lora_ptr lora) {
    return std::async(std::launch::async, [&g, lora] {
      generate_options o;
      o.max_new_tokens = 3;
      o.lora = lora;
      return g.generate(tokens(5, 3), o);
    });
  };
  auto first = run(two);  // admitted, its first decode held
  for (int i = 0; i < 400 && g.load().running == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto second = run(one);  // waits for the one slot
  for (int i = 0; i < 400 && g.load().waiting == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const batch_generator::batch_load load = g.load();
  release = true;
  EXPECT_EQ(load.running_loras, std::vector<std::string>{"lora2"});
  EXPECT_EQ(load.waiting_loras, std::vector<std::string>{"lora1"});
  ASSERT_TRUE(first.get().ok());
  ASSERT_TRUE(second.get().ok());
  // (the decode thread's bookkeeping follows the answers' end)
  for (int i = 0; i < 400 && !g.load().running_loras.empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_TRUE(g.load().running_loras.empty());
}

nlohmann::ordered_json question(const std::string& q) {
  return nlohmann::ordered_json::array({{{"role", "user"}, {"content", q}}});
}

TEST(lora_modules, a_chat_naming_a_module_answers_as_the_adapter_merged) {
  tune_job j = kaito::testing::tiny_chat_job("lora_modules_chat", 6);
  j.qlora = false;  // fp32 base: the merge is exact up to rounding
  auto r = run_tune_job(j);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  chat_service_config c;
  c.model_dir = j.model_dir;
  auto base = chat_service::load(c);
  ASSERT_TRUE(base.ok()) << base.error().to_string();
  c.adapter_dirs = {j.out_dir};
  auto merged = chat_service::load(c);
  ASSERT_TRUE(merged.ok());
  c.adapter_dirs.clear();
  c.lora_modules = {{"tuned", j.out_dir}};
  auto modules = chat_service::load(c);
  ASSERT_TRUE(modules.ok()) << modules.error().to_string();
  ASSERT_EQ((*modules)->lora_modules().size(), 1u);
  EXPECT_EQ((*modules)->lora_modules()[0].name, "tuned");
  EXPECT_EQ((*modules)->lora_modules()[0].dir, j.out_dir);
  EXPECT_EQ((*modules)->lora_modules()[0].shown_root(), j.out_dir);  // (no root given)
  chat_options o;
  o.max_tokens = 10;
  chat_options with = o;
  with.lora = "tuned";
  // Both at once, in one batch: each as its own model.
  auto tuned = std::async(std::launch::async,
                          [&] { return (*modules)->chat(question("Color of the sky?"), with); });
  auto plain = (*modules)->chat(question("Color of the sky?"), o);
  ASSERT_TRUE(plain.ok());
  auto t = tuned.get();
  ASSERT_TRUE(t.ok()) << t.error().to_string();
  EXPECT_EQ(t->text, (*merged)->chat(question("Color of the sky?"), o)->text);
  EXPECT_EQ(plain->text, (*base)->chat(question("Color of the sky?"), o)->text);
  EXPECT_NE(t->text, plain->text);
  // Another name: not_found naming the model.
  with.lora = "other";
  auto unknown = (*modules)->chat(question("Hi"), with);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code(), status_code::not_found);
  EXPECT_EQ(unknown.error().where(), "model");
  // At run time (vLLM's /v1/load_lora_adapter, /v1/unload_lora_adapter): another name for the
  // same folder answers the same; a name taken is already_exists; an unloaded name is gone.
  ASSERT_TRUE((*modules)->load_lora({"again", j.out_dir, "/mnt/adapter/again"}).ok());
  EXPECT_TRUE((*modules)->serves_lora("again"));
  with.lora = "again";
  EXPECT_EQ((*modules)->chat(question("Color of the sky?"), with)->text, t->text);
  const status taken = (*modules)->load_lora({"tuned", j.out_dir}, "lora_name");
  EXPECT_EQ(taken.code(), status_code::already_exists);
  EXPECT_EQ(taken.where(), "lora_name");
  EXPECT_FALSE((*modules)->load_lora({"", j.out_dir}).ok());
  EXPECT_FALSE((*modules)->load_lora({"nowhere", j.out_dir + "/nowhere"}).ok());
  ASSERT_TRUE((*modules)->unload_lora("tuned").ok());
  EXPECT_EQ((*modules)->unload_lora("tuned", "lora_name").code(), status_code::not_found);
  with.lora = "tuned";
  EXPECT_EQ((*modules)->chat(question("Hi"), with).error().code(), status_code::not_found);
  ASSERT_EQ((*modules)->lora_modules().size(), 1u);
  EXPECT_EQ((*modules)->lora_modules()[0].name, "again");
  EXPECT_EQ((*modules)->lora_modules()[0].shown_root(), "/mnt/adapter/again");  // (not dir)
  EXPECT_EQ((*modules)->stats().lora_modules, 1);
  // Loads and unloads while answers run: each answer is whole with its adapter, or not_found
  // when its name was gone before it started; never a crash or another adapter's text.
  std::atomic<bool> stop{false};
  std::thread churn([&] {
    for (int i = 0; !stop; ++i) {
      (void)(*modules)->load_lora({"flip", j.out_dir});
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      (void)(*modules)->unload_lora("flip");
    }
  });
  std::vector<std::thread> askers;
  std::atomic<int> answered{0}, gone{0}, wrong{0};
  for (int k = 0; k < 4; ++k)
    askers.emplace_back([&, k] {
      for (int i = 0; i < 6; ++i) {
        chat_options c = o;
        c.lora = (k + i) % 2 ? "flip" : "again";
        auto r = (*modules)->chat(question("Color of the sky?"), c);
        if (!r.ok())
          (r.error().code() == status_code::not_found && c.lora == "flip" ? gone : wrong)++;
        else
          (r->text == t->text ? answered : wrong)++;
      }
    });
  for (auto& a : askers) a.join();
  stop = true;
  churn.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(answered.load() + gone.load(), 24);
  EXPECT_GE(answered.load(), 12);  // "again" never goes away
  // A merged adapter's name (the GPU engine under the vLLM runtime): the merged model answers it.
  chat_service_config mc;
  mc.model_dir = j.model_dir;
  mc.adapter_dirs = {j.out_dir};
  mc.merged_names = {{"tuned", j.out_dir}};
  auto aliased = chat_service::load(mc);
  ASSERT_TRUE(aliased.ok()) << aliased.error().to_string();
  EXPECT_TRUE((*aliased)->serves_lora("tuned"));
  EXPECT_FALSE((*aliased)->serves_lora("other"));
  chat_options as_alias = o;
  as_alias.lora = "tuned";
  EXPECT_EQ((*aliased)->chat(question("Color of the sky?"), as_alias)->text, t->text);
  EXPECT_EQ((*aliased)->load_lora({"tuned", j.out_dir}).code(), status_code::already_exists);
  // Loading: a name twice, a missing folder, the GPU engine.
  c.lora_modules = {{"tuned", j.out_dir}, {"tuned", j.out_dir}};
  auto twice = chat_service::load(c);
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().where(), "lora_modules[1].name");
  c.lora_modules = {{"gone", j.out_dir + "/nowhere"}};
  auto missing = chat_service::load(c);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().to_string().find("nowhere"), std::string::npos);
  c.lora_modules = {{"tuned", j.out_dir}};
  c.make_decoder = [](const chat_service_config&,
                      const model_config&) -> result<std::unique_ptr<sequence_decoder>> {
    return status(status_code::internal, "not reached");
  };
  auto gpu = chat_service::load(c);
  ASSERT_FALSE(gpu.ok());
  EXPECT_EQ(gpu.error().code(), status_code::unimplemented);
  EXPECT_EQ(gpu.error().where(), "lora_modules");
  std::filesystem::remove_all(j.model_dir);
}

}  // namespace
}  // namespace kaito::engine
