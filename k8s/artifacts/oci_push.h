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
// Auth, scheme, retries of transient failures and cancellation are registry_session's, with the
// token scope repository:<repo>:pull,push.
//
// Errors name the step, the URL and the HTTP status with the registry's error message:
//   "push manifest: PUT http://127.0.0.1:5000/v2/x/manifests/v1: 401 UNAUTHORIZED: authentication
//    required" (unauthenticated); 403 permission_denied; 404 not_found; others as curl_session.h.
// Cancellation: *cancel is checked between requests and inside each transfer; a cancelled push
// returns unavailable "cancelled".
// Thread-safety: push_image may run on any thread; options are read only.
#pragma once

#include <string>

#include "base/status.h"
#include "k8s/artifacts/adapter_image.h"
#include "k8s/artifacts/docker_config.h"
#include "k8s/artifacts/image_reference.h"
#include "k8s/artifacts/registry_session.h"

namespace kaito::k8s::artifacts {

// Registry, credentials, TLS, retries, timeouts and cancellation (registry_session.h).
using push_options = registry_options;

// The pushed manifest's digest (img.manifest_digest).
result<std::string> push_image(const image_reference& ref, const adapter_image& img,
                               const push_options& o);

}  // namespace kaito::k8s::artifacts
