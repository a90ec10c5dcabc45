// serve_unit; see serve_unit.h.
#include "actors/serve_unit.h"

#include <chrono>
#include <filesystem>
#include <thread>

#include "actors/http_server.h"
#include "actors/inference_routes.h"
#include "engine/chat_service.h"

namespace kaito::actors {

status run_serve_unit(const serve_args& a, const serve_unit_env& env,
                      const std::atomic<bool>& cancel,
                      const std::function<void(const std::string&)>& on_ready) {
  std::string dir = a.model_dir;
  if (dir.empty()) {
    if (env.models_dir.empty())
      return status(status_code::failed_precondition,
                    "no model folder for preset " + a.preset +
                        ": start the machine with --models DIR (DIR/" + a.preset +
                        "/ a Hugging Face folder)",
                    "KAITO_MODELS_DIR");
    dir = env.models_dir + "/" + a.preset;
  }
  std::error_code ec;
  if (!std::filesystem::exists(dir + "/config.json", ec))
    return status(status_code::failed_precondition,
                  "no Hugging Face model for preset " + a.preset + " at " + dir,
                  a.model_dir.empty() ? "KAITO_MODELS_DIR" : "--model-dir");
  engine::chat_service_config c;
  c.model_dir = dir;
  KAITO_ASSIGN_OR_RETURN(auto service, engine::chat_service::load(c));
  if (cancel) return {};
  http_server_options o;
  o.host = env.host;
  const int64_t port = a.port + env.slot;
  if (port > 65535) return invalid_argument("port + slot is past 65535", "--port");
  o.port = static_cast<uint16_t>(port);
  KAITO_ASSIGN_OR_RETURN(auto server, http_server::start(o, inference_routes(*service, a.preset)));
  if (on_ready)
    on_ready("serving " + a.preset + " on :" + std::to_string(server->port()) +
             " (POST /v1/chat/completions, /chat; GET /health)");
  while (!cancel.load()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  server->stop();
  return {};
}

}  // namespace kaito::actors
