// Kubernetes Status objects; see errors.h.
#include "k8s/apiserver/errors.h"

namespace kaito::k8s::apiserver {

std::string group_resource(const std::string& group, const std::string& resource) {
  return group.empty() ? resource : resource + "." + group;
}

json status_object(int code, const std::string& reason, const std::string& message, json details) {
  json s = {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", json::object()},
            {"status", "Failure"}, {"message", message}, {"reason", reason},
            {"code", code}};
  if (!details.is_null()) s["details"] = std::move(details);
  return s;
}

api_response error_response(int code, const std::string& reason, const std::string& message,
                            json details) {
  return api_response::json_body(code, status_object(code, reason, message, std::move(details)));
}

namespace {
json name_details(const std::string& group, const std::string& kind, const std::string& name) {
  json d = {{"name", name}, {"kind", kind}};
  if (!group.empty()) d["group"] = group;
  return d;
}
}  // namespace

api_response not_found_error(const std::string& group, const std::string& resource,
                             const std::string& name) {
  return error_response(404, "NotFound",
                        group_resource(group, resource) + " \"" + name + "\" not found",
                        name_details(group, resource, name));
}

api_response already_exists_error(const std::string& group, const std::string& resource,
                                  const std::string& name) {
  return error_response(409, "AlreadyExists",
                        group_resource(group, resource) + " \"" + name + "\" already exists",
                        name_details(group, resource, name));
}

api_response conflict_error(const std::string& group, const std::string& resource,
                            const std::string& name) {
  return error_response(409, "Conflict",
                        "Operation cannot be fulfilled on " + group_resource(group, resource) +
                            " \"" + name +
                            "\": the object has been modified; please apply your changes to the "
                            "latest version and try again",
                        name_details(group, resource, name));
}

api_response bad_request(const std::string& message) {
  return error_response(400, "BadRequest", message);
}

api_response unsupported_media(const std::string& accepted) {
  return error_response(415, "UnsupportedMediaType",
                        "the body of the request was in an unknown format - accepted media types "
                        "include: " +
                            accepted);
}

api_response path_not_found() {
  return error_response(404, "NotFound", "the server could not find the requested resource");
}

api_response method_not_allowed() {
  return error_response(405, "MethodNotAllowed",
                        "the server does not allow this method on the requested resource");
}

api_response invalid_error(const std::string& group, const std::string& kind,
                           const std::string& name, const std::string& field,
                           const std::string& cause_reason, const std::string& message) {
  json details = name_details(group, kind, name);
  details["causes"] =
      json::array({{{"reason", cause_reason}, {"message", message}, {"field", field}}});
  std::string gk = group.empty() ? kind : kind + "." + group;
  return error_response(422, "Invalid",
                        gk + " \"" + name + "\" is invalid: " + field + ": " + message,
                        std::move(details));
}

api_response success_status(const std::string& group, const std::string& resource,
                            const std::string& name, const std::string& uid) {
  json d = name_details(group, resource, name);
  if (!uid.empty()) d["uid"] = uid;
  json s = {{"kind", "Status"},
            {"apiVersion", "v1"},
            {"metadata", json::object()},
            {"status", "Success"},
            {"details", d}};
  return api_response::json_body(200, s);
}

}  // namespace kaito::k8s::apiserver
