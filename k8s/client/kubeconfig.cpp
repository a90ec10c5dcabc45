// kubeconfig and in-cluster configuration; see kubeconfig.h.
#include "k8s/client/kubeconfig.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "k8s/client/base64.h"

namespace kaito::k8s {
namespace {

namespace fs = std::filesystem;

result<std::string> read_file(const std::string& path, const std::string& field) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("cannot read " + path, field);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string resolve(const std::string& base_dir, const std::string& p) {
  if (p.empty() || p[0] == '/') return p;
  return (fs::path(base_dir) / p).string();
}

// Finds the entry named `name` in a list of {name, <kind>: {...}}; returns its index or -1.
int find_named(const YAML::Node& list, const std::string& name) {
  if (!list || !list.IsSequence()) return -1;
  for (size_t i = 0; i < list.size(); ++i) {
    const YAML::Node& e = list[i];
    if (e.IsMap() && e["name"] && e["name"].IsScalar() && e["name"].as<std::string>() == name)
      return static_cast<int>(i);
  }
  return -1;
}

std::string scalar(const YAML::Node& m, const char* key) {
  if (!m || !m.IsMap()) return "";
  YAML::Node v = m[key];
  return v && v.IsScalar() ? v.as<std::string>() : "";
}

result<rest_config> parse_doc(const YAML::Node& doc, const std::string& base_dir,
                              const std::string& context) {
  if (!doc.IsMap()) return invalid_argument("a kubeconfig must be a mapping", "");
  std::string ctx_name = context.empty() ? scalar(doc, "current-context") : context;
  if (ctx_name.empty()) return invalid_argument("no current context is set", "current-context");
  int ci = find_named(doc["contexts"], ctx_name);
  if (ci < 0) return not_found("context \"" + ctx_name + "\" not found", "contexts");
  std::string cpath = "contexts[" + std::to_string(ci) + "].context";
  YAML::Node ctx = doc["contexts"][ci]["context"];
  if (!ctx || !ctx.IsMap()) return invalid_argument("missing", cpath);
  rest_config cfg;
  if (std::string ns = scalar(ctx, "namespace"); !ns.empty()) cfg.namespace_name = ns;

  std::string cluster_name = scalar(ctx, "cluster");
  if (cluster_name.empty()) return invalid_argument("missing", cpath + ".cluster");
  int k = find_named(doc["clusters"], cluster_name);
  if (k < 0) return not_found("cluster \"" + cluster_name + "\" not found", cpath + ".cluster");
  std::string kpath = "clusters[" + std::to_string(k) + "].cluster";
  YAML::Node cl = doc["clusters"][k]["cluster"];
  if (!cl || !cl.IsMap()) return invalid_argument("missing", kpath);
  cfg.server = scalar(cl, "server");
  if (cfg.server.rfind("https://", 0) != 0 && cfg.server.rfind("http://", 0) != 0)
    return invalid_argument("must be an http:// or https:// URL", kpath + ".server");
  std::string skip = scalar(cl, "insecure-skip-tls-verify");
  cfg.insecure_skip_tls_verify = skip == "true";
  if (std::string data = scalar(cl, "certificate-authority-data"); !data.empty()) {
    KAITO_ASSIGN_OR_RETURN(cfg.ca_pem, base64_decode(data, kpath + ".certificate-authority-data"));
  } else if (std::string file = scalar(cl, "certificate-authority"); !file.empty()) {
    KAITO_ASSIGN_OR_RETURN(cfg.ca_pem,
                           read_file(resolve(base_dir, file), kpath + ".certificate-authority"));
  }
  if (cfg.server.rfind("https://", 0) == 0 && cfg.ca_pem.empty() && !cfg.insecure_skip_tls_verify)
    return invalid_argument(
        "an https server needs certificate-authority(-data) or "
        "insecure-skip-tls-verify",
        kpath);

  std::string user_name = scalar(ctx, "user");
  if (user_name.empty()) return cfg;  // anonymous
  int u = find_named(doc["users"], user_name);
  if (u < 0) return not_found("user \"" + user_name + "\" not found", cpath + ".user");
  std::string upath = "users[" + std::to_string(u) + "].user";
  YAML::Node user = doc["users"][u]["user"];
  if (!user || !user.IsMap()) return cfg;
  for (const char* unsupported :
       {"client-certificate", "client-certificate-data", "exec", "auth-provider", "username"})
    if (user[unsupported])
      return status(status_code::unimplemented, "not supported by this client",
                    upath + "." + unsupported);
  cfg.token = scalar(user, "token");
  if (cfg.token.empty()) {
    if (std::string tf = scalar(user, "tokenFile"); !tf.empty()) {
      cfg.token_file = resolve(base_dir, tf);
      KAITO_ASSIGN_OR_RETURN(cfg.token, read_file(cfg.token_file, upath + ".tokenFile"));
      while (!cfg.token.empty() && (cfg.token.back() == '\n' || cfg.token.back() == '\r'))
        cfg.token.pop_back();
    }
  }
  return cfg;
}

}  // namespace

result<rest_config> parse_kubeconfig(const std::string& text, const std::string& base_dir,
                                     const std::string& context) {
  try {
    return parse_doc(YAML::Load(text), base_dir, context);
  } catch (const std::exception& e) {
    return invalid_argument(std::string("malformed kubeconfig: ") + e.what(), "");
  }
}

result<rest_config> load_kubeconfig(const std::string& path, const std::string& context) {
  KAITO_ASSIGN_OR_RETURN(std::string text, read_file(path, ""));
  auto r = parse_kubeconfig(text, fs::path(path).parent_path().string(), context);
  if (!r.ok()) return r.error().with_context(path);
  return r;
}

result<rest_config> in_cluster_config(const in_cluster_source& src) {
  std::string host = src.host, port = src.port;
  if (host.empty())
    if (const char* h = std::getenv("KUBERNETES_SERVICE_HOST")) host = h;
  if (port.empty())
    if (const char* p = std::getenv("KUBERNETES_SERVICE_PORT")) port = p;
  if (host.empty() || port.empty())
    return not_found("not running in a cluster", "KUBERNETES_SERVICE_HOST");
  std::string dir = (fs::path(src.root) / "var/run/secrets/kubernetes.io/serviceaccount").string();
  rest_config cfg;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";  // IPv6
  cfg.server = "https://" + host + ":" + port;
  cfg.token_file = dir + "/token";
  KAITO_ASSIGN_OR_RETURN(cfg.token, read_file(cfg.token_file, "token"));
  while (!cfg.token.empty() && (cfg.token.back() == '\n' || cfg.token.back() == '\r'))
    cfg.token.pop_back();
  KAITO_ASSIGN_OR_RETURN(cfg.ca_pem, read_file(dir + "/ca.crt", "ca.crt"));
  if (auto ns = read_file(dir + "/namespace", "namespace"); ns.ok() && !ns->empty()) {
    cfg.namespace_name = *ns;
    while (!cfg.namespace_name.empty() && cfg.namespace_name.back() == '\n')
      cfg.namespace_name.pop_back();
  }
  return cfg;
}

result<rest_config> default_config() {
  if (const char* kc = std::getenv("KUBECONFIG"); kc && *kc) {
    std::string first(kc);
    first = first.substr(0, first.find(':'));
    return load_kubeconfig(first);
  }
  if (const char* home = std::getenv("HOME")) {
    std::string p = std::string(home) + "/.kube/config";
    if (fs::exists(p)) return load_kubeconfig(p);
  }
  return in_cluster_config();
}

}  // namespace kaito::k8s
