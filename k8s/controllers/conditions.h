// conditions: metav1.Condition lists kept as JSON arrays, the way the API conventions ask: one
// entry per type, lastTransitionTime moves only when the status flips, observedGeneration records
// the generation the condition was computed from.
//
//   json conds = old_status.value("conditions", json::array());
//   set_condition(conds, {"ResourceReady", "True", "workspaceResourceStatusSuccess", "..."}, 3,
//                 now_rfc3339);
//
// Thread-safety: pure functions over values.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace kaito::k8s::controllers {

using json = nlohmann::json;

struct condition_value {
  std::string type;
  std::string status;  // "True" | "False" | "Unknown"
  std::string reason;
  std::string message;
};

// Sets (or adds) the condition of that type in `conditions` (a JSON array; anything else is
// replaced by an empty array first). `now` (RFC 3339) becomes lastTransitionTime when the type is
// new or its status changed; otherwise the old lastTransitionTime stays. generation < 0: no
// observedGeneration field.
void set_condition(json& conditions, const condition_value& c, int64_t generation,
                   const std::string& now);

// The condition of that type, or null.
const json* find_condition(const json& conditions, const std::string& type);
// Refused: the pointer would dangle into a temporary (e.g. obj.value("conditions", json())).
const json* find_condition(json&& conditions, const std::string& type) = delete;
// Its status ("True"/"False"/"Unknown"), or "" when absent.
std::string condition_status(const json& conditions, const std::string& type);

}  // namespace kaito::k8s::controllers
