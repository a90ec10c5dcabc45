// An informer: lists and watches one resource (watcher), keeps an indexed cache of the objects
// (by namespace/name, with a per-namespace index) and calls event handlers on add, update and
// delete. Handlers run on the informer's thread, in event order, after the cache changed;
// they must be quick (typically: enqueue a key in a work_queue).
//
//   informer inf(c, {"kaito.sh","v1beta1","workspaces",true}, "");   // "" = all namespaces
//   inf.add_handlers({.on_add = [&](const json& o) { q.add(object_key(o)); }, ...});
//   inf.start(); inf.wait_for_sync(10s);
//   auto ws = inf.get("default", "x");
//   inf.stop();
//
// Re-lists after 410 reach handlers as the watcher's synthetic ADDED/MODIFIED/DELETED events.
//
// Thread-safety: get/list/has_synced from any thread; start/stop from one.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "k8s/client/watch.h"

namespace kaito::k8s {

struct informer_handlers {
  std::function<void(const json& obj)> on_add;
  std::function<void(const json& old_obj, const json& new_obj)> on_update;
  std::function<void(const json& obj)> on_delete;
};

class informer {
 public:
  informer(client& c, resource_ref r, std::string ns, watch_options o = {});
  ~informer();
  informer(const informer&) = delete;
  informer& operator=(const informer&) = delete;

  void add_handlers(informer_handlers h);  // before start()
  void start();
  void stop();
  bool wait_for_sync(std::chrono::milliseconds timeout);
  bool has_synced() const;
  // The watch's terminal error (ok while running or after a clean stop).
  status error() const;

  std::optional<json> get(const std::string& ns, const std::string& name) const;
  std::vector<json> list(const std::string& ns = "") const;  // "" = every namespace
  // Only the objects `pred` accepts are copied (pred runs under the cache lock: keep it cheap,
  // never call back into the informer).
  std::vector<json> list_if(const std::string& ns,
                            const std::function<bool(const json&)>& pred) const;
  size_t size() const;

 private:
  void on_event(const watch_event& ev);

  client& c_;
  resource_ref r_;
  std::string ns_;
  std::unique_ptr<watcher> w_;
  std::vector<informer_handlers> handlers_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, json> store_;                   // "ns/name" -> object
  std::map<std::string, std::set<std::string>> by_ns_;  // ns -> keys
  bool synced_ = false;
  status error_;
};

}  // namespace kaito::k8s
