// Watch streams: GET <collection>?watch=true. One JSON event per line over a chunked response.
//
//   resourceVersion unset or "0": synthetic ADDED for every current match, then live events;
//   resourceVersion N: the logged events after N, then live (N older than the log: one ERROR event
//   with a 410 Expired Status, then the stream ends, as the real server does).
//   Selectors: an object entering the selector is ADDED, one leaving it DELETED.
//   allowWatchBookmarks=true: a BOOKMARK with the latest revision every bookmark_interval_ms.
//   timeoutSeconds: the stream ends cleanly after it. Table Accept: each event's object is a
//   one-row Table; the first carries columnDefinitions.
//
// Writers never wait for a watcher: events go into a bounded per-watch queue (watch_queue_limit);
// a watcher that falls that far behind gets an ERROR event (410, "watch queue overflowed") and is
// dropped. A client that disconnects is noticed at once (poll on the socket) and unregistered.
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <set>

#include "k8s/apiserver/errors.h"
#include "k8s/apiserver/handlers.h"
#include "k8s/apiserver/selectors.h"
#include "k8s/apiserver/tables.h"

namespace kaito::k8s::apiserver {

namespace {

class watch_queue : public watch_sink {
 public:
  explicit watch_queue(size_t limit) : limit_(limit), fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  ~watch_queue() override {
    if (fd_ >= 0) close(fd_);
  }
  void on_event(const watch_event& ev) override {
    {
      std::lock_guard lock(mu_);
      if (overflow_) return;
      if (q_.size() >= limit_)
        overflow_ = true;
      else
        q_.push_back(ev);
    }
    uint64_t one = 1;
    if (fd_ >= 0) (void)!write(fd_, &one, sizeof one);
  }
  // Takes the queued events; false when the queue overflowed.
  bool drain(std::deque<watch_event>& out) {
    uint64_t n;
    if (fd_ >= 0) (void)!read(fd_, &n, sizeof n);
    std::lock_guard lock(mu_);
    out.swap(q_);
    q_.clear();
    return !overflow_;
  }
  int fd() const { return fd_; }

