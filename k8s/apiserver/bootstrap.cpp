// Manifest installation at start; see bootstrap.h.
#include "k8s/apiserver/bootstrap.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "k8s/apiserver/body.h"
#include "k8s/apiserver/server.h"

namespace kaito::k8s::apiserver {

namespace fs = std::filesystem;

namespace {

status apply_one(api_server& srv, const json& obj, const std::string& file,
                 const std::string& default_ns, std::vector<std::string>& done) {
  if (!obj.is_object() || !obj.contains("apiVersion") || !obj.contains("kind") ||
      !obj["apiVersion"].is_string() || !obj["kind"].is_string())
    return invalid_argument("manifest without apiVersion/kind", file);
  std::string av = obj["apiVersion"], kind = obj["kind"];
  std::string group = av.find('/') == std::string::npos ? "" : av.substr(0, av.find('/'));
  std::string version = av.substr(av.find('/') == std::string::npos ? 0 : av.find('/') + 1);
  auto def = srv.reg().find_kind(group, kind);
  if (!def) return not_found("no resource serves " + av + " " + kind, file);
  std::string name = obj.contains("metadata") && obj["metadata"].is_object()
                         ? obj["metadata"].value("name", "")
                         : "";
  if (name.empty()) return invalid_argument("manifest without metadata.name", file);
  std::string ns = def->namespaced ? obj["metadata"].value("namespace", default_ns) : "";
  std::string base = (group.empty() ? "/api/" + version : "/apis/" + group + "/" + version) +
                     (def->namespaced ? "/namespaces/" + ns : "") + "/" + def->resource;
  api_request get{"GET", base + "/" + name, {}, "application/json", "", ""};
  api_response live = srv.handle(get);
  api_request write;
  write.content_type = "application/json";
  json body = obj;
  if (live.code == 200) {
    json cur = json::parse(live.body, nullptr, false);
    if (cur.is_object() && cur.contains("metadata"))
      body["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"];
    write.method = "PUT";
    write.path = base + "/" + name;
  } else {
    write.method = "POST";
    write.path = base;
  }
  write.body = to_wire(body);
  api_response r = srv.handle(write);
  if (r.code >= 300)
    return invalid_argument("cannot apply " + kind + " " + name + ": " + r.body, file);
  done.push_back(def->resource + "/" + name);
  return {};
}

}  // namespace

result<std::vector<std::string>> install_manifests(api_server& srv, const std::string& dir) {
  std::vector<std::string> done;
  std::error_code ec;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    auto ext = e.path().extension().string();
    if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml")) files.push_back(e.path());
  }
  if (ec) return io_error("cannot read directory: " + ec.message(), dir);
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f);
    std::stringstream ss;
    ss << in.rdbuf();
    auto docs = parse_yaml_documents(ss.str());
    if (!docs.ok()) return docs.error().with_context(f.string());
    for (const auto& d : *docs) KAITO_TRY(apply_one(srv, d, f.string(), "default", done));
  }
  return done;
}

result<std::vector<std::string>> install_manifest_text(api_server& srv, const std::string& text,
                                                       const std::string& origin,
                                                       const std::string& default_ns) {
  std::vector<std::string> done;
  auto docs = parse_yaml_documents(text);
  if (!docs.ok()) return docs.error().with_context(origin);
  for (const auto& d : *docs) KAITO_TRY(apply_one(srv, d, origin, default_ns, done));
  return done;
}

status ensure_namespace(api_server& srv, const std::string& name) {
  api_request get{"GET", "/api/v1/namespaces/" + name, {}, "application/json", "", ""};
  if (srv.handle(get).code == 200) return {};
  json ns = {{"apiVersion", "v1"},
             {"kind", "Namespace"},
             {"metadata", {{"name", name}}},
             {"status", {{"phase", "Active"}}}};
  api_request post{"POST",     "/api/v1/namespaces", {}, "application/json", "application/json",
                   to_wire(ns)};
  api_response r = srv.handle(post);
  if (r.code >= 300) return invalid_argument("cannot create namespace " + name + ": " + r.body);
  return {};
}

std::string find_crds_dir(const std::string& exe_path) {
  std::error_code ec;
  fs::path dir = fs::weakly_canonical(exe_path, ec).parent_path();
  for (int i = 0; i < 6 && !dir.empty(); ++i) {
    for (const char* sub : {"deploy/crds", "share/kaito/deploy/crds"})
      if (fs::is_directory(dir / sub, ec)) return (dir / sub).string();
    if (dir == dir.parent_path()) break;
    dir = dir.parent_path();
  }
  return "";
}

}  // namespace kaito::k8s::apiserver
