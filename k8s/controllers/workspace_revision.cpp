// ControllerRevisions of a Workspace; see workspace_steps.h (step 3) and kaito.md 3.1.
#include <algorithm>
#include <charconv>

#include "k8s/client/api_error.h"
#include "k8s/controllers/names.h"
#include "k8s/controllers/scheduling.h"
#include "k8s/controllers/workspace_steps.h"

namespace kaito::k8s::controllers {

namespace {

std::string annotation(const json& obj, const char* key) {
  if (!obj.is_object() || !obj.contains("metadata") || !obj["metadata"].is_object()) return "";
  const json& a = obj["metadata"].value("annotations", json::object());
  return string_field(a, key);
}

int64_t parse_int(const std::string& s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size() && v > 0 ? v : 0;
}

int64_t revision_of(const json& cr) {
  auto it = cr.is_object() ? cr.find("revision") : cr.end();
  return cr.is_object() && it != cr.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

}  // namespace

result<int64_t> sync_revision(const controller_env& env, object_reader& r, json& ws,
                              const json* finalizers) {
  std::string hash = workspace_hash(ws);
  int64_t annotated = parse_int(annotation(ws, annotations::kRevision));
  if (annotation(ws, annotations::kHash) == hash && annotated > 0 && !finalizers) return annotated;
  std::string ns = meta_string(ws, "namespace"), name = meta_string(ws, "name");
  std::string uid = meta_string(ws, "uid");
  auto listed = r.list(resources::kControllerRevisions, ns, {{{labels::kWorkspaceName, name}}, ""});
  if (!listed.ok()) return listed.error();
  std::vector<json> revs;
  for (auto& cr : *listed)
    if (owned_by_uid(cr, uid)) revs.push_back(std::move(cr));
  int64_t max_rev = 0;
  json* current = nullptr;
  std::string want = name + "-" + hash.substr(0, 5);
  for (auto& cr : revs) {
    max_rev = std::max(max_rev, revision_of(cr));
    if (meta_string(cr, "name") == want) current = &cr;
  }
  int64_t revision = 0;
  if (annotation(ws, annotations::kHash) == hash && annotated > 0) {
    revision = annotated;  // only the finalizer is missing
  } else if (current) {
    revision = revision_of(*current);
    if (revision != max_rev) {  // a spec we had before comes back: it becomes the newest
      revision = max_rev + 1;
      json patch = {{"metadata", {{"resourceVersion", meta_string(*current, "resourceVersion")}}},
                    {"revision", revision}};
      auto p =
          env.client->patch(resources::kControllerRevisions, ns, want, patch_type::merge, patch);
      if (!p.ok()) return p.error();
      *current = std::move(*p);
    }
  } else {
    revision = max_rev + 1;
    auto c = env.client->create(resources::kControllerRevisions, ns,
                                build_controller_revision(ws, hash, revision));
    if (!c.ok()) return c.error();  // already_exists: a racing reconcile; retry sees it
    revs.push_back(std::move(*c));
  }
  // Keep the newest kMaxRevisionHistory.
  std::sort(revs.begin(), revs.end(),
            [](const json& a, const json& b) { return revision_of(a) < revision_of(b); });
  for (size_t i = 0; i + kMaxRevisionHistory < revs.size(); ++i) {
    if (meta_string(revs[i], "name") == want) continue;
    auto d = env.client->remove(resources::kControllerRevisions, ns, meta_string(revs[i], "name"));
    if (!d.ok() && d.error().code() != status_code::not_found) return d.error();
  }
  json patch = {
      {"metadata",
       {{"annotations",
         {{annotations::kHash, hash}, {annotations::kRevision, std::to_string(revision)}}}}}};
  if (finalizers) {
    patch["metadata"]["finalizers"] = *finalizers;
    patch["metadata"]["resourceVersion"] = meta_string(ws, "resourceVersion");
  }
  auto p = env.client->patch(resources::kWorkspaces, ns, name, patch_type::merge, patch);
  if (!p.ok()) return p.error();
  ws = std::move(*p);
  return revision;
}

}  // namespace kaito::k8s::controllers
