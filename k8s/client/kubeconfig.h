// Where a client connects and how it authenticates: a kubeconfig file (the current context's
// cluster and user) or the in-cluster service account.
//
//   auto cfg = load_kubeconfig(path);                 // or in_cluster_config()
//   auto c = client::connect(*cfg);
//
// Supported: cluster.server, certificate-authority-data, certificate-authority (a file, relative
// to the kubeconfig's directory), insecure-skip-tls-verify; user.token, user.tokenFile. Errors
// name the field (`clusters[0].cluster.server`, `current-context`). Client certificates and exec
// plugins are refused as unimplemented, naming the field.
//
// Thread-safety: pure functions of their inputs.
#pragma once

#include <string>

#include "base/status.h"

namespace kaito::k8s {

struct rest_config {
  std::string server;  // https://host:port or http://host:port
  std::string ca_pem;  // trust anchor for the server certificate (https)
  bool insecure_skip_tls_verify = false;
  std::string token;                       // bearer token; empty: none
  std::string token_file;                  // re-read on each connect when set
  std::string namespace_name = "default";  // the context's namespace (or the pod's)
};

// Parses kubeconfig YAML; relative file paths resolve against base_dir. context: "" uses
// current-context.
result<rest_config> parse_kubeconfig(const std::string& text, const std::string& base_dir = ".",
                                     const std::string& context = "");
result<rest_config> load_kubeconfig(const std::string& path, const std::string& context = "");

// In-cluster configuration: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT with
// $root/var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt,namespace}. host/port empty:
// read from the environment.
struct in_cluster_source {
  std::string root = "/";
  std::string host;
  std::string port;
};
result<rest_config> in_cluster_config(const in_cluster_source& src = {});

// $KUBECONFIG (first entry), else $HOME/.kube/config if it exists, else in-cluster.
result<rest_config> default_config();

}  // namespace kaito::k8s
