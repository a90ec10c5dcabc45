// URL parsing; see route.h.
#include "k8s/apiserver/route.h"

#include <vector>

#include "base/url_query.h"

namespace kaito::k8s::apiserver {

namespace {

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
  if (!percent_decode(target.substr(0, q), false, path))
    return invalid_argument("malformed percent-escape in path");
  if (q == std::string_view::npos) return {};
  return parse_query(target.substr(q + 1), query);
}

}  // namespace kaito::k8s::apiserver
