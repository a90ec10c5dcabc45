// SQLite-backed object store; see store.h for the contract.
#include "k8s/apiserver/store.h"

#include <sqlite3.h>

#include <utility>

namespace kaito::k8s::apiserver {

namespace {

constexpr const char* kSchema = R"sql(
PRAGMA journal_mode=WAL;
PRAGMA synchronous=FULL;
CREATE TABLE IF NOT EXISTS objects(resource TEXT NOT NULL, ns TEXT NOT NULL, name TEXT NOT NULL,
  rv INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY(resource, ns, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events(rv INTEGER PRIMARY KEY, type INTEGER NOT NULL,
  resource TEXT NOT NULL, ns TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_by_resource ON events(resource, rv);
CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL);
)sql";

// One prepared statement, finalized on scope exit.
class stmt {
 public:
  stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }
  ~stmt() { sqlite3_finalize(s_); }
  bool ok() const { return rc_ == SQLITE_OK; }
  stmt& bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  stmt& bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  int step() { return sqlite3_step(s_); }
  int64_t i64(int col) { return sqlite3_column_int64(s_, col); }
  std::string text(int col) {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_, col))) : std::string();
  }

 private:
  sqlite3_stmt* s_ = nullptr;
  int rc_ = SQLITE_ERROR;
};

status exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "sqlite error";
    sqlite3_free(err);
    return io_error("sqlite: " + msg);
  }
  return {};
}

status run(sqlite3* db, stmt& s) {
  if (!s.ok()) return io_error(std::string("sqlite prepare: ") + sqlite3_errmsg(db));
  int rc = s.step();
  if (rc != SQLITE_DONE && rc != SQLITE_ROW)
    return io_error(std::string("sqlite: ") + sqlite3_errmsg(db));
  return {};
}

std::shared_ptr<const json> with_rv(json obj, int64_t rv) {
  if (!obj.is_object()) obj = json::object();
  obj["metadata"]["resourceVersion"] = std::to_string(rv);
  return std::make_shared<const json>(std::move(obj));
}

}  // namespace

const char* event_type_name(event_type t) {
  switch (t) {
    case event_type::added:
      return "ADDED";
    case event_type::modified:
      return "MODIFIED";
    case event_type::deleted:
      return "DELETED";
  }
  return "ERROR";
}

int64_t object_rv(const json& obj) {
  if (!obj.is_object()) return 0;
  auto m = obj.find("metadata");
  if (m == obj.end() || !m->is_object()) return 0;
  auto r = m->find("resourceVersion");
  if (r == m->end() || !r->is_string()) return 0;
  const std::string& s = r->get_ref<const std::string&>();
  if (s.empty() || s.size() > 18) return 0;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return 0;
    v = v * 10 + (c - '0');
  }
  return v;
}

store::store(sqlite3* db, store_options opts) : db_(db), opts_(opts) {}

store::~store() {
  sqlite3_close(db_);
}

result<std::unique_ptr<store>> store::open(const std::string& path, store_options opts) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return io_error("cannot open store: " + msg, path);
  }
  sqlite3_busy_timeout(db, 5000);
  if (opts.compaction_window < 1) opts.compaction_window = 1;
  std::unique_ptr<store> s(new store(db, opts));
  KAITO_TRY(exec(db, kSchema).with_context(path));
  KAITO_TRY(s->load());
  return s;
}

status store::load() {
  {
    stmt q(db_, "SELECT k, v FROM meta");
    while (q.ok() && q.step() == SQLITE_ROW) {
      std::string k = q.text(0);
      if (k == "rv") rv_ = q.i64(1);
      if (k == "compacted") compacted_rv_ = q.i64(1);
    }
  }
  stmt q(db_, "SELECT resource, ns, name, body FROM objects");
  if (!q.ok()) return io_error(std::string("sqlite: ") + sqlite3_errmsg(db_));
  while (q.step() == SQLITE_ROW) {
    object_key key{q.text(0), q.text(1), q.text(2)};
    json obj = json::parse(q.text(3), nullptr, false);
    if (obj.is_discarded())
      return data_loss("corrupt stored object", key.resource + "/" + key.ns + "/" + key.name);
    objects_[key] = std::make_shared<const json>(std::move(obj));
  }
  return {};
}

status store::commit(event_type type, const object_key& key, const json* obj, int64_t rv) {
  KAITO_TRY(exec(db_, "BEGIN IMMEDIATE"));
  auto fail = [&](status s) {
    (void)exec(db_, "ROLLBACK");
    return s;
  };
  std::string body = obj ? obj->dump(-1, ' ', false, json::error_handler_t::replace) : "{}";
  if (type == event_type::deleted) {
    stmt d(db_, "DELETE FROM objects WHERE resource=?1 AND ns=?2 AND name=?3");
    d.bind(1, key.resource).bind(2, key.ns).bind(3, key.name);
    if (auto s = run(db_, d); !s.ok()) return fail(s);
  } else {
    stmt u(db_,
           "INSERT OR REPLACE INTO objects(resource, ns, name, rv, body) VALUES(?1,?2,?3,?4,?5)");
    u.bind(1, key.resource).bind(2, key.ns).bind(3, key.name).bind(4, rv).bind(5, body);
    if (auto s = run(db_, u); !s.ok()) return fail(s);
  }
  stmt e(db_, "INSERT INTO events(rv, type, resource, ns, name, body) VALUES(?1,?2,?3,?4,?5,?6)");
  e.bind(1, rv).bind(2, static_cast<int64_t>(type)).bind(3, key.resource).bind(4, key.ns);
  e.bind(5, key.name).bind(6, body);
  if (auto s = run(db_, e); !s.ok()) return fail(s);
  stmt m(db_, "INSERT OR REPLACE INTO meta(k, v) VALUES('rv', ?1)");
  m.bind(1, rv);
  if (auto s = run(db_, m); !s.ok()) return fail(s);
  int64_t new_compacted = compacted_rv_;
  if (rv - opts_.compaction_window > compacted_rv_) {
    new_compacted = rv - opts_.compaction_window;
    stmt c(db_, "DELETE FROM events WHERE rv <= ?1");
    c.bind(1, new_compacted);
    if (auto s = run(db_, c); !s.ok()) return fail(s);
    stmt mc(db_, "INSERT OR REPLACE INTO meta(k, v) VALUES('compacted', ?1)");
    mc.bind(1, new_compacted);
    if (auto s = run(db_, mc); !s.ok()) return fail(s);
  }
  KAITO_TRY(exec(db_, "COMMIT"));
  compacted_rv_ = new_compacted;
  return {};
}

