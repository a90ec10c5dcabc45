// Workspace admission; see workspace_admission.h.
#include "k8s/apiserver/workspace_admission.h"

#include "k8s/apiserver/errors.h"
#include "protocol/api/field_errors.h"
#include "protocol/api/workspace.h"
#include "protocol/api/workspace_validation.h"

namespace kaito::k8s::apiserver {

namespace {

api_response refuse(const std::string& name, const std::vector<api::field_error>& errs) {
  api::k8s_status s = api::invalid_status(name, errs);
  return api_response::json_body(s.code, api::encode_status(s));
}

std::string object_name(const json& obj) {
  if (obj.contains("metadata") && obj["metadata"].is_object() && obj["metadata"].contains("name") &&
      obj["metadata"]["name"].is_string())
    return obj["metadata"]["name"];
  return "";
}

// Decodes and defaults; a decode error becomes one field error.
result<api::workspace> decode_defaulted(const json& obj) {
  auto d = api::decode_workspace(obj);
  if (!d.ok()) return d.error();
  api::workspace ws = std::move(d->ws);
  api::apply_defaults(ws);
  return ws;
}

}  // namespace

admission_fn workspace_admission(std::shared_ptr<const api::catalog> presets) {
  return [presets](admission_request& req) -> std::optional<api_response> {
    if (req.def.group != "kaito.sh" || req.def.kind != "Workspace") return std::nullopt;
    json& obj = req.obj;
    std::string name = object_name(obj);
    auto decoded = api::decode_workspace(obj);
    if (!decoded.ok()) {
      std::string field = decoded.error().where();
      return refuse(name, {{field, "FieldValueInvalid", decoded.error().message()}});
    }
    // Unknown fields: fieldValidation=Strict refuses them (400, as the real server's strict
    // decoding does), Warn returns them as warnings, Ignore drops them silently.
    if (!decoded->warnings.empty() && req.field_validation == "Strict") {
      std::string list;
      for (const auto& w : decoded->warnings) list += (list.empty() ? "" : ", ") + w;
      return error_response(
          400, "BadRequest",
          "Workspace in version \"" + req.version +
              "\" cannot be handled as a Workspace: " + "strict decoding error: " + list);
    }
    if (req.field_validation != "Ignore")
      for (const auto& w : decoded->warnings) req.warnings.push_back(w);
    api::workspace ws = std::move(decoded->ws);
    api::apply_defaults(ws);
    api::validation_options opt;
    opt.presets = presets.get();
    store* s = &req.db;
    opt.config_maps = [s](const std::string& ns, const std::string& cm) -> result<api::config_map> {
      auto got = s->get({"configmaps", ns, cm});
      if (!got.ok()) return not_found("configmaps \"" + cm + "\" not found");
      api::config_map out{cm, ns, {}};
      if (got->contains("data") && (*got)["data"].is_object())
        for (auto it = (*got)["data"].begin(); it != (*got)["data"].end(); ++it)
          if (it->is_string()) out.data[it.key()] = it->get<std::string>();
      return out;
    };
    api::validation_result vr;
    if (req.old) {
      auto old_ws = decode_defaulted(*req.old);
      if (!old_ws.ok())
        vr = api::validate_create(ws, opt);  // stored before validation existed
      else
        vr = api::validate_update(*old_ws, ws, opt);
    } else {
      vr = api::validate_create(ws, opt);
    }
    if (!vr.ok()) return refuse(name, vr.errors);
    for (const auto& w : vr.warnings) req.warnings.push_back(w);
    // Store the defaulted object (mutating admission), keeping the server-managed parts as they
    // are.
    json defaulted = api::encode_workspace(ws);
    if (defaulted.is_object()) {
      if (obj.contains("metadata")) defaulted["metadata"] = obj["metadata"];
      if (obj.contains("status"))
        defaulted["status"] = obj["status"];
      else
        defaulted.erase("status");
      obj = std::move(defaulted);
    }
    return std::nullopt;
  };
}

}  // namespace kaito::k8s::apiserver
