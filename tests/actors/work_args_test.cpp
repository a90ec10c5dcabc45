// A work unit's flags (actors/work_args.h) as the controller writes them into a Pod's args:
// the tune and serve tasks, input images and adapters, and bad flags named.
#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "actors/work_args.h"

namespace kaito::actors {
namespace {

TEST(TuneArgs, ParsesATuningPodsFlags) {
  auto w = parse_work_args({"--task=tune", "--preset=phi-3-mini-128k-instruct", "--method=lora",
                            "--input-url=https://h/a.parquet", "--input-url", "https://h/b.jsonl",
                            "--output-image=reg.io/a:1", "--config-file=/etc/tc.yaml"});
  ASSERT_TRUE(w.ok()) << w.error().to_string();
  EXPECT_EQ(w->task, "tune");
  EXPECT_EQ(w->tune.preset, "phi-3-mini-128k-instruct");
  EXPECT_EQ(w->tune.method, "lora");
  EXPECT_EQ(w->tune.input_urls,
            std::vector<std::string>({"https://h/a.parquet", "https://h/b.jsonl"}));
  EXPECT_EQ(w->tune.output_image, "reg.io/a:1");
  EXPECT_EQ(w->tune.config_file, "/etc/tc.yaml");
  EXPECT_EQ(w->tune.docker_config, "/root/.docker/config.json");  // Kaito's mount
  EXPECT_EQ(w->tune.results_dir, "/mnt/results");
}

TEST(TuneArgs, BadFlagsAreNamed) {
  const std::vector<std::string> base = {"--task=tune", "--preset=p", "--input-url=https://h/a",
                                         "--output-image=r/a:1"};
  struct c {
    std::vector<std::string> extra;
    std::vector<std::string> drop;  // flags removed from base
    std::string where;
    status_code code = status_code::invalid_argument;
  };
  std::vector<c> cases = {
      {{}, {"--preset=p"}, "--preset"},
      {{}, {"--input-url=https://h/a"}, "--input-url"},
      {{}, {"--output-image=r/a:1"}, "--output-image"},
      {{"--method=dora"}, {}, "--method"},
      {{"--preset=../x"}, {}, "--preset"},
      {{"--results-dir=relative"}, {}, "--results-dir"},
      {{"--duration-seconds=5"}, {}, "--duration-seconds"},  // a self-test flag
      {{"--input-image=reg/data:1"}, {}, "--input-url"},     // both inputs
      {{"--pull-secret=relative"}, {}, "--pull-secret"},
      {{"--input-volume=tuning.input.volumeSource"},
       {},
       "tuning.input.volumeSource",
       status_code::unimplemented},
      {{"--output-volume=tuning.output.volumeSource"},
       {},
       "tuning.output.volumeSource",
       status_code::unimplemented},
  };
  for (const auto& k : cases) {
    std::vector<std::string> args;
    for (const auto& a : base)
      if (std::find(k.drop.begin(), k.drop.end(), a) == k.drop.end()) args.push_back(a);
    args.insert(args.end(), k.extra.begin(), k.extra.end());
    auto w = parse_work_args(args);
    ASSERT_FALSE(w.ok()) << k.where;
    EXPECT_EQ(w.error().where(), k.where) << w.error().to_string();
    EXPECT_EQ(w.error().code(), k.code) << w.error().to_string();
  }
  // And a tune flag is unknown to the self-test.
  EXPECT_EQ(parse_work_args({"--task=self-test", "--preset=p"}).error().where(), "--preset");
}

TEST(ServeArgs, ParsesAnInferencePodsFlags) {
  auto w = parse_work_args({"--task=serve", "--preset=phi-3-mini-128k-instruct", "--port=5000"});
  ASSERT_TRUE(w.ok()) << w.error().to_string();
  EXPECT_EQ(w->task, "serve");
  EXPECT_EQ(w->serve.preset, "phi-3-mini-128k-instruct");
  EXPECT_EQ(w->serve.port, 5000);
  EXPECT_EQ(w->serve.config_file, "/mnt/config/inference_config.yaml");
  EXPECT_EQ(parse_work_args({"--task=serve", "--preset=p", "--config-file=/etc/ic.yaml"})
                ->serve.config_file,
            "/etc/ic.yaml");
  EXPECT_EQ(
      parse_work_args({"--task=serve", "--preset=p", "--config-file=rel.yaml"}).error().where(),
      "--config-file");
  EXPECT_EQ(parse_work_args({"--task=serve", "--preset=p", "--chat-template=falcon"})
                ->serve.chat_template,
            "falcon");
  EXPECT_EQ(parse_work_args({"--task=serve", "--preset=p", "--chat-template=nope"}).error().where(),
            "--chat-template");
  EXPECT_EQ(parse_work_args({"--task=serve", "--preset=p", "--tool-call-parser=mistral"})
                ->serve.tool_call_parser,
            "mistral");
  EXPECT_EQ(parse_work_args({"--task=serve", "--preset=p", "--tool-call-parser=pythonic"})
                .error()
                .where(),
            "--tool-call-parser");
  EXPECT_EQ(
      parse_work_args({"--task=tune", "--preset=p", "--tool-call-parser=hermes"}).error().where(),
      "--tool-call-parser");  // (serve's alone)
  EXPECT_TRUE(parse_work_args({"--task=serve", "--preset=p"})->serve.rate_limit);
  EXPECT_FALSE(parse_work_args({"--task=serve", "--preset=p", "--disable-rate-limit=true"})
                   ->serve.rate_limit);
  EXPECT_EQ(
      parse_work_args({"--task=serve", "--preset=p", "--disable-rate-limit=yes"}).error().where(),
      "--disable-rate-limit");
  EXPECT_EQ(parse_work_args({"--task=serve"}).error().where(), "--preset");
  EXPECT_EQ(parse_work_args({"--task=serve", "--preset=p", "--port=0"}).error().where(), "--port");
  EXPECT_EQ(parse_work_args({"--task=serve", "--preset=p", "--input-url=x"}).error().where(),
            "--input-url");
}

TEST(TuneArgs, AnInputImageInsteadOfUrls) {
  auto w = parse_work_args({"--task=tune", "--preset=p", "--input-image=reg.io/data:1",
                            "--pull-secret=/mnt/pull-secrets/a/config.json",
                            "--pull-secret=/mnt/pull-secrets/b/config.json",
                            "--output-image=reg.io/a:1"});
  ASSERT_TRUE(w.ok()) << w.error().to_string();
  EXPECT_EQ(w->tune.input_image, "reg.io/data:1");
  EXPECT_TRUE(w->tune.input_urls.empty());
  EXPECT_EQ(w->tune.pull_secrets, std::vector<std::string>({"/mnt/pull-secrets/a/config.json",
                                                            "/mnt/pull-secrets/b/config.json"}));
}

TEST(ServeArgs, AdaptersWithStrengths) {
  auto w = parse_work_args({"--task=serve", "--preset=p", "--adapter-strength=b=0.25",
                            "--adapter-image=a=r.io/a:1",
                            "--adapter-image=b=r.io/b@sha256:" + std::string(64, 'e'),
                            "--pull-secret=/mnt/pull-secrets/s/config.json"});
  ASSERT_TRUE(w.ok()) << w.error().to_string();
  ASSERT_EQ(w->serve.adapters.size(), 2u);
  EXPECT_EQ(w->serve.adapters[0].name, "a");
  EXPECT_EQ(w->serve.adapters[0].image, "r.io/a:1");
  EXPECT_EQ(w->serve.adapters[0].strength, 1.0f);
  EXPECT_EQ(w->serve.adapters[1].name, "b");
  EXPECT_EQ(w->serve.adapters[1].strength, 0.25f);
  EXPECT_EQ(w->serve.pull_secrets, std::vector<std::string>({"/mnt/pull-secrets/s/config.json"}));
  EXPECT_EQ(w->serve.runtime, "transformers");  // (merged at their strengths)
  auto v = parse_work_args(
      {"--task=serve", "--preset=p", "--adapter-image=a=r.io/a:1", "--runtime=vllm"});
  ASSERT_TRUE(v.ok()) << v.error().to_string();
  EXPECT_EQ(v->serve.runtime, "vllm");

  struct c {
    std::vector<std::string> extra;
    std::string where;
    status_code code = status_code::invalid_argument;
  };
  std::vector<c> cases = {
      {{"--adapter-image=a"}, "--adapter-image"},
      {{"--adapter-image=a="}, "--adapter-image"},
      {{"--adapter-image=A=r.io/a:1"}, "--adapter-image"},
      {{"--adapter-image=../x=r.io/a:1"}, "--adapter-image"},
      {{"--adapter-image=a=r.io/a:1", "--adapter-image=a=r.io/b:1"}, "--adapter-image"},
      {{"--adapter-image=a=r.io/a:1", "--adapter-strength=a=1.5"}, "--adapter-strength"},
      {{"--adapter-image=a=r.io/a:1", "--adapter-strength=a=nan"}, "--adapter-strength"},
      {{"--adapter-image=a=r.io/a:1", "--adapter-strength=a=0.5x"}, "--adapter-strength"},
      {{"--adapter-strength=zz=0.5"}, "--adapter-strength"},
      {{"--runtime=sglang"}, "--runtime"},
      {{"--runtime=vllm", "--adapter-image=a=r.io/a:1", "--adapter-strength=a=0.5"},
       "--adapter-strength"},
      {{"--adapter-volume=a"}, "inference.adapters", status_code::unimplemented},
  };
  for (const auto& k : cases) {
    std::vector<std::string> args = {"--task=serve", "--preset=p"};
    args.insert(args.end(), k.extra.begin(), k.extra.end());
    auto r = parse_work_args(args);
    ASSERT_FALSE(r.ok()) << k.extra.back();
    EXPECT_EQ(r.error().where(), k.where) << r.error().to_string();
    EXPECT_EQ(r.error().code(), k.code) << r.error().to_string();
  }
}

}  // namespace
}  // namespace kaito::actors
