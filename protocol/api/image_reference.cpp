#include "protocol/api/image_reference.h"

#include <algorithm>
#include <cctype>
#include <vector>

namespace kaito::api {

namespace {

bool lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool any_alnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}
bool word(char c) {
  return any_alnum(c) || c == '_';
}
bool hex(char c) {
  return std::isxdigit(static_cast<unsigned char>(c)) != 0;
}

bool path_component_ok(std::string_view s) {
  size_t i = 0;
  auto run = [&]() {
    size_t st = i;
    while (i < s.size() && lower_alnum(s[i])) ++i;
    return i > st;
  };
  if (!run()) return false;
  while (i < s.size()) {
    if (s[i] == '_' && i + 1 < s.size() && s[i + 1] == '_') {
      i += 2;
    } else if (s[i] == '.' || s[i] == '_') {
      ++i;
    } else if (s[i] == '-') {
      while (i < s.size() && s[i] == '-') ++i;
    } else {
      return false;
    }
    if (!run()) return false;
  }
  return true;
}

bool domain_component_ok(std::string_view s) {
  if (s.empty() || !any_alnum(s.front()) || !any_alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return any_alnum(c) || c == '-'; });
}

bool domain_ok(std::string_view s) {
  std::string_view host = s;
  size_t colon;
  if (!s.empty() && s[0] == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos || close < 3) return false;
    std::string_view v6 = s.substr(1, close - 1);
    if (!std::all_of(v6.begin(), v6.end(), [](char c) { return hex(c) || c == ':' || c == '.'; }))
      return false;
    std::string_view rest = s.substr(close + 1);
    if (rest.empty()) return true;
    if (rest[0] != ':' || rest.size() < 2) return false;
    return std::all_of(rest.begin() + 1, rest.end(), [](char c) { return c >= '0' && c <= '9'; });
  }
  colon = s.find(':');
  if (colon != std::string_view::npos) {
    host = s.substr(0, colon);
    std::string_view port = s.substr(colon + 1);
    if (port.empty() ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return false;
  }
  size_t start = 0;
  while (true) {
    size_t dot = host.find('.', start);
    std::string_view part =
        host.substr(start, dot == std::string_view::npos ? host.size() - start : dot - start);
    if (!domain_component_ok(part)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t p = s.find(sep, start);
    out.push_back(s.substr(start, p == std::string_view::npos ? s.size() - start : p - start));
    if (p == std::string_view::npos) return out;
    start = p + 1;
  }
}

// Name grammar: all path components, or a domain followed by >= 1 path components.
bool name_ok(std::string_view name, std::string* domain, std::string* path) {
  auto parts = split(name, '/');
  // The regex tries the optional domain group first.
  if (parts.size() >= 2 && domain_ok(parts[0]) &&
      std::all_of(parts.begin() + 1, parts.end(), path_component_ok)) {
    *domain = std::string(parts[0]);
    *path = std::string(name.substr(parts[0].size() + 1));
    return true;
  }
  if (std::all_of(parts.begin(), parts.end(), path_component_ok)) {
    domain->clear();
    *path = std::string(name);
    return true;
  }
  return false;
}

bool tag_ok(std::string_view t) {
  if (t.empty() || t.size() > 128 || !word(t[0])) return false;
  return std::all_of(t.begin(), t.end(), [](char c) { return word(c) || c == '.' || c == '-'; });
}

// digest := algorithm ":" hex{32,}; algorithm := [A-Za-z][A-Za-z0-9]* ([-_+.][A-Za-z][A-Za-z0-9]*)*
bool digest_syntax_ok(std::string_view d) {
  size_t colon = d.find(':');
  if (colon == std::string_view::npos) return false;
  std::string_view alg = d.substr(0, colon), h = d.substr(colon + 1);
  if (h.size() < 32 || !std::all_of(h.begin(), h.end(), hex)) return false;
  size_t i = 0;
  while (true) {
    if (i >= alg.size() || !std::isalpha(static_cast<unsigned char>(alg[i]))) return false;
    while (i < alg.size() && any_alnum(alg[i])) ++i;
    if (i == alg.size()) return true;
    if (alg[i] != '-' && alg[i] != '_' && alg[i] != '+' && alg[i] != '.') return false;
    ++i;
  }
}

struct parsed {
  std::string domain, path, tag, digest;
};

// reference.Parse: the anchored ReferenceRegexp over s.
bool match_reference(std::string_view s, parsed* out) {
  std::string_view rest = s;
  size_t at = rest.find('@');
  if (at != std::string_view::npos) {
    out->digest = std::string(rest.substr(at + 1));
    if (!digest_syntax_ok(out->digest)) return false;
    rest = rest.substr(0, at);
  }
  size_t colon = rest.rfind(':');
  size_t slash = rest.rfind('/');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    out->tag = std::string(rest.substr(colon + 1));
    if (!tag_ok(out->tag)) return false;
    rest = rest.substr(0, colon);
  }
  return name_ok(rest, &out->domain, &out->path);
}

