// parse_image_reference over api::parse_docker_ref; see image_reference.h.
#include "k8s/artifacts/image_reference.h"

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/api/image_reference.h"

namespace kaito::k8s::artifacts {
namespace {

std::string quoted(std::string_view s) {
  std::string q = "\"";
  q.append(s.substr(0, 300));
  if (s.size() > 300) q += "...";
  return q + "\"";
}

}  // namespace

std::string image_reference::str() const {
  std::string s = registry + "/" + repository;
  if (!tag.empty()) s += ":" + tag;
  if (!digest.empty()) s += "@" + digest;
  return s;
}

result<image_reference> parse_image_reference(std::string_view ref, std::string_view field) {
  const std::string where(field);
  auto parsed = api::parse_docker_ref(ref);
  if (!parsed.ok())
    return invalid_argument("image reference " + quoted(ref) + ": " + parsed.error().message(),
                            where);
  if (parsed->domain.empty())  // Go's Parse kept "a_b.c/d" whole as a path: no registry
    return invalid_argument("image reference " + quoted(ref) + ": no registry (\"" +
                                parsed->path.substr(0, parsed->path.find('/')) +
                                "\" is not a host name)",
                            where);
  return image_reference{std::move(parsed->domain), std::move(parsed->path), std::move(parsed->tag),
                         std::move(parsed->digest)};
}

bool registry_is_loopback(std::string_view registry) {
  std::string_view host = registry;
  if (!host.empty() && host.front() == '[') {
    size_t close = host.find(']');
    if (close == std::string_view::npos) return false;
    return host.substr(0, close + 1) == "[::1]";
  }
  host = host.substr(0, host.find(':'));
  if (host == "localhost") return true;
  // 127.0.0.0/8: four dotted decimal octets, the first 127.
  std::vector<int> octets;
  int value = -1;
  for (char c : host) {
    if (c >= '0' && c <= '9') {
      value = (value < 0 ? 0 : value * 10) + (c - '0');
      if (value > 255) return false;
    } else if (c == '.' && value >= 0) {
      octets.push_back(value);
      value = -1;
    } else {
      return false;
    }
  }
  if (value < 0) return false;
  octets.push_back(value);
  return octets.size() == 4 && octets[0] == 127;
}

}  // namespace kaito::k8s::artifacts
