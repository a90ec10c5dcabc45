#include "protocol/api/meta.h"

#include <set>

#include "protocol/api/json_fields.h"

namespace kaito::api {

http_reason http_reason_for(status_code c) {
  switch (c) {
    case status_code::ok:
      return {200, ""};
    case status_code::invalid_argument:
      return {400, "BadRequest"};
    case status_code::not_found:
      return {404, "NotFound"};
    case status_code::already_exists:
      return {409, "AlreadyExists"};
    case status_code::conflict:
      return {409, "Conflict"};
    case status_code::failed_precondition:
      return {412, "PreconditionFailed"};  // NOLINT
    case status_code::unauthenticated:
      return {401, "Unauthorized"};
    case status_code::permission_denied:
      return {403, "Forbidden"};
    case status_code::unavailable:
      return {503, "ServiceUnavailable"};
    case status_code::deadline_exceeded:
      return {504, "Timeout"};
    case status_code::resource_exhausted:
      return {413, "RequestEntityTooLarge"};
    case status_code::unimplemented:
      return {405, "MethodNotAllowed"};
    case status_code::data_loss:
    case status_code::io_error:
    case status_code::internal:
      return {500, "InternalError"};
  }
  return {500, "InternalError"};
}

k8s_status status_from(const kaito::status& s) {
  k8s_status out;
  http_reason hr = http_reason_for(s.code());
  if (s.ok()) {
    out.status = "Success";
    out.code = 200;
    return out;
  }
  out.message = s.to_string();
  out.reason = hr.reason;
  out.code = hr.code;
  return out;
}

json encode_status(const k8s_status& s) {
  json j = {
      {"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", json::object()}, {"status", s.status}};
  if (!s.message.empty()) j["message"] = s.message;
  if (!s.reason.empty()) j["reason"] = s.reason;
  if (s.details) {
    json d = json::object();
    if (!s.details->name.empty()) d["name"] = s.details->name;
    if (!s.details->group.empty()) d["group"] = s.details->group;
    if (!s.details->kind.empty()) d["kind"] = s.details->kind;
    if (!s.details->uid.empty()) d["uid"] = s.details->uid;
    if (!s.details->causes.empty()) {
      json causes = json::array();
      for (const auto& c : s.details->causes) {
        json cj = json::object();
        if (!c.reason.empty()) cj["reason"] = c.reason;
        if (!c.message.empty()) cj["message"] = c.message;
        if (!c.field.empty()) cj["field"] = c.field;
        causes.push_back(std::move(cj));
      }
      d["causes"] = std::move(causes);
    }
    j["details"] = std::move(d);
  }
  j["code"] = s.code;
  return j;
}

result<k8s_status> decode_status(const json& j) {
  KAITO_TRY(expect_object(j, ""));
  field_reader r(j, "", nullptr);
  std::optional<std::string> kind, st, msg, reason;
  std::optional<int64_t> code;
  KAITO_TRY(r.get_string("kind", kind));
  if (kind.value_or("") != "Status") return invalid_argument("expected kind Status", "kind");
  KAITO_TRY(r.get_string("status", st));
  KAITO_TRY(r.get_string("message", msg));
  KAITO_TRY(r.get_string("reason", reason));
  KAITO_TRY(r.get_int("code", code));
  k8s_status s;
  s.status = st.value_or("");
  s.message = msg.value_or("");
  s.reason = reason.value_or("");
  s.code = static_cast<int>(code.value_or(0));
  if (const json* d = r.take("details")) {
    KAITO_TRY(expect_object(*d, "details"));
    field_reader dr(*d, "details", nullptr);
    std::optional<std::string> name, group, dkind, uid;
    KAITO_TRY(dr.get_string("name", name));
    KAITO_TRY(dr.get_string("group", group));
    KAITO_TRY(dr.get_string("kind", dkind));
    KAITO_TRY(dr.get_string("uid", uid));
    status_details det{
        name.value_or(""), group.value_or(""), dkind.value_or(""), uid.value_or(""), {}};
    if (const json* cs = dr.take("causes")) {
      if (!cs->is_array()) return invalid_argument("expected an array", "details.causes");
      for (size_t i = 0; i < cs->size(); ++i) {
        std::string p = "details.causes[" + std::to_string(i) + "]";
        KAITO_TRY(expect_object((*cs)[i], p));
        field_reader cr((*cs)[i], p, nullptr);
        std::optional<std::string> cre, cm, cf;
        KAITO_TRY(cr.get_string("reason", cre));
        KAITO_TRY(cr.get_string("message", cm));
        KAITO_TRY(cr.get_string("field", cf));
        det.causes.push_back({cre.value_or(""), cm.value_or(""), cf.value_or("")});
      }
    }
    s.details = std::move(det);
  }
  return s;
}

std::string format_kubectl_invalid(const k8s_status& s) {
  std::string head = "The request is invalid";
  if (s.details && !s.details->kind.empty() && !s.details->name.empty())
    head = "The " + s.details->kind + " \"" + s.details->name + "\" is invalid";
  if (!s.details || s.details->causes.empty()) return head + ": " + s.message;
  std::vector<std::string> lines;
  std::set<std::string> seen;
  for (const auto& c : s.details->causes) {
    std::string line = c.field + ": " + c.message;
    if (seen.insert(line).second) lines.push_back(line);
  }
  if (lines.size() == 1) return head + ": " + lines[0];
  std::string out = head + ": ";
  for (const auto& l : lines) out += "\n* " + l;
  return out;
}

result<object_meta> decode_object_meta(const json& j, const std::string& path,
                                       std::vector<std::string>* warnings) {
  KAITO_TRY(expect_object(j, path));
  field_reader r(j, path, warnings);
  object_meta m;
  KAITO_TRY(r.get_string("name", m.name));
  KAITO_TRY(r.get_string("generateName", m.generate_name));
  KAITO_TRY(r.get_string("namespace", m.namespace_));
  KAITO_TRY(r.get_string("uid", m.uid));
  KAITO_TRY(r.get_string("resourceVersion", m.resource_version));
  KAITO_TRY(r.get_int("generation", m.generation));
  KAITO_TRY(r.get_string("creationTimestamp", m.creation_timestamp));
  KAITO_TRY(r.get_string("deletionTimestamp", m.deletion_timestamp));
  KAITO_TRY(r.get_int("deletionGracePeriodSeconds", m.deletion_grace_period_seconds));
  KAITO_TRY(r.get_string_map("labels", m.labels));
  KAITO_TRY(r.get_string_map("annotations", m.annotations));
  KAITO_TRY(r.get_string_list("finalizers", m.finalizers));
  r.get_raw("managedFields", m.managed_fields);
  if (const json* refs = r.take("ownerReferences")) {
    std::string rp = r.path_of("ownerReferences");
    if (!refs->is_array()) return invalid_argument("expected an array", rp);
    std::vector<owner_reference> out;
    for (size_t i = 0; i < refs->size(); ++i) {
      std::string p = rp + "[" + std::to_string(i) + "]";
      KAITO_TRY(expect_object((*refs)[i], p));
      field_reader orr((*refs)[i], p, warnings);
      owner_reference o;
      std::optional<std::string> av, kind, name, uid;
      KAITO_TRY(orr.get_string("apiVersion", av));
      KAITO_TRY(orr.get_string("kind", kind));
      KAITO_TRY(orr.get_string("name", name));
      KAITO_TRY(orr.get_string("uid", uid));
      KAITO_TRY(orr.get_bool("controller", o.controller));
      KAITO_TRY(orr.get_bool("blockOwnerDeletion", o.block_owner_deletion));
      o.api_version = av.value_or("");
      o.kind = kind.value_or("");
      o.name = name.value_or("");
      o.uid = uid.value_or("");
      o.extra = orr.finish();
      out.push_back(std::move(o));
    }
    m.owner_references = std::move(out);
  }
  m.extra = r.finish();
  return m;
}

json encode_object_meta(const object_meta& m) {
  json j = json::object();
  put(j, "name", m.name);
  put(j, "generateName", m.generate_name);
  put(j, "namespace", m.namespace_);
  put(j, "uid", m.uid);
  put(j, "resourceVersion", m.resource_version);
  put(j, "generation", m.generation);
  put(j, "creationTimestamp", m.creation_timestamp);
  put(j, "deletionTimestamp", m.deletion_timestamp);
  put(j, "deletionGracePeriodSeconds", m.deletion_grace_period_seconds);
  put(j, "labels", m.labels);
  put(j, "annotations", m.annotations);
  put(j, "finalizers", m.finalizers);
  put(j, "managedFields", m.managed_fields);
  if (m.owner_references) {
    json refs = json::array();
    for (const auto& o : *m.owner_references) {
      json oj = {{"apiVersion", o.api_version}, {"kind", o.kind}, {"name", o.name}, {"uid", o.uid}};
      put(oj, "controller", o.controller);
      put(oj, "blockOwnerDeletion", o.block_owner_deletion);
      put_extra(oj, o.extra);
      refs.push_back(std::move(oj));
    }
    j["ownerReferences"] = std::move(refs);
  }
  put_extra(j, m.extra);
  return j;
}

result<condition> decode_condition(const json& j, const std::string& path,
                                   std::vector<std::string>* warnings) {
  KAITO_TRY(expect_object(j, path));
  field_reader r(j, path, warnings);
  condition c;
  std::optional<std::string> type, st, ltt, reason, msg;
  KAITO_TRY(r.get_string("type", type));
  KAITO_TRY(r.get_string("status", st));
  KAITO_TRY(r.get_int("observedGeneration", c.observed_generation));
  KAITO_TRY(r.get_string("lastTransitionTime", ltt));
  KAITO_TRY(r.get_string("reason", reason));
  KAITO_TRY(r.get_string("message", msg));
  c.type = type.value_or("");
  c.status = st.value_or("");
  c.last_transition_time = ltt.value_or("");
  c.reason = reason.value_or("");
  c.message = msg.value_or("");
  c.extra = r.finish();
  return c;
}

json encode_condition(const condition& c) {
  // metav1.Condition serialises every required field, even when empty.
  json j = {{"type", c.type}, {"status", c.status}};
  put(j, "observedGeneration", c.observed_generation);
  j["lastTransitionTime"] = c.last_transition_time;
  j["reason"] = c.reason;
  j["message"] = c.message;
  put_extra(j, c.extra);
  return j;
}

}  // namespace kaito::api