status parse_reference(std::string_view s, parsed* out) {
  if (!match_reference(s, out)) {
    if (s.empty()) return invalid_argument("repository name must have at least one component");
    std::string lower(s);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    parsed tmp;
    if (match_reference(lower, &tmp)) return invalid_argument("repository name must be lowercase");
    return invalid_argument("invalid reference format");
  }
  size_t name_len = (out->domain.empty() ? 0 : out->domain.size() + 1) + out->path.size();
  if (name_len > 255)
    return invalid_argument("repository name must not be more than 255 characters");
  if (!out->digest.empty()) {
    size_t colon = out->digest.find(':');
    std::string alg = out->digest.substr(0, colon);
    size_t hex_len = out->digest.size() - colon - 1;
    size_t want = alg == "sha256" ? 64 : alg == "sha384" ? 96 : alg == "sha512" ? 128 : 0;
    // go-digest's Digest.Validate: an unknown algorithm is "unsupported" only when it matches
    // DigestRegexp (lower-case); its encoded part must be lower-case hex ("A-F disallowed").
    auto has_upper = [](std::string_view v) {
      return std::any_of(v.begin(), v.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
    };
    if (want == 0)
      return invalid_argument(has_upper(alg) ? "invalid checksum digest format"
                                             : "unsupported digest algorithm");
    if (hex_len != want) return invalid_argument("invalid checksum digest length");
    if (has_upper(std::string_view(out->digest).substr(colon + 1)))
      return invalid_argument("invalid checksum digest format");
  }
  return status();
}

}  // namespace

std::string image_reference::to_string() const {
  std::string s = domain + "/" + path;
  if (!tag.empty()) s += ":" + tag;
  if (!digest.empty()) s += "@" + digest;
  return s;
}

result<image_reference> parse_docker_ref(std::string_view s) {
  // anchoredIdentifierRegexp: a bare 64-hex identifier.
  if (s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
      }))
    return invalid_argument("invalid repository name (" + std::string(s) +
                            "), cannot specify 64-byte hexadecimal strings");
  // splitDockerDomain
  std::string domain, remainder;
  size_t i = s.find('/');
  std::string_view first = i == std::string_view::npos ? std::string_view() : s.substr(0, i);
  auto has_upper = [](std::string_view v) {
    return std::any_of(v.begin(), v.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
  };
  if (i == std::string_view::npos || (first.find_first_of(".:") == std::string_view::npos &&
                                      first != "localhost" && !has_upper(first))) {
    domain = "docker.io";
    remainder = std::string(s);
  } else {
    domain = std::string(first);
    remainder = std::string(s.substr(i + 1));
  }
  if (domain == "index.docker.io") domain = "docker.io";
  if (domain == "docker.io" && remainder.find('/') == std::string::npos)
    remainder = "library/" + remainder;
  std::string remote = remainder.substr(0, remainder.find(':'));
  if (has_upper(remote))
    return invalid_argument("invalid reference format: repository name (" + remote +
                            ") must be lowercase");
  parsed p;
  KAITO_TRY(parse_reference(domain + "/" + remainder, &p));
  image_reference ref{p.domain, p.path, p.tag, p.digest};
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";  // TagNameOnly
  return ref;
}

}  // namespace kaito::api