 private:
  size_t limit_;
  int fd_;
  std::mutex mu_;
  std::deque<watch_event> q_;
  bool overflow_ = false;
};

struct watch_state {
  std::shared_ptr<const resource_def> def;
  std::string version;
  std::string ns;
  label_selector labels;
  field_selector fields;
  bool table = false;
  bool headers_sent = false;
  std::set<std::string> matching;  // names (ns/name) currently inside the selectors
};

bool selected(const watch_state& w, const json& obj) {
  const json& m = obj["metadata"];
  return w.labels.matches(m.contains("labels") ? m["labels"] : json()) && w.fields.matches(obj);
}

std::string line(watch_state& w, const char* type, const json& obj) {
  json out = present(*w.def, w.version, obj);
  if (w.table) {
    std::vector<const json*> one = {&out};
    std::string rv = out["metadata"].contains("resourceVersion")
                         ? out["metadata"]["resourceVersion"].get<std::string>()
                         : "";
    out = build_table(*w.def, w.version, one, rv, !w.headers_sent, std::time(nullptr));
    w.headers_sent = true;
  }
  return to_wire(json({{"type", type}, {"object", out}})) + "\n";
}

// The line to send for one committed event, or "" when the watcher should not see it.
std::string render(watch_state& w, const watch_event& ev) {
  if (!w.ns.empty() && ev.key.ns != w.ns) return "";
  std::string id = ev.key.ns + "/" + ev.key.name;
  bool was = w.matching.count(id) > 0;
  bool now = ev.type != event_type::deleted && selected(w, *ev.object);
  if (ev.type == event_type::deleted) {
    w.matching.erase(id);
    return was || selected(w, *ev.object) ? line(w, "DELETED", *ev.object) : "";
  }
  if (now) {
    w.matching.insert(id);
    return line(w, ev.type == event_type::added || !was ? "ADDED" : "MODIFIED", *ev.object);
  }
  w.matching.erase(id);
  if (was) return line(w, "DELETED", *ev.object);
  return "";
}

// Unregisters the queue when the stream (or an unsent response) is dropped.
struct unwatch_guard {
  store* db;
  std::shared_ptr<watch_queue> queue;
  ~unwatch_guard() { db->unwatch(queue); }
};

std::string error_line(int code, const std::string& reason, const std::string& msg) {
  return to_wire(json({{"type", "ERROR"}, {"object", status_object(code, reason, msg)}})) + "\n";
}

}  // namespace

api_response handle_watch(api_context& ctx, const object_request& o) {
  auto w = std::make_shared<watch_state>();
  w->def = o.def;
  w->version = o.r.version;
  w->ns = o.def->namespaced ? o.r.ns : "";
  w->table = wants_table(o.req.accept);
  auto labels = parse_label_selector(query_value(o.req, "labelSelector"));
  if (!labels.ok()) return bad_request("unable to parse requirement: " + labels.error().message());
  auto fields = parse_field_selector(query_value(o.req, "fieldSelector"), o.def->resource);
  if (!fields.ok()) return bad_request(fields.error().message());
  w->labels = *labels;
  w->fields = *fields;
  int64_t from = 0;
  std::string rv_text = query_value(o.req, "resourceVersion");
  if (!rv_text.empty()) {
    try {
      from = std::stoll(rv_text);
    } catch (...) {
      return bad_request("invalid resourceVersion: " + rv_text);
    }
  }
  int64_t timeout_s = 0;
  if (std::string t = query_value(o.req, "timeoutSeconds"); !t.empty()) {
    try {
      timeout_s = std::stoll(t);
    } catch (...) {
      return bad_request("invalid timeoutSeconds: " + t);
    }
  }
  bool bookmarks = query_flag(o.req, "allowWatchBookmarks");
  if (from > 0) {
    // Seed membership with the current matches so later MODIFIED/DELETED events are classified.
    for (const auto& item : ctx.db.list(o.def->store_key(), w->ns).items)
      if (selected(*w, *item))
        w->matching.insert((*item)["metadata"].value("namespace", std::string()) + "/" +
                           (*item)["metadata"]["name"].get<std::string>());
  }
  auto queue = std::make_shared<watch_queue>(ctx.opts.watch_queue_limit);
  auto initial = ctx.db.watch(o.def->store_key(), from, queue);
  api_response resp;
  resp.content_type = w->table ? kTableContentType : "application/json";
  store* db = &ctx.db;
  const server_options* opts = &ctx.opts;
  std::atomic<bool>* stopping = &ctx.stopping;
  if (!initial.ok()) {
    std::string msg = initial.error().message();
    bool expired = initial.error().code() == status_code::failed_precondition;
    resp.stream = [msg, expired](stream_writer& out) {
      out.write(expired ? error_line(410, "Expired", msg) : error_line(500, "InternalError", msg));
    };
    return resp;
  }
  auto backlog = std::make_shared<std::vector<watch_event>>(std::move(*initial));
  // Built in place: a temporary guard would unregister the queue when it dies.
  std::shared_ptr<unwatch_guard> guard(new unwatch_guard{db, queue});
  resp.stream = [w, queue, guard, backlog, db, opts, stopping, timeout_s,
                 bookmarks](stream_writer& out) {
    using clock = std::chrono::steady_clock;
    auto deadline =
        timeout_s > 0 ? clock::now() + std::chrono::seconds(timeout_s) : clock::time_point::max();
    auto next_bookmark = clock::now() + std::chrono::milliseconds(opts->bookmark_interval_ms);
    bool alive = true;
    std::string batch;
    for (const auto& ev : *backlog) batch += render(*w, ev);
    backlog->clear();
    if (!batch.empty()) alive = out.write(batch);
    std::deque<watch_event> events;
    while (alive && !stopping->load()) {
      auto now = clock::now();
      if (now >= deadline) break;
      auto until = std::min(deadline, bookmarks ? next_bookmark : now + std::chrono::seconds(1));
      int wait_ms = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count());
      if (!out.wait(queue->fd(), std::max(wait_ms, 0))) break;
      bool ok = queue->drain(events);
      batch.clear();
      for (const auto& ev : events) batch += render(*w, ev);
      events.clear();
      if (!ok) {
        batch +=
            error_line(410, "Expired",
                       "watch queue overflowed: the client is too slow; relist and watch again");
        out.write(batch);
        break;
      }
      if (bookmarks && clock::now() >= next_bookmark) {
        json bm = {{"type", "BOOKMARK"},
                   {"object",
                    {{"kind", w->def->kind},
                     {"apiVersion", w->def->api_version(w->version)},
                     {"metadata", {{"resourceVersion", std::to_string(db->current_rv())}}}}}};
        batch += to_wire(bm) + "\n";
        next_bookmark = clock::now() + std::chrono::milliseconds(opts->bookmark_interval_ms);
      }
      if (!batch.empty()) alive = out.write(batch);
    }
    db->unwatch(queue);
    (void)guard;
  };
  return resp;
}

}  // namespace kaito::k8s::apiserver
