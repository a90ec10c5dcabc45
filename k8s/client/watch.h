// A resilient watch: list (unless a resourceVersion is given), then stream chunked JSON events,
// one callback per event, in order. Bookmarks are requested (allowWatchBookmarks) and delivered
// as type "BOOKMARK" so the resume point advances. A dropped or timed-out connection is resumed
// from the last seen resourceVersion after a short backoff; a 410 Gone (HTTP or an ERROR event)
// triggers a re-list and a synthetic re-sync: objects of the new list as ADDED (unknown) or
// MODIFIED (known, resourceVersion changed), and DELETED for known objects that vanished.
//
//   watcher w(c, cms, "default", {});
//   std::thread t([&] { w.run([](const watch_event& e) { ... }); });
//   w.stop(); t.join();            // stop() from any thread; run() returns ok
//
// run() returns only after stop() (ok) or a non-retryable error (unauthenticated, not_found of
// the resource, permission_denied, invalid_argument), which it returns.
//
// Thread-safety: run() on one thread; stop() and synced() from any.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "k8s/client/client.h"

namespace kaito::k8s {

struct watch_event {
  std::string type;  // ADDED, MODIFIED, DELETED, BOOKMARK
  json object;
};

struct watch_options {
  std::string label_selector;
  std::string field_selector;
  std::string resource_version;  // "": list first and emit the objects as ADDED
  int64_t list_page_size = 500;
  std::chrono::milliseconds idle_timeout{60000};  // no bytes for this long: reconnect
  std::chrono::milliseconds min_backoff{50};
  std::chrono::milliseconds max_backoff{2000};
  std::function<void()> on_synced;  // after each (re-)list's events were delivered
};

class watcher {
 public:
  watcher(client& c, resource_ref r, std::string ns, watch_options o);
  status run(const std::function<void(const watch_event&)>& on_event);
  void stop();
  std::string last_resource_version() const;
  int reconnects() const { return reconnects_; }
  int relists() const { return relists_; }

 private:
  status relist(const std::function<void(const watch_event&)>& on_event);
  // One watch connection; returns ok when the stream ended (resume), an error otherwise.
  status stream_once(const std::function<void(const watch_event&)>& on_event);
  void deliver(const watch_event& ev, const std::function<void(const watch_event&)>& on_event);
  bool sleep_backoff(std::chrono::milliseconds d);

  client& c_;
  resource_ref r_;
  std::string ns_;
  watch_options o_;
  std::map<std::string, json> known_;  // "ns/name" -> last object seen
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string rv_;
  bool stopping_ = false;
  connection* active_ = nullptr;
  std::atomic<int> reconnects_{0};
  std::atomic<int> relists_{0};
};

std::string object_key(const json& obj);  // "ns/name" (or "name" for cluster-scoped)

}  // namespace kaito::k8s
