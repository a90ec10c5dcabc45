// The API server's object store: every object of every resource, durable in SQLite, with one global
// resourceVersion and an event log that watches replay from.
//
// Keys are (resource, namespace, name). `resource` is "<group>/<plural>" ("kaito.sh/workspaces",
// "apps/deployments") or "<plural>" for the core group ("pods"); namespace is "" for cluster-scoped
// objects. Objects are nlohmann::json documents; the store only reads and writes
// metadata.resourceVersion, everything else is the caller's business.
//
// resourceVersion: one 64-bit counter for the whole store (etcd-style revision). Every create,
// update and delete takes the next value; an object's metadata.resourceVersion is the revision of
// its last write. Each write is one SQLite transaction (WAL, synchronous=FULL): once a call
// returns, the write survives a crash or kill -9.
//
// Event log: each write also appends (rv, type, resource, ns, name, object) to an events table. The
// newest `compaction_window` events are kept; a watch from an older revision fails with
// status_code::failed_precondition and the message "too old resource version: N (M)", which the
// server turns into 410 Expired.
//
// Watches: watch() replays the logged events after a revision (or the current state as synthetic
// ADDED events for revision 0) and registers a sink, atomically under the store lock, so the sink
// sees every later commit exactly once, in revision order. Sinks must not block (see watch_sink).
//
// Thread-safety: all methods are safe to call from any thread (one internal mutex; objects are
// cached in memory, SQLite is written through).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"

struct sqlite3;

namespace kaito::k8s::apiserver {

using json = nlohmann::json;

struct object_key {
  std::string resource;
  std::string ns;
  std::string name;
  auto operator<=>(const object_key&) const = default;
};

enum class event_type { added, modified, deleted };
const char* event_type_name(event_type t);  // "ADDED", "MODIFIED", "DELETED"

struct watch_event {
  event_type type = event_type::added;
  int64_t rv = 0;
  object_key key;
  std::shared_ptr<const json> object;  // the object after the write (the last state for DELETED)
};

// Receives committed events. Called with the store lock held: must return quickly and never call
// back into the store (queue the event and wake a writer thread instead).
class watch_sink {
 public:
  virtual ~watch_sink() = default;
  virtual void on_event(const watch_event& ev) = 0;
};

struct store_options {
  int64_t compaction_window = 10000;  // events kept for watch replay
};

struct list_result {
  std::vector<std::shared_ptr<const json>> items;  // sorted by (namespace, name)
  int64_t rv = 0;                                  // the store revision the list was read at
};

class store {
 public:
  // Opens (creating when missing) the database at `path` and loads every object.
  static result<std::unique_ptr<store>> open(const std::string& path, store_options opts = {});
  ~store();
  store(const store&) = delete;
  store& operator=(const store&) = delete;

  // already_exists when the key is taken. Returns the stored object (resourceVersion set).
  result<json> create(const object_key& key, json obj);
  // not_found when absent.
  result<json> get(const object_key& key) const;
  // ns empty = every namespace.
  list_result list(const std::string& resource, const std::string& ns) const;
  // expected_rv > 0: conflict unless it equals the live object's revision. A write that changes
  // nothing keeps the old revision and logs no event.
  result<json> update(const object_key& key, json obj, int64_t expected_rv = 0);
  // Returns the deleted object carrying the deletion's revision.
  result<json> remove(const object_key& key, int64_t expected_rv = 0);

  int64_t current_rv() const;
  int64_t compacted_rv() const;  // watches from revisions below this get "too old"

  // Replays events of `resource` after from_rv (from_rv == 0: the current objects as ADDED, then
  // live) and registers `sink` for later commits. Namespace and selector filtering is the caller's.
  result<std::vector<watch_event>> watch(const std::string& resource, int64_t from_rv,
                                         std::shared_ptr<watch_sink> sink);
  void unwatch(const std::shared_ptr<watch_sink>& sink);
  size_t watcher_count() const;

 private:
  store(sqlite3* db, store_options opts);
  status load();
  status commit(event_type type, const object_key& key, const json* obj, int64_t rv);
  void publish(watch_event ev);

  sqlite3* db_;
  store_options opts_;
  mutable std::mutex mu_;
  std::map<object_key, std::shared_ptr<const json>> objects_;
  int64_t rv_ = 0;
  int64_t compacted_rv_ = 0;
  std::multimap<std::string, std::shared_ptr<watch_sink>> sinks_;  // by resource
};

// The revision in metadata.resourceVersion, 0 when absent or not a number.
int64_t object_rv(const json& obj);

}  // namespace kaito::k8s::apiserver
