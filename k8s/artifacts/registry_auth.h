// registry_auth: answering a registry's 401 (private to k8s/artifacts; used by oci_push).
//
// A registry that wants credentials answers 401 with a challenge (RFC 7235), one of
//   WWW-Authenticate: Basic realm="Registry Realm"
//   WWW-Authenticate: Bearer realm="https://auth.example.io/token",service="registry.example.io",
//                            scope="repository:kaito/adapter:pull,push"
// authorization_for() turns one into the Authorization header value for later requests:
// "Basic base64(user:pass)" for Basic (unauthenticated naming the registry when there are no
// credentials); for Bearer, the token from the realm (Docker's token protocol): GET
// realm?service=..&scope=.. with Basic credentials (or none, anonymously), or, for an identity
// token, POST grant_type=refresh_token (the OAuth2 form, as ACR wants); the answer's `token` or
// `access_token`. Token endpoint errors name the URL and status ("GET https://...: 401 ...").
//
// Thread-safety: pure functions (authorization_for makes a request).
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <string_view>

#include "base/status.h"
#include "k8s/artifacts/docker_config.h"

namespace kaito::k8s::artifacts {

struct auth_challenge {
  std::string scheme;                         // lower-case: "basic", "bearer"
  std::map<std::string, std::string> params;  // lower-case names: realm, service, scope, ...
};

// The first challenge of a WWW-Authenticate value; invalid_argument for a malformed one.
result<auth_challenge> parse_www_authenticate(std::string_view header);

struct token_request_options {
  std::string ca_file;
  std::chrono::milliseconds timeout{60000};
  const std::atomic<bool>* cancel = nullptr;
};

// "Basic ..." or "Bearer <token>" for `scope` ("repository:<repo>:pull,push").
result<std::string> authorization_for(const auth_challenge& challenge,
                                      const registry_credentials& credentials,
                                      std::string_view registry, std::string_view scope,
                                      const token_request_options& o);

}  // namespace kaito::k8s::artifacts
