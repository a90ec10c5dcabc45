// docker_config: registry credentials from a Docker config, the `.dockerconfigjson` of a
// `kubernetes.io/dockerconfigjson` Secret (the same text as ~/.docker/config.json), which Kaito
// mounts into its pusher and puller containers.
//
//   {"auths": {"<host>": {"auth": base64("user:pass")}
//                      | {"username": "u", "password": "p"}
//                      | {"identitytoken": "<refresh token>"}}}
//
// Keys may be a bare host ("myacr.azurecr.io", "127.0.0.1:5000") or a URL ("https://host",
// "http://host/v1/"): the scheme and any path are ignored when matching. docker.io matches
// "https://index.docker.io/v1/", "index.docker.io", "registry-1.docker.io" and "docker.io". A key
// equal to the registry as written wins over one that only matches after normalising. `auth`
// wins over username/password when both are present (as in docker/cli). Other keys
// (credsStore, credHelpers, proxies, ...) are ignored: credential helpers are not run.
//
// Errors: invalid_argument with where = `source` (a file name) and a message that starts with the
// JSON path: `auths["host"].auth: not base64`, `auths: not an object`, `: not JSON (byte 17)`.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace kaito::k8s::artifacts {

struct registry_credentials {
  std::string username, password, identity_token;
  bool empty() const { return username.empty() && password.empty() && identity_token.empty(); }
};

// The credentials for `registry` ("host" or "host:port", as in image_reference::registry) in the
// config text; empty credentials when none are listed for it.
result<registry_credentials> credentials_for(std::string_view config_json,
                                             std::string_view registry, std::string_view source);

}  // namespace kaito::k8s::artifacts
