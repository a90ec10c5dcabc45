// The state directory and the kubeconfig `kaito up` writes there, so that
// `KUBECONFIG=$KAITO_HOME/kubeconfig kubectl ...` talks to the embedded server with its bearer
// token.
#pragma once

#include <string>

#include "base/status.h"

namespace kaito::k8s::apiserver {

// $KAITO_HOME, else $HOME/.kaito, else ./.kaito.
std::string default_home();

// ca_pem non-empty: embedded as certificate-authority-data (for https:// servers).
std::string render_kubeconfig(const std::string& server_url, const std::string& token,
                              const std::string& ca_pem = "");
// Writes the file with mode 0600.
status write_private_file(const std::string& path, const std::string& content);
// The token in $home/token, created (32 random hex bytes, mode 0600) when missing.
result<std::string> load_or_create_token(const std::string& home);

}  // namespace kaito::k8s::apiserver
