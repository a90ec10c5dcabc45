// A synchronous Kubernetes API client, typed by group/version/resource. Every call returns the
// server's object (or List) as JSON, or a kaito::status mapped from the server's Status answer
// (api_error.h): not_found, already_exists, conflict (stale resourceVersion), invalid_argument
// naming the causes' field paths, unauthenticated...
//
//   auto c = client::connect(*load_kubeconfig(path));
//   resource_ref cms{"", "v1", "configmaps", true};
//   auto cm = (*c)->get(cms, "default", "x");
//   auto all = (*c)->list(cms, "default", {.label_selector = "app=a", .limit = 100});
//
// Connections are kept alive and reused (a small pool); each request has a deadline
// (client_options::request_timeout). list() follows `continue` tokens and returns one List with
// every item and the last page's resourceVersion.
//
// Thread-safety: every method may be called from any thread concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "k8s/client/connection.h"
#include "k8s/client/kubeconfig.h"

namespace kaito::k8s {

using json = nlohmann::json;

struct resource_ref {
  std::string group;  // "" for the core group
  std::string version;
  std::string resource;  // plural
  bool namespaced = true;
};

// The URL path of a collection or (name non-empty) an object; subresource e.g. "status".
std::string resource_path(const resource_ref& r, const std::string& ns,
                          const std::string& name = "", const std::string& subresource = "");
std::string url_escape(const std::string& s);

struct list_options {
  std::string label_selector;
  std::string field_selector;
  int64_t limit = 0;  // page size; 0: one request
  std::string resource_version;
};

enum class patch_type { merge, json_patch, strategic_merge, apply };

struct patch_options {
  std::string field_manager;  // required for apply
  bool force = false;         // apply: take ownership of conflicting fields
  std::string subresource;    // e.g. "status"
};

struct delete_options {
  std::string propagation_policy;  // "", Background, Foreground, Orphan
  std::string resource_version;    // precondition
};

struct client_options {
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{30000};
  size_t max_idle_connections = 4;
  std::string user_agent = "kaito-cpp";
};

class client {
 public:
  static result<std::unique_ptr<client>> connect(const rest_config& cfg, client_options opts = {});

  result<json> get(const resource_ref& r, const std::string& ns, const std::string& name);
  result<json> list(const resource_ref& r, const std::string& ns, const list_options& o = {});
  result<json> create(const resource_ref& r, const std::string& ns, const json& obj);
  // PUT; the name comes from obj.metadata.name. A stale metadata.resourceVersion -> conflict.
  result<json> update(const resource_ref& r, const std::string& ns, const json& obj);
  result<json> update_status(const resource_ref& r, const std::string& ns, const json& obj);
  result<json> patch(const resource_ref& r, const std::string& ns, const std::string& name,
                     patch_type type, const json& patch, const patch_options& o = {});
  result<json> remove(const resource_ref& r, const std::string& ns, const std::string& name,
                      const delete_options& o = {});

  // A raw request against `target` (path + query). Non-2xx answers become errors.
  result<json> request(const std::string& method, const std::string& target,
                       const std::string& body = "",
                       const std::string& content_type = "application/json");

  // For watches: a fresh, unpooled connection and a request carrying the credentials.
  result<std::unique_ptr<connection>> open_connection();
  http_request make_request(const std::string& method, const std::string& target) const;

  const rest_config& config() const { return cfg_; }
  // Connections opened so far (pooled and watch ones): keep-alive reuse keeps this small.
  size_t connections_opened() const { return opened_; }
  const client_options& options() const { return opts_; }

 private:
  client(rest_config cfg, endpoint ep, client_options opts);
  std::string bearer() const;
  result<http_reply> send(http_request& req);

  rest_config cfg_;
  endpoint ep_;
  client_options opts_;
  std::mutex mu_;
  std::vector<std::unique_ptr<connection>> idle_;
  std::atomic<size_t> opened_{0};
};

}  // namespace kaito::k8s
