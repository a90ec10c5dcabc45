// image_reference: an OCI image name as Docker reads it (distribution/reference), the form a
// Workspace's `tuning.output.image` and `inference.adapters[].source.image` take.
//
//   auto r = parse_image_reference("127.0.0.1:5000/kaito/adapter:v1", "tuning.output.image");
//   r->registry == "127.0.0.1:5000", r->repository == "kaito/adapter", r->tag == "v1"
//
// A thin adapter over kaito::api::parse_docker_ref (protocol/api/image_reference.h), the parser
// admission uses, so a reference the webhook accepts is the one a push goes to. Grammar and
// normalisation are ParseDockerRef's: a first component with '.' or ':', equal to "localhost" or
// with an upper-case letter is the registry, else docker.io ("index.docker.io" reads as
// docker.io), and a one-part docker.io name gets "library/"; digests are sha256/sha384/sha512 in
// lower-case hex. Unlike ParseDockerRef, a reference with both a tag and a digest keeps both.
// One stricter rule: a name Go reads with no registry at all (a first component such as "a_b.c"
// that is neither a host nor kept as docker.io) is refused, as there is nowhere to push it.
//
// Errors are invalid_argument whose where() is `field` and whose message is the Go library's
// ("invalid reference format", "... must be lowercase", "invalid checksum digest length", ...)
// after the quoted reference.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace kaito::k8s::artifacts {

struct image_reference {
  std::string registry;    // "127.0.0.1:5000", "myacr.azurecr.io"; "docker.io" when none given
  std::string repository;  // "kaito/adapter" ("library/x" for a one-part docker.io name)
  std::string tag;         // "latest" when neither tag nor digest given
  std::string digest;      // "sha256:<64 hex>" or ""
  // Canonical "registry/repository:tag", "registry/repository@digest", or both
  // ("registry/repository:tag@digest").
  std::string str() const;
};

result<image_reference> parse_image_reference(std::string_view ref, std::string_view field);

// Registries spoken to over plain HTTP: localhost, 127.0.0.0/8 and [::1], with or without a
// port (as Docker treats them).
bool registry_is_loopback(std::string_view registry);

}  // namespace kaito::k8s::artifacts