void store::publish(watch_event ev) {
  auto range = sinks_.equal_range(ev.key.resource);
  for (auto it = range.first; it != range.second; ++it) it->second->on_event(ev);
}

result<json> store::create(const object_key& key, json obj) {
  std::lock_guard lock(mu_);
  if (objects_.count(key)) return status(status_code::already_exists, "already exists");
  int64_t rv = rv_ + 1;
  auto stored = with_rv(std::move(obj), rv);
  KAITO_TRY(commit(event_type::added, key, stored.get(), rv));
  rv_ = rv;
  objects_[key] = stored;
  publish({event_type::added, rv, key, stored});
  return *stored;
}

result<json> store::get(const object_key& key) const {
  std::lock_guard lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return not_found("not found");
  return *it->second;
}

list_result store::list(const std::string& resource, const std::string& ns) const {
  std::lock_guard lock(mu_);
  list_result out;
  out.rv = rv_;
  auto it = objects_.lower_bound(object_key{resource, ns.empty() ? "" : ns, ""});
  for (; it != objects_.end() && it->first.resource == resource; ++it) {
    if (!ns.empty() && it->first.ns != ns) break;
    out.items.push_back(it->second);
  }
  return out;
}

result<json> store::update(const object_key& key, json obj, int64_t expected_rv) {
  std::lock_guard lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return not_found("not found");
  int64_t live_rv = object_rv(*it->second);
  if (expected_rv > 0 && expected_rv != live_rv)
    return status(status_code::conflict, "the object has been modified");
  if (obj.is_object()) obj["metadata"]["resourceVersion"] = std::to_string(live_rv);
  if (obj == *it->second) return obj;  // no-op: same revision, no event
  int64_t rv = rv_ + 1;
  auto stored = with_rv(std::move(obj), rv);
  KAITO_TRY(commit(event_type::modified, key, stored.get(), rv));
  rv_ = rv;
  it->second = stored;
  publish({event_type::modified, rv, key, stored});
  return *stored;
}

result<json> store::remove(const object_key& key, int64_t expected_rv) {
  std::lock_guard lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return not_found("not found");
  if (expected_rv > 0 && expected_rv != object_rv(*it->second))
    return status(status_code::conflict, "the object has been modified");
  int64_t rv = rv_ + 1;
  auto last = with_rv(*it->second, rv);
  KAITO_TRY(commit(event_type::deleted, key, last.get(), rv));
  rv_ = rv;
  objects_.erase(it);
  publish({event_type::deleted, rv, key, last});
  return *last;
}

int64_t store::current_rv() const {
  std::lock_guard lock(mu_);
  return rv_;
}

int64_t store::compacted_rv() const {
  std::lock_guard lock(mu_);
  return compacted_rv_;
}

result<std::vector<watch_event>> store::watch(const std::string& resource, int64_t from_rv,
                                              std::shared_ptr<watch_sink> sink) {
  std::lock_guard lock(mu_);
  std::vector<watch_event> out;
  if (from_rv <= 0) {
    auto it = objects_.lower_bound(object_key{resource, "", ""});
    for (; it != objects_.end() && it->first.resource == resource; ++it)
      out.push_back({event_type::added, object_rv(*it->second), it->first, it->second});
  } else if (from_rv < rv_) {
    if (from_rv < compacted_rv_)
      return status(status_code::failed_precondition,
                    "too old resource version: " + std::to_string(from_rv) + " (" +
                        std::to_string(compacted_rv_ + 1) + ")");
    stmt q(db_,
           "SELECT rv, type, ns, name, body FROM events WHERE resource=?1 AND rv>?2 ORDER BY rv");
    q.bind(1, resource).bind(2, from_rv);
    if (!q.ok()) return io_error(std::string("sqlite: ") + sqlite3_errmsg(db_));
    while (q.step() == SQLITE_ROW) {
      json obj = json::parse(q.text(4), nullptr, false);
      if (obj.is_discarded()) return data_loss("corrupt event", std::to_string(q.i64(0)));
      int64_t t = q.i64(1);
      if (t < 0 || t > 2) return data_loss("corrupt event type", std::to_string(q.i64(0)));
      out.push_back({static_cast<event_type>(t), q.i64(0),
                     object_key{resource, q.text(2), q.text(3)},
                     std::make_shared<const json>(std::move(obj))});
    }
  }
  if (sink) sinks_.emplace(resource, std::move(sink));
  return out;
}

void store::unwatch(const std::shared_ptr<watch_sink>& sink) {
  std::lock_guard lock(mu_);
  for (auto it = sinks_.begin(); it != sinks_.end();) {
    if (it->second == sink)
      it = sinks_.erase(it);
    else
      ++it;
  }
}

size_t store::watcher_count() const {
  std::lock_guard lock(mu_);
  return sinks_.size();
}

}  // namespace kaito::k8s::apiserver
