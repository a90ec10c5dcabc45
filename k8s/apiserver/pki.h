// TLS material for `kaito up`: a self-signed CA and a server certificate it signs (ECDSA P-256,
// 10 years, SANs IP:127.0.0.1, IP:::1, DNS:localhost), kept in $KAITO_HOME/pki and reused across
// restarts. kubectl only sends bearer tokens over TLS (clientcmd drops user credentials for plain
// http), so the kubeconfig names https:// and carries the CA.
#pragma once

#include <string>

#include "base/status.h"

namespace kaito::k8s::apiserver {

struct tls_files {
  std::string ca_cert_pem;
  std::string server_cert_pem;  // leaf then CA
  std::string server_key_pem;
};

// Loads $dir/{ca.crt,server.crt,server.key}, creating them (mode 0600 for keys) when missing.
result<tls_files> load_or_create_pki(const std::string& dir);

}  // namespace kaito::k8s::apiserver
