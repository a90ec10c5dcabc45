// URL parsing; see route.h.
#include "k8s/apiserver/route.h"

#include <vector>

namespace kaito::k8s::apiserver {

namespace {

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool decode(std::string_view in, bool plus_is_space, std::string& out) {
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int a = hex(in[i + 1]), b = hex(in[i + 2]);
      if (a < 0 || b < 0) return false;
      out += static_cast<char>(a * 16 + b);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return true;
}

// The non-empty segments of `path`; `ends` (when given) receives where each one ends in `path`.
std::vector<std::string> segments(const std::string& path, std::vector<size_t>* ends = nullptr) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) {
      out.push_back(path.substr(i, j - i));
      if (ends) ends->push_back(j);
    }
    i = j + 1;
  }
  return out;
}

// segs after the group-version prefix: [namespaces NS] RESOURCE [NAME [SUB [proxy path...]]].
route resource_route(route r, const std::vector<std::string>& s, const std::vector<size_t>& ends,
                     const std::string& path, size_t i) {
  size_t n = s.size() - i;
  if (n == 0) {
    r.k = route::kind::resource_list;
    return r;
  }
  r.k = route::kind::object;
  if (s[i] == "namespaces" && n >= 3 &&
      !(r.group.empty() && n == 3 && (s[i + 2] == "status" || s[i + 2] == "finalize"))) {
    r.ns = s[i + 1];
    i += 2;
    n -= 2;
  }
  r.resource = s[i];
  if (n >= 2) r.name = s[i + 1];
  if (n >= 3) r.subresource = s[i + 2];
  if (n >= 3 && r.subresource == "proxy")
    r.proxy_path = path.substr(ends[i + 2]);
  else if (n >= 4)
    r.k = route::kind::unknown;
  return r;
}

}  // namespace

route parse_route(const std::string& path) {
  std::vector<size_t> ends;
  auto s = segments(path, &ends);
  route r;
  if (s.empty()) return r;
  if (s[0] == "version" && s.size() == 1)
    r.k = route::kind::version;
  else if ((s[0] == "healthz" || s[0] == "readyz" || s[0] == "livez") && s.size() == 1)
    r.k = route::kind::health;
  else if (s[0] == "openapi") {
    if (s.size() == 2 && s[1] == "v2")
      r.k = route::kind::openapi_v2;
    else if (s.size() == 2 && s[1] == "v3")
      r.k = route::kind::openapi_index;
    else if (s.size() == 4 && s[1] == "v3" && s[2] == "api") {
      r.k = route::kind::openapi_doc;
      r.version = s[3];
    } else if (s.size() == 5 && s[1] == "v3" && s[2] == "apis") {
      r.k = route::kind::openapi_doc;
      r.group = s[3];
      r.version = s[4];
    }
  } else if (s[0] == "api") {
    if (s.size() == 1)
      r.k = route::kind::core_discovery;
    else {
      r.version = s[1];
      return resource_route(r, s, ends, path, 2);
    }
  } else if (s[0] == "apis") {
    if (s.size() == 1)
      r.k = route::kind::groups_discovery;
    else if (s.size() == 2) {
      r.k = route::kind::group;
      r.group = s[1];
    } else {
      r.group = s[1];
      r.version = s[2];
      return resource_route(r, s, ends, path, 3);
    }
  }
  return r;
}

status parse_target(std::string_view target, std::string& path,
                    std::map<std::string, std::string>& query) {
  if (target.empty() || target[0] != '/')
    return invalid_argument("request target must start with '/'");
  size_t q = target.find('?');
  if (!decode(target.substr(0, q), false, path))
    return invalid_argument("malformed percent-escape in path");
  if (q == std::string_view::npos) return {};
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view part = rest.substr(0, amp);
    size_t eq = part.find('=');
    std::string k, v;
    if (!decode(part.substr(0, eq), true, k) ||
        !decode(eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1), true, v))
      return invalid_argument("malformed percent-escape in query");
    if (!k.empty()) query[k] = v;
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return {};
}

}  // namespace kaito::k8s::apiserver
