// The informer's cache and handler fan-out; see informer.h.
#include "k8s/client/informer.h"

#include "k8s/client/api_error.h"

namespace kaito::k8s {

static std::string ns_of(const json& obj) {
  return meta_string(obj, "namespace");
}

informer::informer(client& c, resource_ref r, std::string ns, watch_options o)
    : c_(c), r_(std::move(r)), ns_(std::move(ns)) {
  auto user_synced = o.on_synced;
  o.on_synced = [this, user_synced] {
    {
      std::lock_guard<std::mutex> l(mu_);
      synced_ = true;
    }
    cv_.notify_all();
    if (user_synced) user_synced();
  };
  w_ = std::make_unique<watcher>(c_, r_, ns_, std::move(o));
}

informer::~informer() {
  stop();
}

void informer::add_handlers(informer_handlers h) {
  handlers_.push_back(std::move(h));
}

void informer::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] {
    status st = w_->run([this](const watch_event& ev) { on_event(ev); });
    std::lock_guard<std::mutex> l(mu_);
    error_ = st;
    cv_.notify_all();
  });
}

void informer::stop() {
  w_->stop();
  if (thread_.joinable()) thread_.join();
}

bool informer::wait_for_sync(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait_for(l, timeout, [&] { return synced_ || !error_.ok(); });
  return synced_;
}

bool informer::has_synced() const {
  std::lock_guard<std::mutex> l(mu_);
  return synced_;
}

status informer::error() const {
  std::lock_guard<std::mutex> l(mu_);
  return error_;
}

void informer::on_event(const watch_event& ev) {
  if (ev.type == "BOOKMARK") return;
  std::string key = object_key(ev.object);
  if (key.empty()) return;
  std::optional<json> old;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = store_.find(key);
    if (it != store_.end()) old = it->second;
    std::string ns = ns_of(ev.object);
    if (ev.type == "DELETED") {
      store_.erase(key);
      auto n = by_ns_.find(ns);
      if (n != by_ns_.end()) {
        n->second.erase(key);
        if (n->second.empty()) by_ns_.erase(n);
      }
    } else {
      store_[key] = ev.object;
      by_ns_[ns].insert(key);
    }
  }
  for (const auto& h : handlers_) {
    if (ev.type == "DELETED") {
      if (h.on_delete) h.on_delete(ev.object);
    } else if (old) {
      if (h.on_update) h.on_update(*old, ev.object);
    } else if (h.on_add) {
      h.on_add(ev.object);
    }
  }
}

std::optional<json> informer::get(const std::string& ns, const std::string& name) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = store_.find(ns.empty() ? name : ns + "/" + name);
  if (it == store_.end()) return std::nullopt;
  return it->second;
}

std::vector<json> informer::list(const std::string& ns) const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<json> out;
  if (ns.empty()) {
    for (const auto& [k, v] : store_) out.push_back(v);
  } else if (auto n = by_ns_.find(ns); n != by_ns_.end()) {
    for (const auto& k : n->second) out.push_back(store_.at(k));
  }
  return out;
}

std::vector<json> informer::list_if(const std::string& ns,
                                    const std::function<bool(const json&)>& pred) const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<json> out;
  if (ns.empty()) {
    for (const auto& [k, v] : store_)
      if (pred(v)) out.push_back(v);
  } else if (auto n = by_ns_.find(ns); n != by_ns_.end()) {
    for (const auto& k : n->second)
      if (const json& v = store_.at(k); pred(v)) out.push_back(v);
  }
  return out;
}

size_t informer::size() const {
  std::lock_guard<std::mutex> l(mu_);
  return store_.size();
}

}  // namespace kaito::k8s
