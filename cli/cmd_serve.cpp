// `kaito serve --model DIR [--adapter DIR | --adapter-image REF]... [--adapter-strength W]...
// [--port 5000]`: serves a local Hugging Face model folder over HTTP with Kaito's inference
// endpoints (actors/inference_routes.h: OpenAI /v1/chat/completions with streaming,
// /v1/completions, /v1/models, Kaito's legacy /chat, /health), until SIGINT or SIGTERM (which
// first drains: no new requests, the answers in progress finish within --drain-seconds). PEFT
// adapters (a `kaito tune` output folder, or a tuning Workspace's pushed image, pulled as an
// inference pod pulls it) are merged into the base at load, each weighted by its
// --adapter-strength (one per adapter, or none); --lora-modules NAME=DIR keeps an adapter
// unmerged, served as the model NAME (vLLM's multi-LoRA serving). Exit code 0 after a clean stop; 2
// on bad flags, an image that cannot be pulled or a model that does not load (the message names the
// file and field); 1 when the port cannot be bound, or when the engine fails while serving (GET
// /health says 503 first).
// --device cuda answers on the GPU (engine/cuda_hf/gpu_sequence_decoder.h: bf16 base, or NF4
// with --quantize nf4; the adapters applied at run time at their strengths as one LoRA,
// engine/lora_combine.h; the KV cache allocated up front for --max-batch answers of the served
// context); it needs a kaito built with nvcc.
#include <pthread.h>
#include <signal.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "actors/http_server.h"
#include "actors/image_inputs.h"
#include "actors/inference_config.h"
#include "actors/inference_routes.h"
#include "actors/serve_unit.h"
#include "cli/commands.h"
#include "cli/cuda_tuner.h"
#include "engine/chat_service.h"

