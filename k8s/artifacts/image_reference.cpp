// Docker's reference grammar (distribution/reference: reference.go, normalize.go); see
// image_reference.h.
#include "k8s/artifacts/image_reference.h"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace kaito::k8s::artifacts {
namespace {

constexpr size_t name_max = 255;  // distribution/reference NameTotalLengthMax

bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool is_alnum(char c) {
  return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}
bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// path-component := [a-z0-9]+ (separator [a-z0-9]+)*, separator := [_.] | "__" | [-]+
bool valid_path_component(std::string_view s) {
  size_t i = 0;
  while (true) {
    size_t start = i;
    while (i < s.size() && is_lower_alnum(s[i])) ++i;
    if (i == start) return false;  // empty alpha-numeric run
    if (i == s.size()) return true;
    if (s[i] == '.') {
      ++i;
    } else if (s[i] == '_') {
      ++i;
      if (i < s.size() && s[i] == '_') ++i;
    } else if (s[i] == '-') {
      while (i < s.size() && s[i] == '-') ++i;
    } else {
      return false;
    }
  }
}

// domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
bool valid_domain_component(std::string_view s) {
  if (s.empty() || !is_alnum(s.front()) || !is_alnum(s.back())) return false;
  for (char c : s)
    if (!is_alnum(c) && c != '-') return false;
  return true;
}

// host [":" port], host := domain-component ("." domain-component)* | "[" ipv6 "]"
bool valid_registry(std::string_view r) {
  std::string_view host = r, port;
  if (!r.empty() && r.front() == '[') {
    size_t close = r.find(']');
    if (close == std::string_view::npos || close < 3) return false;
    for (char c : r.substr(1, close - 1))
      if (!is_hex(c) && !(c >= 'A' && c <= 'F') && c != ':') return false;
    host = {};
    if (close + 1 < r.size()) {
      if (r[close + 1] != ':') return false;
      port = r.substr(close + 2);
      if (port.empty()) return false;
    }
  } else {
    size_t colon = r.find(':');
    if (colon != std::string_view::npos) {
      host = r.substr(0, colon);
      port = r.substr(colon + 1);
      if (port.empty()) return false;
    }
    size_t start = 0;
    while (true) {
      size_t dot = host.find('.', start);
      if (!valid_domain_component(host.substr(start, dot - start))) return false;
      if (dot == std::string_view::npos) break;
      start = dot + 1;
    }
  }
  for (char c : port)
    if (!is_digit(c)) return false;
  return true;
}

bool valid_tag(std::string_view t) {
  if (t.empty() || t.size() > 128) return false;
  for (size_t i = 0; i < t.size(); ++i) {
    char c = t[i];
    bool word = is_alnum(c) || c == '_';
    if (!word && (i == 0 || (c != '.' && c != '-'))) return false;
  }
  return true;
}

bool valid_digest(std::string_view d) {
  constexpr std::string_view prefix = "sha256:";
  if (d.substr(0, prefix.size()) != prefix || d.size() != prefix.size() + 64) return false;
  for (char c : d.substr(prefix.size()))
    if (!is_hex(c)) return false;
  return true;
}

bool is_hex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!is_hex(c)) return false;
  return true;
}

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
  auto bad = [&](const std::string& what) {
    return invalid_argument("invalid reference " + quoted(ref) + ": " + what, where);
  };
  if (ref.empty()) return invalid_argument("image reference is empty", where);

  image_reference out;
  std::string_view name = ref;
  size_t at = name.find('@');
  if (at != std::string_view::npos) {
    out.digest = std::string(name.substr(at + 1));
    name = name.substr(0, at);
    if (!valid_digest(out.digest))
      return bad("bad digest " + quoted(out.digest) + " (want sha256:<64 lower-case hex>)");
  }
  size_t last_slash = name.rfind('/');
  size_t colon = name.rfind(':');
  if (colon != std::string_view::npos &&
      (last_slash == std::string_view::npos || colon > last_slash)) {
    out.tag = std::string(name.substr(colon + 1));
    name = name.substr(0, colon);
    if (!valid_tag(out.tag))
      return bad("bad tag " + quoted(out.tag) +
                 " (want [A-Za-z0-9_][A-Za-z0-9_.-]*, at most 128 characters)");
  }
  if (name.empty()) return bad("empty repository name");
  if (name.size() > name_max)
    return bad("name too long (" + std::to_string(name.size()) + " > 255 characters)");

  std::string_view remainder = name;
  size_t slash = name.find('/');
  if (slash != std::string_view::npos) {
    std::string_view first = name.substr(0, slash);
    if (first.find_first_of(".:[") != std::string_view::npos || first == "localhost") {
      if (!valid_registry(first)) return bad("bad registry " + quoted(first));
      out.registry = std::string(first);
      remainder = name.substr(slash + 1);
    }
  }
  if (out.registry.empty() || out.registry == "index.docker.io") out.registry = "docker.io";

  if (remainder.empty()) return bad("empty repository name");
  size_t start = 0;
  while (true) {
    size_t next = remainder.find('/', start);
    std::string_view component = remainder.substr(start, next - start);
    if (!valid_path_component(component)) {
      for (char c : component)
        if (c >= 'A' && c <= 'Z') return bad("repository name must be lower-case");
      return bad("bad repository path component " + quoted(component));
    }
    if (next == std::string_view::npos) break;
    start = next + 1;
  }
  if (is_hex64(remainder))
    return bad("a repository name cannot be a 64-character hexadecimal string");
  out.repository = std::string(remainder);
  if (out.registry == "docker.io" && out.repository.find('/') == std::string::npos)
    out.repository = "library/" + out.repository;
  if (out.registry.size() + 1 + out.repository.size() > name_max)
    return bad("name too long (more than 255 characters)");
  if (out.tag.empty() && out.digest.empty()) out.tag = "latest";
  return out;
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
    if (is_digit(c)) {
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
