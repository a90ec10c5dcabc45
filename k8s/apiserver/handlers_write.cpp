// create, update (PUT) and patch, for the main resource and the status subresource; see handlers.h.
#include "k8s/apiserver/body.h"
#include "k8s/apiserver/errors.h"
#include "k8s/apiserver/handlers.h"
#include "k8s/apiserver/managed_fields.h"
#include "k8s/apiserver/object_meta.h"
#include "k8s/apiserver/patch.h"
#include "k8s/apiserver/protobuf_body.h"

namespace kaito::k8s::apiserver {

namespace {

constexpr const char* kCrdKey = "apiextensions.k8s.io/customresourcedefinitions";

// The manager of a non-apply write: ?fieldManager=, else the client's User-Agent up to its first
// '/' (as the real server defaults it).
std::string update_manager(const object_request& o) {
  std::string m = query_value(o.req, "fieldManager");
  if (!m.empty()) return m;
  m = o.req.user_agent.substr(0, o.req.user_agent.find('/'));
  return m.empty() ? "unknown" : m;
}

bool dry_run(const object_request& o) {
  return query_value(o.req, "dryRun") == "All";
}

result<json> decode_request_body(const api_request& req, api_response& err) {
  if (media_type(req.content_type) == "application/vnd.kubernetes.protobuf") {
    auto obj = decode_k8s_protobuf(req.body);
    if (obj.ok()) return obj;
    if (obj.error().code() == status_code::unimplemented)
      err = unsupported_media("application/json, application/yaml");
    else
      err = bad_request("the request body could not be decoded: " + obj.error().to_string());
    return obj.error();
  }
  body_format fmt = body_format_of(req.content_type);
  if (fmt == body_format::unsupported) {
    err = unsupported_media("application/json, application/yaml");
    return status(status_code::invalid_argument, "unsupported media type");
  }
  auto j = decode_body(req.body, fmt);
  if (!j.ok()) {
    std::string where = j.error().where().empty() ? "" : " at " + j.error().where();
    err = bad_request("the request body could not be decoded" + where + ": " + j.error().message());
    return j.error();
  }
  return j;
}

// CRDs report themselves established and their names accepted, as the real server does once it
// serves them.
void decorate_crd(json& crd) {
  json names = crd.contains("spec") && crd["spec"].is_object() && crd["spec"].contains("names")
                   ? crd["spec"]["names"]
                   : json::object();
  std::string now = now_rfc3339();
  crd["status"] = {{"acceptedNames", names},
                   {"conditions",
                    {{{"type", "NamesAccepted"},
                      {"status", "True"},
                      {"reason", "NoConflicts"},
                      {"message", "no conflicts found"},
                      {"lastTransitionTime", now}},
                     {{"type", "Established"},
                      {"status", "True"},
                      {"reason", "InitialNamesAccepted"},
                      {"message", "the initial names have been accepted"},
                      {"lastTransitionTime", now}}}},
                   {"storedVersions", json::array()}};
  if (crd["spec"].contains("versions") && crd["spec"]["versions"].is_array())
    for (const auto& v : crd["spec"]["versions"])
      if (v.is_object() && v.value("storage", false))
        crd["status"]["storedVersions"].push_back(v.value("name", ""));
}

bool has_finalizers(const json& obj) {
  const json& m = obj["metadata"];
  return m.contains("finalizers") && m["finalizers"].is_array() && !m["finalizers"].empty();
}

std::optional<api_response> admit(api_context& ctx, const object_request& o, json& obj,
                                  const json* old, std::vector<std::string>& warnings) {
  if (!ctx.opts.admit) return std::nullopt;
  std::string fv = query_value(o.req, "fieldValidation");
  admission_request req{*o.def, o.r.version, obj, old, ctx.db, fv.empty() ? "Warn" : fv, {}};
  auto refused = ctx.opts.admit(req);
  warnings = std::move(req.warnings);
  return refused;
}

// Adds `Warning: 299 - "<text>"` headers, which kubectl prints as `Warning: <text>`.
api_response with_warnings(api_response r, const std::vector<std::string>& warnings) {
  for (const auto& w : warnings) {
    std::string text;
    for (char c : w) text += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
    r.headers.emplace_back("Warning", "299 - \"" + text + "\"");
  }
  return r;
}

// `apply_manager` set: a server-side apply that creates the object (an Apply entry), else Update.
api_response create_object(api_context& ctx, const object_request& o, json obj,
                           const std::string& apply_manager = "") {
  if (auto bad = check_identity(*o.def, o.r.version, o.r.ns, "", obj)) return *bad;
  if (o.def->namespaced && !ctx.db.get({"namespaces", "", o.r.ns}).ok())
    return not_found_error("", "namespaces", o.r.ns);
  bool generated = !obj["metadata"].contains("name") || !obj["metadata"]["name"].is_string() ||
                   obj["metadata"]["name"].get<std::string>().empty();
  for (int attempt = 0;; ++attempt) {
    json candidate = obj;
    prepare_create(*o.def, o.r.version, o.r.ns, candidate);
    if (o.def->store_key() == kCrdKey) decorate_crd(candidate);
    std::string api_version = o.def->api_version(o.r.version);
    if (!apply_manager.empty())
      candidate =
          apply_ownership(json::object(), candidate, obj, apply_manager, api_version, true).object;
    else
      record_update(nullptr, candidate, update_manager(o), api_version);
    std::vector<std::string> warnings;
    if (auto refused = admit(ctx, o, candidate, nullptr, warnings)) return *refused;
    std::string name = candidate["metadata"]["name"];
    if (dry_run(o))
      return with_warnings(api_response::json_body(201, present(*o.def, o.r.version, candidate)),
                           warnings);
    const object_key key{o.def->store_key(), o.def->namespaced ? o.r.ns : "", name};
    auto stored = ctx.db.create(key, candidate);
    if (stored.ok()) {
      if (o.def->store_key() == kCrdKey) refresh_crds(ctx);
      collect_if_orphaned(ctx, key, *stored);
      return with_warnings(api_response::json_body(201, present(*o.def, o.r.version, *stored)),
                           warnings);
    }
    if (stored.error().code() != status_code::already_exists)
      return error_response(500, "InternalError", stored.error().to_string());
    if (!generated || attempt >= 8)
      return already_exists_error(o.def->group, o.def->resource, name);
  }
}

// Stores `next` over `live` (or deletes it when deletion is pending and no finalizer is left).
api_response commit_update(api_context& ctx, const object_request& o, const json& live, json next,
                           bool status_write) {
  std::vector<std::string> warnings;
  if (!status_write)
    if (auto refused = admit(ctx, o, next, &live, warnings)) return *refused;
  if (o.def->store_key() == kCrdKey && !status_write) decorate_crd(next);
  if (dry_run(o))
    return with_warnings(api_response::json_body(200, present(*o.def, o.r.version, next)),
                         warnings);
  if (next["metadata"].contains("deletionTimestamp") && !has_finalizers(next)) {
    auto upd = ctx.db.update(o.key(), next, object_rv(live));
    if (!upd.ok()) return conflict_error(o.def->group, o.def->resource, o.r.name);
    return finish_delete(ctx, o, *upd, true);
  }
  auto upd = ctx.db.update(o.key(), std::move(next), object_rv(live));
  if (!upd.ok()) {
    if (upd.error().code() == status_code::conflict)
      return conflict_error(o.def->group, o.def->resource, o.r.name);
    if (upd.error().code() == status_code::not_found)
      return not_found_error(o.def->group, o.def->resource, o.r.name);
    return error_response(500, "InternalError", upd.error().to_string());
  }
  if (o.def->store_key() == kCrdKey) refresh_crds(ctx);
  return with_warnings(api_response::json_body(200, present(*o.def, o.r.version, *upd)), warnings);
}

api_response forbidden_finalizer(const object_request& o, const status& s) {
  return invalid_error(o.def->group, o.def->kind, o.r.name, s.where(), "FieldValueForbidden",
                       s.message());
}

}  // namespace

api_response handle_create(api_context& ctx, const object_request& o) {
  if (!o.r.subresource.empty()) return method_not_allowed();
  api_response err;
  auto body = decode_request_body(o.req, err);
  if (!body.ok()) return err;
  return create_object(ctx, o, std::move(*body));
}

api_response handle_update(api_context& ctx, const object_request& o) {
  api_response err;
  auto body = decode_request_body(o.req, err);
  if (!body.ok()) return err;
  json incoming = std::move(*body);
  if (auto bad = check_identity(*o.def, o.r.version, o.r.ns, o.r.name, incoming)) return *bad;
  auto live = ctx.db.get(o.key());
  if (!live.ok()) return not_found_error(o.def->group, o.def->resource, o.r.name);
  int64_t rv = object_rv(incoming);
  if (rv == 0 && o.def->custom)
    return invalid_error(o.def->group, o.def->kind, o.r.name, "metadata.resourceVersion",
                         "FieldValueInvalid",
                         "Invalid value: 0x0: must be specified for an update");
  if (rv != 0 && rv != object_rv(*live))
    return conflict_error(o.def->group, o.def->resource, o.r.name);
  bool status_write = o.r.subresource == "status";
  auto next = prepare_update(*o.def, o.r.version, *live, std::move(incoming), status_write);
  if (!next.ok()) return forbidden_finalizer(o, next.error());
  if (status_write)
    (*next)["metadata"]["managedFields"] = (*live)["metadata"].value("managedFields", json());
  else
    record_update(&*live, *next, update_manager(o), o.def->api_version(o.r.version));
  if ((*next)["metadata"]["managedFields"].is_null()) (*next)["metadata"].erase("managedFields");
  return commit_update(ctx, o, *live, std::move(*next), status_write);
}

api_response handle_patch(api_context& ctx, const object_request& o) {
  patch_type type = patch_type_of(o.req.content_type);
  const char* accepted =
      o.def->custom ? "application/json-patch+json, application/merge-patch+json, "
                      "application/apply-patch+yaml"
                    : "application/json-patch+json, application/merge-patch+json, "
                      "application/strategic-merge-patch+json, application/apply-patch+yaml";
  if (type == patch_type::unknown || (type == patch_type::strategic && o.def->custom))
    return unsupported_media(accepted);
  bool status_write = o.r.subresource == "status";
  json patch;
  {
    auto decoded = type == patch_type::apply ? decode_body(o.req.body, body_format::yaml)
                                             : parse_json_body(o.req.body);
    if (!decoded.ok())
      return bad_request("the request body could not be decoded: " + decoded.error().message());
    patch = std::move(*decoded);
  }
  if (type == patch_type::apply) {
    if (query_value(o.req, "fieldManager").empty())
      return error_response(
          422, "Invalid",
          "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for "
          "apply patch");
    if (auto bad = check_identity(*o.def, o.r.version, o.r.ns, o.r.name, patch)) return *bad;
  }
  for (int attempt = 0; attempt < 8; ++attempt) {
    auto live = ctx.db.get(o.key());
    if (!live.ok()) {
      if (type != patch_type::apply || status_write)
        return not_found_error(o.def->group, o.def->resource, o.r.name);
      json obj = patch;
      obj["metadata"]["name"] = o.r.name;
      return create_object(ctx, o, std::move(obj),
                           type == patch_type::apply ? query_value(o.req, "fieldManager") : "");
    }
    json current = present(*o.def, o.r.version, *live);
    result<json> patched = json();
    switch (type) {
      case patch_type::merge:
        patched = apply_merge_patch(current, patch);
        break;
      case patch_type::json_patch:
        patched = apply_json_patch(current, patch);
        break;
      case patch_type::strategic:
        patched = apply_strategic_merge_patch(current, patch);
        break;
      case patch_type::apply:
        patched = apply_server_side(current, patch);
        break;
      case patch_type::unknown:
        break;
    }
    if (!patched.ok()) return error_response(422, "Invalid", patched.error().message());
    if (!patched->is_object()) return bad_request("the patched object must be a JSON object");
    int64_t want_rv = object_rv(*patched);
    if (want_rv != 0 && want_rv != object_rv(*live))
      return conflict_error(o.def->group, o.def->resource, o.r.name);
    if (auto bad = check_identity(*o.def, o.r.version, o.r.ns, o.r.name, *patched)) return *bad;
    std::string api_version = o.def->api_version(o.r.version);
    json owners = (*live)["metadata"].value("managedFields", json());
    if (type == patch_type::apply && !status_write) {
      auto owned =
          apply_ownership(*live, std::move(*patched), patch, query_value(o.req, "fieldManager"),
                          api_version, query_flag(o.req, "force"));
      if (!owned.conflicts.empty())
        return api_response::json_body(
            409, conflict_status(owned.conflicts, o.def->group, o.def->resource, o.r.name));
      owners = owned.object["metadata"].value("managedFields", json());
      patched = std::move(owned.object);
    }
    auto next = prepare_update(*o.def, o.r.version, *live, std::move(*patched), status_write);
    if (!next.ok()) return forbidden_finalizer(o, next.error());
    if (type != patch_type::apply && !status_write)
      record_update(&*live, *next, update_manager(o), api_version);
    else if (!owners.is_null())
      (*next)["metadata"]["managedFields"] = owners;
    api_response resp = commit_update(ctx, o, *live, std::move(*next), status_write);
    // A concurrent writer moved the object between our read and write: patches are unconditional,
    // retry.
    if (resp.code == 409 && want_rv == 0) continue;
    return resp;
  }
  return conflict_error(o.def->group, o.def->resource, o.r.name);
}

}  // namespace kaito::k8s::apiserver
