// oci_push: pushes an image to a registry over the OCI Distribution API with libcurl, what Kaito's
// `pusher` sidecar does with `oras push` + `oras cp`.
//
//   auto ref = parse_image_reference(ws.tuning.output.image, "tuning.output.image");
//   auto creds = credentials_for(secret_text, ref->registry, "/root/.docker/config.json");
//   auto digest = push_image(*ref, *build_adapter_image(dir, preset), {.credentials = *creds});
//
// Steps: for each blob (layer, then config) HEAD /v2/<repo>/blobs/<digest> (200: already there),
// else POST /v2/<repo>/blobs/uploads/ and PUT <Location>(?|&)digest=<digest> with the bytes
// (monolithic); then PUT /v2/<repo>/manifests/<tag or digest> with the manifest's media type.
// Auth: the first 401 is answered from its WWW-Authenticate challenge (registry_auth.h: Basic, or
// a Bearer token for scope repository:<repo>:pull,push), and the Authorization is kept for the
// rest of the push. Scheme: http for registry_is_loopback(registry) or plain_http, else https
// (TLS verified, optionally against ca_file). Transient failures (connection errors, timeouts,
// 408/429/5xx) rerun the step up to `attempts` times, retry_delay apart.
//
// Errors name the step, the URL and the HTTP status with the registry's error message:
//   "push manifest: PUT http://127.0.0.1:5000/v2/x/manifests/v1: 401 UNAUTHORIZED: authentication
//    required" (unauthenticated); 403 permission_denied; 404 not_found; others as curl_session.h.
// Cancellation: *cancel is checked between requests and inside each transfer; a cancelled push
// returns unavailable "cancelled".
// Thread-safety: push_image may run on any thread; options are read only.
#pragma once

#include <atomic>
#include <chrono>
#include <string>

#include "base/status.h"
#include "k8s/artifacts/adapter_image.h"
#include "k8s/artifacts/docker_config.h"
#include "k8s/artifacts/image_reference.h"

namespace kaito::k8s::artifacts {

struct push_options {
  registry_credentials credentials;
  bool plain_http = false;  // http even for a registry that is not loopback
  std::string ca_file;      // extra trust anchors (PEM) for https
  int attempts = 3;         // per step, for transient failures
  std::chrono::milliseconds retry_delay{2000};
  std::chrono::seconds timeout{300};  // per request
  const std::atomic<bool>* cancel = nullptr;
};

// The pushed manifest's digest (img.manifest_digest).
result<std::string> push_image(const image_reference& ref, const adapter_image& img,
                               const push_options& o);

}  // namespace kaito::k8s::artifacts
