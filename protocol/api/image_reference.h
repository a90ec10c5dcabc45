// image_reference: container image references, as github.com/distribution/reference parses them.
//
// parse_docker_ref(s) follows reference.ParseDockerRef (what Kaito's webhook calls): normalise
// ("ubuntu" -> "docker.io/library/ubuntu:latest"), then match the grammar
//   reference := name [ ":" tag ] [ "@" digest ]
//   name      := [domain "/"] path-component ["/" path-component]*
//   domain    := host [":" port];  host := domain-component ["." domain-component]* | "[" ipv6 "]"
//   path-component := [a-z0-9]+ (separator [a-z0-9]+)*;  separator := [_.] | "__" | "-"+
//   tag       := [\w][\w.-]{0,127};  digest := algorithm ":" hex{32,}
// The error text is the Go library's: "invalid reference format", "invalid reference format:
// repository name (library/Foo) must be lowercase", "repository name must not be more than 255
// characters", "invalid checksum digest length", "unsupported digest algorithm", ...
// A hand-written matcher (no std::regex), linear in the input.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace kaito::api {

struct image_reference {
  std::string domain;  // "docker.io", "myacr.azurecr.io:5000"
  std::string path;    // "library/ubuntu"
  std::string tag;     // "latest" when neither tag nor digest was given
  std::string digest;  // "sha256:..."
  std::string to_string() const;
};

// invalid_argument with the Go library's message on failure.
result<image_reference> parse_docker_ref(std::string_view s);

}  // namespace kaito::api
