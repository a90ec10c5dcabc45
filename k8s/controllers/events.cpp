// Events with count aggregation; see events.h.
#include "k8s/controllers/events.h"

#include <cstdint>
#include <cstdio>

#include "k8s/client/api_error.h"
#include "k8s/controllers/reconcile.h"
#include "k8s/controllers/wall_time.h"

namespace kaito::k8s::controllers {

namespace {

const char* type_name(event_type t) {
  return t == event_type::warning ? "Warning" : "Normal";
}

uint64_t fnv1a(const std::string& s, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string event_namespace(const json& involved) {
  std::string ns = meta_string(involved, "namespace");
  return ns.empty() ? "default" : ns;
}

}  // namespace

event_recorder::event_recorder(client& c, std::shared_ptr<clock_source> clock,
                               std::string component)
    : c_(c), clock_(std::move(clock)), component_(std::move(component)) {}

std::string event_recorder::event_name(const json& involved, event_type type,
                                       const std::string& reason, const std::string& message) {
  uint64_t h = 1469598103934665603ull;
  for (const std::string& part :
       {string_field(involved, "kind"), meta_string(involved, "namespace"),
        meta_string(involved, "name"), meta_string(involved, "uid"), std::string(type_name(type)),
        reason, message})
    h = fnv1a(part + '\0', h);
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return meta_string(involved, "name") + "." + hex;
}

status event_recorder::record(const json& involved, event_type type, const std::string& reason,
                              const std::string& message) {
  std::string ns = event_namespace(involved);
  std::string name = event_name(involved, type, reason, message);
  std::string now = rfc3339(clock_->now());
  json ev = {{"apiVersion", "v1"},
             {"kind", "Event"},
             {"metadata", {{"name", name}, {"namespace", ns}}},
             {"involvedObject",
              {{"apiVersion", string_field(involved, "apiVersion")},
               {"kind", string_field(involved, "kind")},
               {"name", meta_string(involved, "name")},
               {"uid", meta_string(involved, "uid")},
               {"resourceVersion", meta_string(involved, "resourceVersion")}}},
             {"reason", reason},
             {"message", message},
             {"type", type_name(type)},
             {"source", {{"component", component_}}},
             {"reportingComponent", component_},
             {"firstTimestamp", now},
             {"lastTimestamp", now},
             {"count", 1}};
  std::string ins = meta_string(involved, "namespace");
  if (!ins.empty()) ev["involvedObject"]["namespace"] = ins;
  auto created = c_.create(resources::kEvents, ns, ev);
  if (created.ok()) return status();
  if (created.error().code() != status_code::already_exists) return created.error();
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto live = c_.get(resources::kEvents, ns, name);
    if (!live.ok()) return live.error();
    json n = live->value("count", json(1));
    int64_t count = n.is_number_integer() ? n.get<int64_t>() : 1;
    json patch = {{"metadata", {{"resourceVersion", meta_string(*live, "resourceVersion")}}},
                  {"count", count + 1},
                  {"lastTimestamp", now}};
    auto patched = c_.patch(resources::kEvents, ns, name, patch_type::merge, patch);
    if (patched.ok() || patched.error().code() != status_code::conflict)
      return patched.take_status();
  }
  return status(status_code::conflict, "event " + name + ": concurrent updates");
}

}  // namespace kaito::k8s::controllers
