// List + watch with resume and re-list; see watch.h.
#include "k8s/client/watch.h"

#include <set>

#include "k8s/client/api_error.h"

namespace kaito::k8s {

std::string object_key(const json& obj) {
  std::string ns = meta_string(obj, "namespace");
  std::string name = meta_string(obj, "name");
  if (name.empty()) return "";
  return ns.empty() ? name : ns + "/" + name;
}

static std::string rv_of(const json& obj) {
  return meta_string(obj, "resourceVersion");
}

watcher::watcher(client& c, resource_ref r, std::string ns, watch_options o)
    : c_(c), r_(std::move(r)), ns_(std::move(ns)), o_(std::move(o)), rv_(o_.resource_version) {}

std::string watcher::last_resource_version() const {
  std::lock_guard<std::mutex> l(mu_);
  return rv_;
}

void watcher::stop() {
  std::lock_guard<std::mutex> l(mu_);
  stopping_ = true;
  if (active_) active_->cancel();
  cv_.notify_all();
}

bool watcher::sleep_backoff(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait_for(l, d, [&] { return stopping_; });
  return !stopping_;
}

void watcher::deliver(const watch_event& ev,
                      const std::function<void(const watch_event&)>& on_event) {
  std::string rv = rv_of(ev.object);
  if (ev.type != "BOOKMARK") {
    std::string key = object_key(ev.object);
    if (ev.type == "DELETED")
      known_.erase(key);
    else
      known_[key] = ev.object;
  }
  if (!rv.empty()) {
    std::lock_guard<std::mutex> l(mu_);
    rv_ = rv;
  }
  on_event(ev);
}

status watcher::relist(const std::function<void(const watch_event&)>& on_event) {
  list_options lo;
  lo.label_selector = o_.label_selector;
  lo.field_selector = o_.field_selector;
  lo.limit = o_.list_page_size;
  KAITO_ASSIGN_OR_RETURN(json list, c_.list(r_, ns_, lo));
  relists_++;
  std::set<std::string> seen;
  for (auto& item : list["items"]) {
    std::string key = object_key(item);
    seen.insert(key);
    auto it = known_.find(key);
    if (it == known_.end()) {
      deliver({"ADDED", item}, on_event);
    } else if (rv_of(it->second) != rv_of(item)) {
      deliver({"MODIFIED", item}, on_event);
    }
  }
  std::vector<json> gone;
  for (const auto& [key, obj] : known_)
    if (!seen.count(key)) gone.push_back(obj);
  for (auto& obj : gone) deliver({"DELETED", std::move(obj)}, on_event);
  {
    std::lock_guard<std::mutex> l(mu_);
    rv_ = meta_string(list, "resourceVersion");
  }
  if (o_.on_synced) o_.on_synced();
  return status();
}

status watcher::stream_once(const std::function<void(const watch_event&)>& on_event) {
  KAITO_ASSIGN_OR_RETURN(std::unique_ptr<connection> conn, c_.open_connection());
  std::string rv;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_) return status();
    active_ = conn.get();
    rv = rv_;
  }
  struct clear_active {
    watcher* w;
    ~clear_active() {
      std::lock_guard<std::mutex> l(w->mu_);
      w->active_ = nullptr;
    }
  } guard{this};
  std::string target = resource_path(r_, ns_) + "?watch=true&allowWatchBookmarks=true";
  if (!rv.empty()) target += "&resourceVersion=" + url_escape(rv);
  if (!o_.label_selector.empty()) target += "&labelSelector=" + url_escape(o_.label_selector);
  if (!o_.field_selector.empty()) target += "&fieldSelector=" + url_escape(o_.field_selector);
  http_request req = c_.make_request("GET", target);
  KAITO_ASSIGN_OR_RETURN(http_reply head, conn->start_stream(req, c_.options().request_timeout));
  if (head.code / 100 != 2) return status_from_response(head.code, head.body);
  std::string pending;
  while (true) {
    auto more = conn->read_some(pending, o_.idle_timeout);
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      json ev = json::parse(pending.substr(0, nl), nullptr, false);
      pending.erase(0, nl + 1);
      std::string type = string_field(ev, "type");
      if (type.empty()) continue;
      json obj = ev.contains("object") ? std::move(ev["object"]) : json::object();
      if (type == "ERROR") return status_from_status_object(obj);
      deliver({type, std::move(obj)}, on_event);
    }
    if (!more.ok()) return more.error();
    if (!*more) return status();  // the server ended the stream: resume
  }
}

status watcher::run(const std::function<void(const watch_event&)>& on_event) {
  bool need_list = last_resource_version().empty();
  std::chrono::milliseconds backoff = o_.min_backoff;
  auto stopping = [&] {
    std::lock_guard<std::mutex> l(mu_);
    return stopping_;
  };
  while (!stopping()) {
    status st = need_list ? relist(on_event) : stream_once(on_event);
    if (stopping()) break;
    if (need_list && st.ok()) {
      need_list = false;
      backoff = o_.min_backoff;
      continue;
    }
    if (!need_list && is_gone(st)) {  // too old: re-list at once
      need_list = true;
      continue;
    }
    switch (st.code()) {
      case status_code::ok:
        backoff = o_.min_backoff;
        break;  // clean end of the stream
      case status_code::unauthenticated:
      case status_code::permission_denied:
      case status_code::not_found:
      case status_code::invalid_argument:
      case status_code::unimplemented:
        return st;
      default:
        break;
    }
    if (!need_list) reconnects_++;
    if (!sleep_backoff(st.ok() ? o_.min_backoff : backoff)) break;
    if (!st.ok()) backoff = std::min(backoff * 2, o_.max_backoff);
  }
  return status();
}

}  // namespace kaito::k8s
