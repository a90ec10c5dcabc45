// delete, deletecollection, finalizers and ownerReference garbage collection; see handlers.h.
//
// Propagation: Background (default) deletes the owner, then every dependent whose owners are all
// gone; Foreground deletes the dependents first, then the owner; Orphan strips the owner's
// ownerReferences from its dependents. Both run synchronously inside the request, so kubectl's
// follow-up GET/watch already sees the final state. Objects with finalizers only get
// deletionTimestamp (and a generation bump); they go when their last finalizer is removed.
#include <set>

#include "k8s/apiserver/body.h"
#include "k8s/apiserver/errors.h"
#include "k8s/apiserver/handlers.h"
#include "k8s/apiserver/object_meta.h"
#include "k8s/apiserver/selectors.h"

namespace kaito::k8s::apiserver {

namespace {

enum class propagation { background, foreground, orphan };

struct delete_options {
  propagation policy = propagation::background;
  std::string uid_precondition;
  std::string rv_precondition;
};

std::string str_of(const json& o, const char* k) {
  if (!o.is_object()) return "";
  auto it = o.find(k);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string uid_of(const json& obj) {
  const json& m = obj["metadata"];
  return m.contains("uid") && m["uid"].is_string() ? m["uid"].get<std::string>() : std::string();
}

bool owned_by(const json& obj, const std::string& uid) {
  const json& m = obj["metadata"];
  if (!m.contains("ownerReferences") || !m["ownerReferences"].is_array()) return false;
  for (const auto& r : m["ownerReferences"])
    if (r.is_object() && str_of(r, "uid") == uid) return true;
  return false;
}

std::set<std::string> live_uids(api_context& ctx) {
  std::set<std::string> out;
  for (const auto& d : ctx.reg.all())
    for (const auto& item : ctx.db.list(d->store_key(), "").items) out.insert(uid_of(*item));
  return out;
}

void delete_object(api_context& ctx, const object_key& key, const json& obj, propagation policy,
                   int depth);

void collect(api_context& ctx, const std::string& uid, propagation policy, int depth) {
  if (uid.empty() || depth > 16) return;
  for (const auto& d : ctx.reg.all()) {
    for (const auto& item : ctx.db.list(d->store_key(), "").items) {
      if (!owned_by(*item, uid)) continue;
      object_key key{d->store_key(), d->namespaced ? str_of((*item)["metadata"], "namespace") : "",
                     str_of((*item)["metadata"], "name")};
      if (policy == propagation::orphan) {
        json next = *item;
        json kept = json::array();
        for (const auto& r : next["metadata"]["ownerReferences"])
          if (!(r.is_object() && str_of(r, "uid") == uid)) kept.push_back(r);
        if (kept.empty())
          next["metadata"].erase("ownerReferences");
        else
          next["metadata"]["ownerReferences"] = kept;
        (void)ctx.db.update(key, next);
        continue;
      }
      // Keep dependents that still have a live owner.
      auto uids = live_uids(ctx);
      bool other_owner = false;
      for (const auto& r : (*item)["metadata"]["ownerReferences"])
        if (r.is_object() && str_of(r, "uid") != uid && uids.count(str_of(r, "uid")))
          other_owner = true;
      if (!other_owner) delete_object(ctx, key, *item, propagation::background, depth + 1);
    }
  }
}

// `obj` with deletionTimestamp set and its generation bumped, as the API server's graceful delete.
json marked_deleting(const json& obj) {
  const json& m = obj["metadata"];
  json next = obj;
  next["metadata"]["deletionTimestamp"] = now_rfc3339();
  next["metadata"]["deletionGracePeriodSeconds"] = 0;
  next["metadata"]["generation"] = (m.contains("generation") && m["generation"].is_number_integer()
                                        ? m["generation"].get<int64_t>()
                                        : 0) +
                                   1;
  return next;
}

void delete_object(api_context& ctx, const object_key& key, const json& obj, propagation policy,
                   int depth) {
  const json& m = obj["metadata"];
  if (m.contains("finalizers") && m["finalizers"].is_array() && !m["finalizers"].empty()) {
    if (m.contains("deletionTimestamp")) return;
    (void)ctx.db.update(key, marked_deleting(obj));
    return;
  }
  std::string uid = uid_of(obj);
  if (policy == propagation::foreground) {
    // The owner is marked deleting before its dependents go, so its controller (a StatefulSet's,
    // a Job's) stops replacing them; one that raced ahead is collected after the owner is gone.
    if (!m.contains("deletionTimestamp")) (void)ctx.db.update(key, marked_deleting(obj));
    collect(ctx, uid, policy, depth);
  }
  if (key.resource == "namespaces") {
    for (const auto& d : ctx.reg.all())
      if (d->namespaced)
        for (const auto& item : ctx.db.list(d->store_key(), key.name).items)
          (void)ctx.db.remove({d->store_key(), key.name, str_of((*item)["metadata"], "name")});
  }
  if (!ctx.db.remove(key).ok()) return;
  // Background and Orphan act on the dependents now; after a Foreground delete this pass finds
  // only a dependent created while the owner was going (its create saw the owner still live).
  collect(ctx, uid, policy == propagation::foreground ? propagation::background : policy, depth);
}

}  // namespace

void collect_if_orphaned(api_context& ctx, const object_key& key, const json& obj) {
  const json& m = obj["metadata"];
  if (!m.contains("ownerReferences") || !m["ownerReferences"].is_array() ||
      m["ownerReferences"].empty())
    return;
  auto live = live_uids(ctx);
  for (const auto& r : m["ownerReferences"])
    if (r.is_object() && live.count(str_of(r, "uid"))) return;
  delete_object(ctx, key, obj, propagation::background, 0);
}

namespace {

result<delete_options> parse_options(const object_request& o) {
  delete_options opt;
  std::string policy = query_value(o.req, "propagationPolicy");
  if (!o.req.body.empty()) {
    auto body = parse_json_body(o.req.body);
    if (!body.ok()) return body.error();
    if (body->is_object()) {
      if (body->contains("propagationPolicy") && (*body)["propagationPolicy"].is_string())
        policy = (*body)["propagationPolicy"];
      if (body->contains("orphanDependents") && (*body)["orphanDependents"].is_boolean() &&
          policy.empty())
        policy = (*body)["orphanDependents"].get<bool>() ? "Orphan" : "Background";
      if (body->contains("preconditions") && (*body)["preconditions"].is_object()) {
        const json& p = (*body)["preconditions"];
        if (p.contains("uid") && p["uid"].is_string()) opt.uid_precondition = p["uid"];
        if (p.contains("resourceVersion") && p["resourceVersion"].is_string())
          opt.rv_precondition = p["resourceVersion"];
      }
    }
  }
  if (policy == "Foreground")
    opt.policy = propagation::foreground;
  else if (policy == "Orphan")
    opt.policy = propagation::orphan;
  else if (policy.empty() || policy == "Background")
    opt.policy = propagation::background;
  else
    return invalid_argument("propagationPolicy: Unsupported value: \"" + policy + "\"");
  return opt;
}

}  // namespace

api_response finish_delete(api_context& ctx, const object_request& o, const json& live,
                           bool return_object) {
  delete_object(ctx, o.key(), live, propagation::background, 0);
  if (return_object) return api_response::json_body(200, present(*o.def, o.r.version, live));
  return success_status(o.def->group, o.def->resource, o.r.name, uid_of(live));
}

api_response handle_delete(api_context& ctx, const object_request& o) {
  auto opts = parse_options(o);
  if (!opts.ok()) return bad_request(opts.error().message());
  auto live = ctx.db.get(o.key());
  if (!live.ok()) return not_found_error(o.def->group, o.def->resource, o.r.name);
  if ((!opts->uid_precondition.empty() && opts->uid_precondition != uid_of(*live)) ||
      (!opts->rv_precondition.empty() &&
       opts->rv_precondition != str_of((*live)["metadata"], "resourceVersion")))
    return conflict_error(o.def->group, o.def->resource, o.r.name);
  if (query_value(o.req, "dryRun") == "All")
    return success_status(o.def->group, o.def->resource, o.r.name, uid_of(*live));
  delete_object(ctx, o.key(), *live, opts->policy, 0);
  auto after = ctx.db.get(o.key());
  if (o.def->resource == "customresourcedefinitions") refresh_crds(ctx);
  if (after.ok()) return api_response::json_body(200, present(*o.def, o.r.version, *after));
  return success_status(o.def->group, o.def->resource, o.r.name, uid_of(*live));
}

api_response handle_delete_collection(api_context& ctx, const object_request& o) {
  auto opts = parse_options(o);
  if (!opts.ok()) return bad_request(opts.error().message());
  auto labels = parse_label_selector(query_value(o.req, "labelSelector"));
  if (!labels.ok()) return bad_request("unable to parse requirement: " + labels.error().message());
  auto fields = parse_field_selector(query_value(o.req, "fieldSelector"), o.def->resource);
  if (!fields.ok()) return bad_request(fields.error().message());
  for (const auto& item : ctx.db.list(o.def->store_key(), o.def->namespaced ? o.r.ns : "").items) {
    const json& m = (*item)["metadata"];
    if (!labels->matches(m.contains("labels") ? m["labels"] : json()) || !fields->matches(*item))
      continue;
    object_key key{o.def->store_key(), o.def->namespaced ? str_of(m, "namespace") : "",
                   str_of(m, "name")};
    delete_object(ctx, key, *item, opts->policy, 0);
  }
  if (o.def->resource == "customresourcedefinitions") refresh_crds(ctx);
  return api_response::json_body(200, {{"kind", "Status"},
                                       {"apiVersion", "v1"},
                                       {"metadata", json::object()},
                                       {"status", "Success"}});
}

}  // namespace kaito::k8s::apiserver