namespace kaito::cli {

namespace {

struct serve_flags {
  engine::chat_service_config model;
  std::vector<std::string> adapter_images;
  std::vector<std::string> lora_modules;  // vLLM's --lora-modules values (NAME=DIR or JSON)
  std::string docker_config;              // "" = ~/.docker/config.json when it exists
  std::string host = "127.0.0.1";
  int port = 5000;
  std::vector<std::string> names;  // --served-model-name: the first is the model's name
  double kv_cache_memory = actors::kDefaultKvCacheMemoryFraction;
  std::string device = "cpu";
  std::string quantize = "none";
  std::string tool_call_parser;  // "" = detected from the chat template
  double drain_seconds = 25;     // SIGTERM: answers in progress get this long to finish
  bool disable_rate_limit = false;
  bool runtime_lora_updating = false;  // or VLLM_ALLOW_RUNTIME_LORA_UPDATING=true|1
};

// vLLM's switch for its run-time LoRA endpoints: true or 1 (any case).
bool env_allows_lora_updating() {
  const char* v = std::getenv("VLLM_ALLOW_RUNTIME_LORA_UPDATING");
  if (v == nullptr) return false;
  std::string s(v);
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s == "true" || s == "1";
}

int run_serve(const serve_flags& f) {
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);  // before any server thread: only sigwait sees them
  // Adapter images are pulled (as an inference Workspace's pod does) into a folder that lives only
  // until they are merged.
  engine::chat_service_config model = f.model;
  std::string name = f.names.empty() ? "" : f.names[0];
  if (name.empty())
    name = std::filesystem::path(f.model.model_dir).lexically_normal().filename().string();
  if (name.empty()) name = "model";
  for (size_t i = 1; i < f.names.size(); ++i)
    model.merged_names.push_back({f.names[i], f.model.model_dir});
  for (const std::string& spec : f.lora_modules) {
    auto m = actors::parse_lora_module(spec, name, "--lora-modules");
    if (!m.ok()) {
      std::fprintf(stderr, "kaito serve: %s\n", m.error().to_string().c_str());
      return 2;
    }
    model.lora_modules.push_back(std::move(*m));
  }
  std::string pulled;
  if (!f.adapter_images.empty()) {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "kaito-serve-adapters-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) {
      std::fprintf(stderr, "kaito serve: cannot make a temporary folder in %s\n",
                   std::filesystem::temp_directory_path().c_str());
      return 1;
    }
    pulled = tmpl;
    std::vector<std::string> configs;
    std::string config = f.docker_config;
    if (config.empty())
      if (const char* home = std::getenv("HOME"))
        if (std::filesystem::exists(std::string(home) + "/.docker/config.json"))
          config = std::string(home) + "/.docker/config.json";
    if (!config.empty()) configs.push_back(config);
    for (size_t i = 0; i < f.adapter_images.size(); ++i) {
      std::string dir = pulled + "/" + std::to_string(i);
      std::fprintf(stderr, "kaito serve: pulling %s\n", f.adapter_images[i].c_str());
      auto files = actors::pull_image_data({.image = f.adapter_images[i],
                                            .field = "--adapter-image",
                                            .docker_configs = configs,
                                            .dest_dir = dir},
                                           nullptr);
      if (!files.ok()) {
        std::fprintf(stderr, "kaito serve: %s\n", files.error().to_string().c_str());
        std::filesystem::remove_all(pulled);
        return 2;
      }
      model.adapter_dirs.push_back(dir);
    }
  }
  if (f.device == "cuda") model.make_decoder = cuda_decoder_factory(f.quantize == "nf4");
  std::fprintf(stderr, "kaito serve: loading %s on the %s\n", model.model_dir.c_str(),
               f.device == "cuda" ? "GPU" : "CPU");
  auto svc = engine::chat_service::load(model);
  if (!pulled.empty()) std::filesystem::remove_all(pulled);
  if (!svc.ok()) {
    std::fprintf(stderr, "kaito serve: %s\n", svc.error().to_string().c_str());
    return 2;
  }
  // The KV cache of the answers decoded together: its share of the memory left after loading (on
  // the GPU: the positions of the paged pool the engine allocated).
  if (const int64_t tokens = actors::size_kv_cache(**svc, f.kv_cache_memory); tokens > 0)
    std::fprintf(stderr, "kaito serve: kv cache %lld token positions\n", (long long)tokens);
  actors::http_server_options o;
  o.host = f.host;
  o.port = static_cast<uint16_t>(f.port);
  auto tools = actors::serving_tool_format(**svc, f.tool_call_parser, "--tool-call-parser");
  if (!tools.ok()) {
    std::fprintf(stderr, "kaito serve: %s\n", tools.error().to_string().c_str());
    return 2;
  }
  if (*tools != api::tool_call_format::none)
    std::fprintf(stderr, "kaito serve: tool calls read as %s (tool_choice \"auto\")\n",
                 std::string(api::tool_call_format_name(*tools)).c_str());
  auto srv = actors::http_server::start(
      o, actors::inference_routes(
             **svc, name, *tools,
             {.rate_limit = !f.disable_rate_limit,
              .runtime_lora_updating = f.runtime_lora_updating || env_allows_lora_updating()}));
  if (!srv.ok()) {
    std::fprintf(stderr, "kaito serve: %s\n", srv.error().to_string().c_str());
    return 1;
  }
  std::printf("kaito serve: %s on http://%s:%u (POST /v1/chat/completions, /chat; GET /health)\n",
              name.c_str(), f.host.c_str(), static_cast<unsigned>((*srv)->port()));
  std::fflush(stdout);
  // Until SIGINT/SIGTERM, or until the engine fails (a CUDA error sticks to the process: exit 1 so
  // whatever runs this restarts it, as a pod's worker does).
  const timespec tick{0, 200 * 1000 * 1000};
  int sig = -1;
  status engine;
  while (sig < 0 && (engine = (*svc)->health()).ok()) sig = sigtimedwait(&sigs, nullptr, &tick);
  if (engine.ok())
    std::fprintf(stderr, "kaito serve: stopping (signal %d)\n", sig);
  else
    std::fprintf(stderr, "kaito serve: the engine failed, stopping: %s\n",
                 engine.to_string().c_str());
  // SIGTERM (a pod being deleted: Kubernetes' grace is 30 s by default) lets the answers in
  // progress finish while new requests are refused; SIGINT (Ctrl-C) stops at once.
  if (engine.ok() && sig == SIGTERM && f.drain_seconds > 0) {
    const bool drained =
        (*srv)->drain(std::chrono::milliseconds(static_cast<int64_t>(f.drain_seconds * 1000)));
    std::fprintf(stderr, "kaito serve: %s\n",
                 drained ? "drained" : "drain timed out: ending the answers still in progress");
  }
  actors::stop_serving(**svc, **srv);  // answers still in progress end with 503
  return engine.ok() ? 0 : 1;
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto f = std::make_shared<serve_flags>();
  auto* cmd = app.add_subcommand(
      "serve", "Serve a local Hugging Face model over HTTP (OpenAI chat completions, Kaito /chat)");
  cmd->add_option("--model", f->model.model_dir,
                  "Model folder: config.json, *.safetensors, tokenizer.json, tokenizer_config.json")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--adapter", f->model.adapter_dirs,
                  "A PEFT adapter folder (adapter_config.json, adapter_model.safetensors) merged "
                  "into the base; repeatable")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--adapter-image", f->adapter_images,
                  "A PEFT adapter image (Kaito's format: /data/adapter_config.json, "
                  "/data/adapter_model.safetensors; e.g. a tuning Workspace's output.image), "
                  "pulled and merged after the --adapter folders; repeatable");
  cmd->add_option("--lora-modules", f->lora_modules,
                  "LoRA adapters kept unmerged, each served as its own model: NAME=DIR (a PEFT "
                  "adapter folder) or {\"name\": NAME, \"path\": DIR}; a request whose "
                  "\"model\" is NAME runs with that adapter, others with the base (vLLM's; one "
                  "batch mixes them; the CPU engine only)");
  cmd->add_flag(
      "--allow-runtime-lora-updating", f->runtime_lora_updating,
      "Serve vLLM's POST /v1/load_lora_adapter {\"lora_name\", \"lora_path\"} and "
      "/v1/unload_lora_adapter {\"lora_name\"}: LoRA modules added and removed while "
      "serving (also VLLM_ALLOW_RUNTIME_LORA_UPDATING=true, vLLM's switch; off by default: "
      "a client may then have any folder this process can read loaded)");
  cmd->add_option("--docker-config", f->docker_config,
                  "Registry credentials for --adapter-image (a docker config.json; default "
                  "~/.docker/config.json when present)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--adapter-strength", f->model.adapter_strengths,
                  "Weight in [0, 1] of each adapter, in order (--adapter folders, then "
                  "--adapter-image images; Kaito's inference.adapters[].strength; default 1 for "
                  "all)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--chat-template", f->model.chat_template_path,
                  "A .jinja chat template instead of tokenizer_config.json's")
      ->check(CLI::ExistingFile);
  cmd->add_option("--tool-call-parser", f->tool_call_parser,
                  "The model's tool call format, read out of answers for tool_choice \"auto\" "
                  "(vLLM's names: hermes, llama3_json, mistral, none; default: detected from the "
                  "chat template)")
      ->check(CLI::IsMember({"hermes", "llama3_json", "mistral", "none"}));
  cmd->add_option("--max-batch", f->model.max_batch,
                  "Answers decoded together, continuous batching (default 8); more concurrent "
                  "requests wait for a slot")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--kv-cache-memory", f->kv_cache_memory,
                  "Share of the memory left after loading the model that the KV cache of the "
                  "answers decoded together may take; requests past it wait (default 0.5, "
                  "Kaito's kv_cache_cpu_memory_utilization; 0: no limit)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--device", f->device,
                  "cpu (fp32 weights, adapters merged) or cuda (the GPU engine; needs a kaito "
                  "built with nvcc)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_option("--quantize", f->quantize,
                  "--device cuda: none (bf16 base weights, default) or nf4 (NF4 with double "
                  "quantization, QLoRA's base: a quarter of the memory)")
      ->check(CLI::IsMember({"none", "nf4"}));
  cmd->add_option("--gpu-memory-utilization", f->model.gpu_memory_utilization,
                  "--device cuda: the share of the GPU's memory the server may hold, weights and "
                  "KV cache together (vLLM's; default 0.9); the KV cache gets what the weights "
                  "leave of it")
      ->check(CLI::Range(0.01, 1.0));
  cmd->add_flag("--enable-prefix-caching,!--no-enable-prefix-caching", f->model.prefix_caching,
                "Keep the KV cache of every prompt for later prompts that start with the same "
                "tokens, a chat's next turn say (vLLM's automatic prefix caching: the GPU's "
                "blocks; on the CPU, the caches of ended answers; default on)");
  cmd->add_option("--num-gpu-blocks-override", f->model.kv_blocks,
                  "--device cuda: the KV cache pool's size in blocks of 16 positions, instead of "
                  "what --gpu-memory-utilization leaves (vLLM's)")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 26));
  cmd->add_option("--host", f->host, "Address to listen on (default 127.0.0.1)");
  cmd->add_option("--port", f->port, "TCP port (default 5000, Kaito's; 0: any free port)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--served-model-name", f->names,
                  "The model name clients send (default: the folder's name); more names after it "
                  "answer too, as vLLM's (the first is the one /metrics reports)");
  cmd->add_flag("--disable-rate-limit", f->disable_rate_limit,
                "Queue every request: without it, a generation request while more requests "
                "wait than --max-batch is answered 429 rate_limit_exceeded (Kaito's "
                "--kaito-disable-rate-limit)");
  cmd->add_option("--drain-seconds", f->drain_seconds,
                  "On SIGTERM: refuse new requests and let the answers in progress finish for up "
                  "to this long (default 25, within Kubernetes' 30 s grace; 0: stop at once). "
                  "SIGINT stops at once")
      ->check(CLI::Range(0.0, 3600.0));
  cmd->callback([f] { set_exit_code(run_serve(*f)); });
}

}  // namespace kaito::cli
