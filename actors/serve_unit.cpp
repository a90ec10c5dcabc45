// serve_unit; see serve_unit.h.
#include "actors/serve_unit.h"

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "actors/http_server.h"
#include "actors/image_inputs.h"
#include "actors/inference_config.h"
#include "actors/inference_routes.h"
#include "actors/machine_resources.h"
#include "base/log.h"
#include "engine/chat_service.h"
#include "engine/file_text.h"
#include "presets/builtin_chat_templates.h"

namespace kaito::actors {

int64_t size_kv_cache(const engine::chat_service& service, double share) {
  if (share <= 0) return service.limit_kv_cache(0);
  return service.limit_kv_cache(static_cast<uint64_t>(share * double(available_memory_bytes())));
}

void stop_serving(engine::chat_service& service, http_server& server) {
  service.shutdown();
  server.drain(std::chrono::milliseconds(500));
  server.stop();
}

status run_serve_unit(const serve_args& a, const serve_unit_env& env,
                      const std::atomic<bool>& cancel,
                      const std::function<void(const std::string&)>& on_ready) {
  auto note = [](const std::string& text) { log_info(logger("serve"), text, {}); };
  KAITO_ASSIGN_OR_RETURN(std::string dir,
                         preset_model_dir(a.preset, a.model_dir, env.models, &cancel, note));
  engine::chat_service_config c;
  c.model_dir = dir;
  c.make_decoder = env.decoder;
  if (auto t = presets::builtin_chat_template(a.chat_template)) c.fallback_chat_template = *t;
  std::vector<std::string> configs;
  for (const std::string& p : a.pull_secrets) configs.push_back(under_root(env.root, p));
  for (size_t i = 0; i < a.adapters.size(); ++i) {
    const adapter_source& ad = a.adapters[i];
    const std::string container_dir = "/mnt/adapter/" + ad.name;  // (what /v1/models shows)
    std::string adapter_dir = under_root(env.root, container_dir);
    log_info(logger("serve"), "pulling adapter", {{"name", ad.name}, {"image", ad.image}});
    auto files = pull_image_data({.image = ad.image,
                                  .field = "inference.adapters[" + std::to_string(i) + "]",
                                  .docker_configs = configs,
                                  .dest_dir = adapter_dir,
                                  .max_bytes = 16ull << 30},
                                 &cancel);
    if (cancel) return {};
    if (!files.ok()) return files.error();
    // Kaito's vLLM runtime serves each adapter folder as a LoRA module named by the folder
    // (requested as the model NAME); its transformers runtime merges them. The GPU engine only
    // merges (chat_service refuses LoRA modules there): said in the log and the ready message.
    if (a.runtime == "vllm" && !env.decoder) {
      c.lora_modules.push_back({ad.name, adapter_dir, container_dir});
    } else {
      c.adapter_dirs.push_back(adapter_dir);
      c.adapter_strengths.push_back(ad.strength);
      // One adapter merged under the vLLM runtime: requests naming it (Kaito's vLLM way) get the
      // merged model, which is that adapter's; with several, no name stands for their mixture
      // (those requests are 404).
      if (a.runtime == "vllm" && a.adapters.size() == 1)
        c.merged_names.push_back({ad.name, adapter_dir, container_dir});
    }
  }
  std::string notes;
  if (a.runtime == "vllm" && env.decoder && !a.adapters.empty()) {
    log_warn(logger("serve"), "the GPU engine merges the adapters: not served as LoRA modules",
             {{"adapters", std::to_string(a.adapters.size())},
              {"requested_as", a.adapters.size() == 1 ? a.adapters[0].name : ""}});
    notes = a.adapters.size() == 1
                ? "; adapter merged (the GPU engine serves no LoRA modules): every model name "
                  "answers with it"
                : "; adapters merged (the GPU engine serves no LoRA modules)";
  }
  // Kaito's inference ConfigMap (inference.config), when the pod mounts one.
  KAITO_ASSIGN_OR_RETURN(auto cfg_yaml, engine::read_text_if_present(
                                            under_root(env.root, a.config_file), "--config-file"));
  double kv_fraction = kDefaultKvCacheMemoryFraction;
  if (cfg_yaml) {
    auto eff = apply_inference_config(*cfg_yaml, &c);
    if (!eff.ok())
      return status(
          eff.error().code(), eff.error().message(),
          a.config_file + (eff.error().where().empty() ? "" : ": ") + eff.error().where());
    kv_fraction = eff->kv_cache_memory_fraction;
    if (!env.decoder) {  // the CPU engine holds no GPU memory and no paged cache
      if (c.gpu_memory_utilization > 0) eff->ignored.push_back("vllm.gpu-memory-utilization");
      if (!c.prefix_caching) eff->ignored.push_back("vllm.enable-prefix-caching");
      if (c.kv_blocks > 0) eff->ignored.push_back("vllm.num-gpu-blocks-override");
    }
    notes += "; max-num-seqs " + std::to_string(c.max_batch);
    if (c.max_model_len > 0) notes += ", max-model-len " + std::to_string(c.max_model_len);
    for (size_t i = 0; i < eff->ignored.size(); ++i)
      notes += (i ? ", " : "; not applied: ") + eff->ignored[i];
  }
  log_info(logger("serve"), "loading",
           {{"preset", a.preset},
            {"dir", dir},
            {"adapters", std::to_string(c.adapter_dirs.size())},
            {"lora_modules", std::to_string(c.lora_modules.size())},
            {"engine", env.decoder ? "gpu" : "cpu"}});
  KAITO_ASSIGN_OR_RETURN(auto service, engine::chat_service::load(c));
  if (cancel) return {};
  const int64_t kv_tokens = size_kv_cache(*service, kv_fraction);
  notes += kv_tokens > 0 ? "; kv cache " + std::to_string(kv_tokens) + " tokens" : "";
  for (size_t i = 0; i < c.lora_modules.size(); ++i)
    notes += (i ? ", " : "; LoRA modules ") + c.lora_modules[i].name;
  http_server_options o;
  o.host = env.host;
  const int64_t port = a.port + env.slot;
  if (port > 65535) return invalid_argument("port + slot is past 65535", "--port");
  o.port = static_cast<uint16_t>(port);
  KAITO_ASSIGN_OR_RETURN(auto tools,
                         serving_tool_format(*service, a.tool_call_parser, "--tool-call-parser"));
  KAITO_ASSIGN_OR_RETURN(auto server,
                         http_server::start(o, inference_routes(*service, a.preset, tools,
                                                                {.rate_limit = a.rate_limit})));
  log_info(logger("serve"), "listening",
           {{"preset", a.preset},
            {"port", std::to_string(server->port())},
            {"tool_call_parser", std::string(api::tool_call_format_name(tools))}});
  if (on_ready)
    on_ready("serving " + a.preset + " on :" + std::to_string(server->port()) +
             " (POST /v1/chat/completions, /chat; GET /health)" + notes);
  status engine;  // a failed engine ends the unit, so the pod restarts on a fresh one
  while (!cancel.load() && (engine = service->health()).ok())
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  // Stopped (the pod is deleted): no new requests; the answers in progress get the pod's grace,
  // less a second to shut down before the machine's kill. A failed engine has nothing to drain.
  const int64_t grace = env.grace_ms ? env.grace_ms->load() : 0;
  if (engine.ok() && grace > 1000) {
    const bool drained = server->drain(std::chrono::milliseconds(grace - 1000));
    log_info(logger("serve"), drained ? "drained" : "drain timed out",
             {{"grace_ms", std::to_string(grace)}});
  }
  stop_serving(*service, *server);
  if (!engine.ok())
    return status(engine.code(), "the engine failed: " + engine.to_string(), "engine");
  return {};
}

}  // namespace kaito::actors
