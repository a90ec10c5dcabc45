// serve_unit: the work of a Kaito inference pod (`kaito worker` --task=serve, actors/work_args.h):
// each --adapter-image pulled into /mnt/adapter/<name> under the pod's root (Kaito's puller init
// containers; actors/image_inputs.h, with the --pull-secret configs), then the preset's model
// folder (--model-dir, else $KAITO_MODELS_DIR/<preset>) loaded into an engine::chat_service with
// the adapters merged at their strengths (Kaito's transformers runtime) and served with
// inference_routes on 0.0.0.0:<port + slot> (Kaito's servers listen on 5000 + the local rank; the
// slot keeps two pods of one machine apart) under the preset's name, until cancel. on_ready is
// called once the server listens, with a line saying where ("serving phi-3-mini-128k-instruct on
// :5001"); the pod turns Ready then. Errors (no model folder, an adapter image that cannot be
// pulled or merged, a model that does not load, a port in use) name the flag, file or field
// ("inference.adapters[0]: pull manifest:
// ... 404 ...").
// Thread-safety: one call per thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "actors/http_server.h"
#include "actors/model_store.h"
#include "actors/work_args.h"
#include "base/status.h"
#include "engine/chat_service.h"

namespace kaito::actors {

struct serve_unit_env {
  std::string root;     // the pod's directory; container paths live under it
  model_source models;  // $KAITO_MODELS_DIR, $KAITO_MODEL_IMAGE, ... (model_store.h)
  uint32_t slot = 0;
  std::string host = "0.0.0.0";
  // The engine answers run on (engine/chat_service.h); empty: the CPU engine. A decoder that
  // allocates its KV cache up front (the GPU's) ignores the inference config's CPU KV share.
  engine::decoder_factory decoder;
  // Read once cancel is set: the pod's termination grace (cancel_work.grace_ms). The server
  // stops taking requests and lets the answers in progress finish for up to this less 1 s (the
  // rest is for shutting down before the machine's kill); null or 0: they end at once (503).
  const std::atomic<int64_t>* grace_ms = nullptr;
};

// Sizes the KV cache of the answers `service` decodes together: `share` of the memory available
// now (MemAvailable, so measured once the model is loaded). Returns the budget in token
// positions, 0 when there is no limit (share 0, or /proc/meminfo unreadable).
int64_t size_kv_cache(const engine::chat_service& service, double share);

// The end of serving, after any drain: the engine ends the answers still in progress (503), the
// server gets half a second to send those before stop() closes every connection, so a client
// sees the 503 rather than a reset connection.
void stop_serving(engine::chat_service& service, http_server& server);

// Returns once cancel is set (ok; after the drain above) or on an error: loading, or the engine
// failing while serving (chat_service::health; where "engine": the worker then exits, so the pod
// restarts on a fresh process and device context, as a failed liveness probe would restart its
// container).
status run_serve_unit(const serve_args& a, const serve_unit_env& env,
                      const std::atomic<bool>& cancel,
                      const std::function<void(const std::string& ready_text)>& on_ready);

}  // namespace kaito::actors
