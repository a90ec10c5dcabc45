// Condition lists; see conditions.h.
#include "k8s/controllers/conditions.h"

namespace kaito::k8s::controllers {

const json* find_condition(const json& conditions, const std::string& type) {
  if (!conditions.is_array()) return nullptr;
  for (const auto& c : conditions)
    if (c.is_object() && c.value("type", json()).is_string() &&
        c["type"].get_ref<const std::string&>() == type)
      return &c;
  return nullptr;
}

std::string condition_status(const json& conditions, const std::string& type) {
  const json* c = find_condition(conditions, type);
  if (!c) return "";
  auto it = c->find("status");
  return it != c->end() && it->is_string() ? it->get<std::string>() : "";
}

void set_condition(json& conditions, const condition_value& c, int64_t generation,
                   const std::string& now) {
  if (!conditions.is_array()) conditions = json::array();
  json next = {{"type", c.type},
               {"status", c.status},
               {"reason", c.reason},
               {"message", c.message},
               {"lastTransitionTime", now}};
  if (generation >= 0) next["observedGeneration"] = generation;
  for (auto& old : conditions) {
    if (!old.is_object() || old.value("type", json()) != c.type) continue;
    if (old.value("status", json()) == c.status && old.contains("lastTransitionTime"))
      next["lastTransitionTime"] = old["lastTransitionTime"];
    old = std::move(next);
    return;
  }
  conditions.push_back(std::move(next));
}

}  // namespace kaito::k8s::controllers
