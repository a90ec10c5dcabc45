// Stored Responses API responses; see response_store.h.
#include "actors/response_store.h"

#include <utility>

namespace kaito::actors {

response_store::response_store(size_t max_entries, size_t max_bytes)
    : max_entries_(max_entries), max_bytes_(max_bytes) {}

void response_store::drop(std::map<std::string, slot>::iterator it) {
  bytes_ -= it->second.bytes;
  order_.erase(it->second.order);
  entries_.erase(it);
}

void response_store::put(const std::string& id, entry e) {
  const size_t bytes = id.size() + e.body.size() + e.history.dump().size();
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = entries_.find(id); it != entries_.end()) drop(it);
  if (bytes > max_bytes_ || max_entries_ == 0) return;
  while (!order_.empty() && (entries_.size() >= max_entries_ || bytes_ + bytes > max_bytes_))
    drop(entries_.find(order_.front()));
  order_.push_back(id);
  entries_[id] = slot{std::move(e), bytes, std::prev(order_.end())};
  bytes_ += bytes;
}

std::optional<response_store::entry> response_store::get(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return std::nullopt;
  return it->second.e;
}

std::optional<nlohmann::ordered_json> response_store::find_item(const std::string& item_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto o = order_.rbegin(); o != order_.rend(); ++o) {
    const nlohmann::ordered_json& history = entries_.at(*o).e.history;
    if (!history.is_array()) continue;
    for (const auto& item : history)
      if (item.is_object() && item.contains("id") && item["id"] == item_id) return item;
  }
  return std::nullopt;
}

bool response_store::erase(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return false;
  drop(it);
  return true;
}

size_t response_store::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

}  // namespace kaito::actors
