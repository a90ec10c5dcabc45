// image_reference: an OCI image name as Docker reads it (distribution/reference), the form a
// Workspace's `tuning.output.image` and `inference.adapters[].source.image` take.
//
//   auto r = parse_image_reference("127.0.0.1:5000/kaito/adapter:v1", "tuning.output.image");
//   r->registry == "127.0.0.1:5000", r->repository == "kaito/adapter", r->tag == "v1"
//
// Grammar: [registry "/"] path-component ("/" path-component)* [":" tag] ["@" digest].
// A first component containing '.' or ':' or equal to "localhost" (or a bracketed IPv6 literal)
// is the registry; otherwise the registry is docker.io, and a one-part docker.io name gets
// "library/". "index.docker.io" is read as docker.io. Path components are [a-z0-9]+ joined by
// '.', '_', "__" or runs of '-'; a tag is [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}; a digest is
// "sha256:" + 64 lower-case hex digits (the one algorithm registries use). The name (registry +
// "/" + repository) is at most 255 characters.
//
// Errors are invalid_argument naming `field` and what is wrong (empty, upper-case repository,
// bad tag, bad digest, too long).
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
