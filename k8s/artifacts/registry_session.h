// registry_session: requests to one repository of one registry over the OCI Distribution API,
// shared by oci_push and oci_pull (private to k8s/artifacts).
//
//   registry_session s(ref, opts, "pull");
//   http_request rq = s.request("GET", s.repo_url() + "/manifests/v1");
//   KAITO_ASSIGN_OR_RETURN(http_response rs, s.send(rq));
//
// Where: http for registry_is_loopback(registry) or plain_http, else https (TLS verified,
// optionally against ca_file). docker.io is spoken to at registry-1.docker.io, as Docker does.
// Auth: the first 401 is answered from its WWW-Authenticate challenge (registry_auth.h: Basic, or
// a Bearer token for scope repository:<repo>:<actions>), and the Authorization is kept for later
// requests; a second 401 is the answer. A 401 that cannot be answered is reported with why
// ("... 401 UNAUTHORIZED: authentication required (no credentials for 127.0.0.1:5000)").
// Retries: with_retries reruns a step while it fails transiently (unavailable, deadline_exceeded:
// connection errors, timeouts, 408/429/5xx) up to `attempts` times, retry_delay apart, and puts
// the step's name in front of the error. Cancellation: *cancel is checked between requests and
// inside each transfer; a cancelled step is unavailable "<step>: cancelled".
// Thread-safety: one session per thread (it caches the Authorization); options are read only.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>

#include "base/status.h"
#include "k8s/artifacts/curl_session.h"
#include "k8s/artifacts/docker_config.h"
#include "k8s/artifacts/image_reference.h"

namespace kaito::k8s::artifacts {

struct registry_options {
  registry_credentials credentials;
  bool plain_http = false;  // http even for a registry that is not loopback
  std::string ca_file;      // extra trust anchors (PEM) for https
  int attempts = 3;         // per step, for transient failures
  std::chrono::milliseconds retry_delay{2000};
  std::chrono::seconds timeout{300};  // per request
  const std::atomic<bool>* cancel = nullptr;
};

class registry_session {
 public:
  // actions: the token scope's actions, "pull" or "pull,push". ref and o must outlive the session.
  registry_session(const image_reference& ref, const registry_options& o, std::string actions);

  const std::string& base_url() const { return base_; }      // "https://host[:port]"
  const std::string& repo_url() const { return repo_url_; }  // base_url() + "/v2/<repository>"

  // A request with the session's TLS, timeout and cancellation settings.
  http_request request(std::string method, std::string url) const;
  // One request, answering a 401 once (see above).
  result<http_response> send(http_request rq);
  // Runs fn, again while it fails transiently; errors get `step` as context.
  status with_retries(const std::string& step, const std::function<status()>& fn);

 private:
  const image_reference& ref_;
  const registry_options& o_;
  std::string actions_, base_, repo_url_;
  std::string authorization_;  // "Basic ..." / "Bearer ..." once a challenge was answered
};

}  // namespace kaito::k8s::artifacts
